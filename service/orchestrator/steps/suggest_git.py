"""Git for the suggest workflow: scratch checkouts of the indexed commit, and ``git apply --check`` of a diff.

A scratch checkout is a ``git clone --shared --no-checkout`` of the repository's git directory into a fresh
directory under the scratch parent, detached at the commit: git only reads the source repository (its objects
through the clone's alternates), so the user's work tree, index and refs are never written to. The checkout is
removed when the ``with`` block ends.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from service.errors import InvalidInput

GIT_TIMEOUT = 300
_HEADER = re.compile(r"^(?P<sign>---|\+\+\+) (?P<path>\S+)(?P<rest>.*)$")
_TOUCHED = re.compile(r"^\+\+\+ b/(?P<path>.+?)\s*$", re.MULTILINE)
_HUNK = re.compile(r"^@@ -(?P<old>\d+)(?:,\d+)? \+(?P<new>\d+)(?:,\d+)? @@(?P<rest>.*)$")
_REMOVED = re.compile(r"^--- a/(?P<path>.+?)\s*$", re.MULTILINE)


def _git(*args: str, cwd: Path | None = None, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    try:
        return subprocess.run(  # noqa: S603 - fixed git subcommands, no shell
            ["git", "-c", "core.hooksPath=/dev/null", *args],  # noqa: S607 - git from PATH by design
            cwd=cwd,
            input=stdin,
            capture_output=True,
            text=True,
            timeout=GIT_TIMEOUT,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise InvalidInput(f"git could not run: {exc}") from None


@contextmanager
def scratch_checkout(git_dir: Path, commit: str, parent: Path) -> Iterator[Path]:
    """A throw-away work tree of ``git_dir`` at ``commit`` under ``parent`` (see the module docstring).

    Raises :class:`InvalidInput` when the repository cannot be cloned or has no such commit.
    """
    parent.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix="suggest-", dir=parent))
    root = scratch / "tree"
    try:
        cloned = _git("clone", "--quiet", "--shared", "--no-checkout", str(git_dir), str(root))
        if cloned.returncode != 0:
            raise InvalidInput(f"could not make a scratch copy of {git_dir}: {cloned.stderr.strip()}")
        checked = _git("checkout", "--quiet", "--detach", commit, cwd=root)
        if checked.returncode != 0:
            raise InvalidInput(
                f"could not check out the indexed commit {commit[:12]}: {checked.stderr.strip()}",
                hint="re-index the repository: ticketsmith index PATH_OR_URL",
            )
        yield root
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


@dataclass(frozen=True, slots=True)
class ApplyCheck:
    """What ``git apply --check`` said about a diff: whether it applies, why not, and the files it touches."""

    applies: bool
    reason: str
    files: tuple[str, ...]

    def as_dict(self) -> dict[str, object]:
        return {"applies": self.applies, "reason": self.reason, "files": list(self.files)}


def touched_files(diff: str) -> tuple[str, ...]:
    """The paths a ``a/``/``b/``-prefixed unified diff changes (new names; deleted files by their old name)."""
    paths = [m.group("path") for m in _TOUCHED.finditer(diff)]
    paths += [m.group("path") for m in _REMOVED.finditer(diff)]
    return tuple(dict.fromkeys(p for p in paths if p != "/dev/null"))


def apply_check(root: Path, diff: str) -> ApplyCheck:
    """``git apply --check`` of ``diff`` in the work tree ``root`` (nothing is changed)."""
    files = touched_files(diff)
    if not diff.strip():
        return ApplyCheck(False, "the diff is empty", files)
    if not files:
        return ApplyCheck(False, "no file headers (--- a/PATH, +++ b/PATH) in the diff", files)
    text = diff if diff.endswith("\n") else diff + "\n"
    checked = _git("apply", "--check", "--verbose", "-", cwd=root, stdin=text)
    if checked.returncode == 0:
        return ApplyCheck(True, f"applies cleanly with git apply ({len(files)} file(s))", files)
    lines = [line.strip() for line in checked.stderr.splitlines() if line.strip().startswith(("error:", "fatal:"))]
    reason = "; ".join(lines[:3]) or checked.stderr.strip() or f"git apply exited {checked.returncode}"
    return ApplyCheck(False, f"git apply --check failed: {reason}", files)


def with_prefixes(diff: str) -> str:
    """``diff`` with ``a/`` and ``b/`` on its file headers (a ``---`` line followed by a ``+++`` line) where they
    are missing: ruff's ``--diff`` prints bare paths, and git apply strips one directory from each."""
    lines = diff.splitlines(keepends=True)
    for i in range(len(lines) - 1):
        if lines[i].startswith("--- ") and lines[i + 1].startswith("+++ "):
            lines[i], lines[i + 1] = _prefixed(lines[i], "a/"), _prefixed(lines[i + 1], "b/")
    return "".join(lines)


def _prefixed(line: str, prefix: str) -> str:
    match = _HEADER.match(line.rstrip("\n"))
    if match is None or match.group("path") == "/dev/null" or match.group("path").startswith(prefix):
        return line
    return f"{match.group('sign')} {prefix}{match.group('path')}{match.group('rest')}\n"


def _file_header(lines: list[str], i: int) -> bool:
    return lines[i].startswith("diff --git ") or (
        lines[i].startswith("--- ") and i + 1 < len(lines) and lines[i + 1].startswith("+++ ")
    )


def recount(diff: str) -> str:
    """``diff`` with each hunk header's line counts made to match its body (models often miscount them; the
    start lines are kept). A blank line inside a hunk is read as an empty context line, blank lines ending a
    hunk are dropped. Whether the result applies is still for ``git apply --check`` to say."""
    lines = diff.splitlines()
    out: list[str] = []
    i = 0
    while i < len(lines):
        match = _HUNK.match(lines[i])
        if match is None:
            out.append(lines[i])
            i += 1
            continue
        j = i + 1
        body: list[str] = []
        while j < len(lines) and _HUNK.match(lines[j]) is None and not _file_header(lines, j):
            body.append(lines[j])
            j += 1
        while body and not body[-1]:
            body.pop()
        body = [line or " " for line in body]
        old = sum(1 for line in body if line[:1] in " -")
        new = sum(1 for line in body if line[:1] in " +")
        out.append(f"@@ -{match.group('old')},{old} +{match.group('new')},{new} @@{match.group('rest')}")
        out.extend(body)
        i = j
    return "\n".join(out) + "\n" if out else ""


def normalised(diff: str) -> str:
    """A model's diff made ready for ``git apply``: ``a/``/``b/`` prefixes and hunk counts (see above)."""
    return recount(with_prefixes(diff))
