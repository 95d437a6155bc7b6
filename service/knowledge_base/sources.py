"""Where an indexed repository's files come from: a local git repository or a clone of a URL.

A local path is only ever read: blobs come straight out of git's object database at the commit (through one
long-lived ``git cat-file --batch`` that gitpython keeps), so the user's working tree, index and refs are never
touched, and uncommitted changes are not indexed. A URL is cloned bare into ``<data_dir>/repos/<name>`` on the
first index and fetched on every later one. Any branch, tag or commit can be indexed.
"""

from __future__ import annotations

import re
import subprocess
import threading
from collections.abc import Generator, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from types import TracebackType
from typing import IO
from urllib.parse import urlsplit, urlunsplit

import git
from git.exc import GitCommandError, InvalidGitRepositoryError, NoSuchPathError

from service.errors import InvalidInput, NotFound, UpstreamFailed

NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")
URL_PATTERN = re.compile(r"^(?:[a-z][a-z0-9+.-]*://|[\w.-]+@[\w.-]+:)", re.IGNORECASE)
REGULAR_FILE_MODES = frozenset({"100644", "100755"})
# A clone or fetch needing a password fails at once instead of waiting for someone to type it.
NO_PROMPT = {"GIT_TERMINAL_PROMPT": "0", "GIT_ASKPASS": "", "SSH_ASKPASS": ""}


def is_url(source: str) -> bool:
    """True for ``scheme://...`` and scp-like ``user@host:path`` sources (anything else is a local path)."""
    return bool(URL_PATTERN.match(source))


def without_credentials(url: str) -> str:
    """``url`` with any ``user:password@`` taken out, for records and messages (the clone keeps its own remote)."""
    parts = urlsplit(url)
    if not parts.scheme or "@" not in parts.netloc:
        return url
    host = parts.netloc.rsplit("@", 1)[1]
    return urlunsplit((parts.scheme, host, parts.path, parts.query, parts.fragment))


def default_name(source: str) -> str:
    """The repository name used when none is given: the last path or URL component, without ``.git``."""
    tail = source.rstrip("/\\")
    tail = re.split(r"[/:]", tail)[-1] if is_url(tail) else Path(tail).expanduser().resolve().name
    tail = tail.removesuffix(".git")
    name = re.sub(r"[^A-Za-z0-9._-]+", "-", tail).strip("-._")[:100]
    return name or "repository"


def check_name(name: str) -> str:
    """``name`` if it is a valid repository name, else :class:`InvalidInput`."""
    if not NAME_PATTERN.match(name):
        raise InvalidInput(
            f"invalid repository name {name!r}",
            hint="use 1 to 100 letters, digits, '.', '_' or '-', starting with a letter or digit (--name)",
        )
    return name


@dataclass(frozen=True, slots=True)
class TreeEntry:
    """A file in a commit's tree: its git blob, mode and size in bytes."""

    path: str
    blob_sha: str
    mode: str
    size: int

    @property
    def regular(self) -> bool:
        """A plain or executable file (not a symbolic link or a submodule)."""
        return self.mode in REGULAR_FILE_MODES


@dataclass(frozen=True, slots=True)
class Change:
    """One entry of ``git diff --name-status -M`` between two commits (``status`` A, M, D, R, C or T)."""

    status: str
    path: str
    old_path: str | None = None


class GitReader:
    """Reads one git repository (work tree or bare) without ever writing to it. Not thread-safe.

    Use as a context manager, or call :meth:`close`, to stop the ``git cat-file`` process.
    """

    def __init__(self, git_dir: Path) -> None:
        try:
            self._repo = git.Repo(git_dir)
        except (InvalidGitRepositoryError, NoSuchPathError) as exc:
            raise InvalidInput(
                f"{git_dir} is not a git repository",
                hint="give the root of a git checkout (the directory holding .git), or a clone URL",
            ) from exc
        self.git_dir = Path(self._repo.git_dir)

    def __enter__(self) -> GitReader:
        return self

    def __exit__(self, *exc: tuple[type[BaseException], BaseException, TracebackType] | None) -> None:
        self.close()

    def close(self) -> None:
        """Stop git helper processes. Safe to call twice."""
        self._repo.close()

    def resolve(self, ref: str | None) -> str:
        """The full sha of the commit ``ref`` (a branch, tag, sha or ``HEAD`` when None) names.

        Raises :class:`NotFound` with a hint when it names no commit here.
        """
        wanted = ref or "HEAD"
        if wanted.startswith("-"):
            raise InvalidInput(f"invalid ref {wanted!r}", hint="give a branch, tag or commit sha")
        try:
            return str(self._repo.git.rev_parse("--verify", "--quiet", "--end-of-options", f"{wanted}^{{commit}}"))
        except GitCommandError as exc:
            if ref is None:
                raise NotFound(
                    "the repository has no commits yet", hint="commit something first, or give --ref"
                ) from exc
            raise NotFound(
                f"unknown ref {ref!r}",
                hint="give a branch, tag or commit that exists in the repository (git branch -a; git tag)",
            ) from exc

    def has_commit(self, sha: str) -> bool:
        """True when the object database holds this commit."""
        try:
            self._repo.git.cat_file("-e", f"{sha}^{{commit}}")
        except GitCommandError:
            return False
        return True

    def tree(self, commit: str) -> dict[str, TreeEntry]:
        """Every entry of the commit's tree, by path (files, symbolic links and submodules)."""
        listing = self._repo.git.ls_tree("-r", "-l", "-z", "--full-tree", commit)
        entries: dict[str, TreeEntry] = {}
        for record in listing.split("\0"):
            if not record:
                continue
            meta, path = record.split("\t", 1)
            mode, _kind, sha, size = meta.split()
            entries[path] = TreeEntry(path=path, blob_sha=sha, mode=mode, size=int(size) if size.isdigit() else 0)
        return entries

    def changes(self, old: str, new: str) -> list[Change]:
        """What changed from commit ``old`` to ``new``, with renames detected (``-M``), by path."""
        raw = self._repo.git.diff("--name-status", "-M", "-z", old, new)
        fields = [f for f in raw.split("\0") if f]
        changes: list[Change] = []
        i = 0
        while i < len(fields):
            status = fields[i][0]
            if status in "RC":
                changes.append(Change(status=status, old_path=fields[i + 1], path=fields[i + 2]))
                i += 3
            else:
                changes.append(Change(status=status, path=fields[i + 1]))
                i += 2
        return changes

    def read_blob(self, sha: str) -> bytes:
        """The content of one blob."""
        _, _, _, data = self._repo.git.get_object_data(sha)
        return bytes(data)

    def read_blobs(self, shas: Sequence[str]) -> Generator[tuple[str, bytes], None, None]:
        """``(sha, content)`` of each blob, in order, streamed from one ``git cat-file --batch`` of its own.

        Every sha is written at once (by a feeder thread, so neither pipe fills up and blocks the other), so
        git never waits for the reader between blobs: one round trip per blob cost more than reading it.
        Output format: ``<sha> blob <size>\\n<content>\\n`` per object, or ``<sha> missing\\n``
        (https://git-scm.com/docs/git-cat-file#_batch_output). Raises :class:`NotFound` for a missing blob.
        """
        if not shas:
            return
        process = subprocess.Popen(  # noqa: S603 (fixed arguments; the shas go through stdin)
            [git.Git.GIT_PYTHON_GIT_EXECUTABLE or "git", "--git-dir", str(self.git_dir), "cat-file", "--batch"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
        )
        assert process.stdin is not None
        assert process.stdout is not None
        feeder = threading.Thread(target=_feed, args=(process.stdin, shas), daemon=True)
        feeder.start()
        try:
            for sha in shas:
                header = process.stdout.readline().split()
                if not header:
                    raise UpstreamFailed(f"git cat-file stopped before {sha[:12]}", hint="try again")
                if len(header) != 3:
                    raise NotFound(f"no blob {sha[:12]} in {self.git_dir}", hint="index the repository again")
                data = process.stdout.read(int(header[2]))
                if len(data) != int(header[2]) or process.stdout.read(1) != b"\n":
                    raise UpstreamFailed(f"git cat-file stopped while reading {sha[:12]}", hint="try again")
                yield sha, data
        finally:
            process.stdout.close()
            process.kill()
            process.wait()
            feeder.join()

    def read_path(self, commit: str, path: str) -> bytes:
        """The content of ``path`` at ``commit``. Raises :class:`NotFound` for no such file."""
        pure = PurePosixPath(path)
        if pure.is_absolute() or ".." in pure.parts:
            raise InvalidInput(f"invalid path {path!r}", hint="give a path relative to the repository root")
        try:
            sha = str(self._repo.git.rev_parse("--verify", "--quiet", f"{commit}:{pure.as_posix()}"))
        except GitCommandError as exc:
            raise NotFound(f"no file {path!r} at commit {commit[:12]}", hint="list the files first") from exc
        return self.read_blob(sha)


def _feed(stdin: IO[bytes], shas: Sequence[str]) -> None:
    try:
        for start in range(0, len(shas), 1024):
            stdin.write("".join(f"{sha}\n" for sha in shas[start : start + 1024]).encode("ascii"))
        stdin.close()
    except (BrokenPipeError, ValueError, OSError):  # the reader stopped early and closed or killed git
        return


@dataclass(frozen=True, slots=True)
class ResolvedSource:
    """A source made ready to read: ``git_dir`` is read, ``commit`` is the full sha ``ref`` names."""

    name: str
    source: str
    git_dir: Path
    ref: str | None
    commit: str
    cloned: bool


def _clone_or_fetch(url: str, destination: Path) -> None:
    try:
        if (destination / "HEAD").exists():
            repo = git.Repo(destination)
            repo.git.update_environment(**NO_PROMPT)
            try:
                current = str(repo.git.config("--get", "remote.origin.url"))
                if without_credentials(current) != without_credentials(url):
                    # The name now stands for another repository: follow it (the fetch then replaces the refs).
                    repo.git.remote("set-url", "origin", url)
                repo.git.fetch("--prune", "--tags", "origin", "+refs/heads/*:refs/heads/*")
            finally:
                repo.close()
            return
        destination.parent.mkdir(parents=True, exist_ok=True)
        git.Repo.clone_from(url, destination, bare=True, env=NO_PROMPT).close()
    except GitCommandError as exc:
        raise UpstreamFailed(
            f"could not clone or fetch {without_credentials(url)}: {git_failure_reason(exc.stderr or str(exc))}",
            hint="check the URL and that this machine can reach it with git (credentials, network, proxy)",
        ) from exc


def _fetch_ref(git_dir: Path, ref: str) -> None:
    """Try to fetch a ref (e.g. a commit sha no branch points at) from the clone's origin."""
    repo = git.Repo(git_dir)
    repo.git.update_environment(**NO_PROMPT)
    try:
        repo.git.fetch("origin", "--end-of-options", ref)
    except GitCommandError:
        return
    finally:
        repo.close()


def resolve_source(source: str, *, ref: str | None, name: str | None, data_dir: Path) -> ResolvedSource:
    """Make ``source`` (a local repository path or a clone URL) readable at ``ref`` and name it.

    Raises :class:`InvalidInput` (not a git repository, bad name), :class:`NotFound` (unknown ref) or
    :class:`UpstreamFailed` (the clone or fetch failed).
    """
    repo_name = check_name(name or default_name(source))
    if is_url(source):
        git_dir = (data_dir / "repos" / repo_name).resolve()
        _clone_or_fetch(source, git_dir)
        shown = without_credentials(source)
        cloned = True
    else:
        local = Path(source).expanduser().resolve()
        if not local.exists():
            raise InvalidInput(f"{source} does not exist", hint="give the path of a git repository or a clone URL")
        git_dir = local
        shown = str(local)
        cloned = False
    with GitReader(git_dir) as reader:
        try:
            commit = reader.resolve(ref)
        except NotFound:
            if not cloned or ref is None:
                raise
            _fetch_ref(git_dir, ref)
            commit = reader.resolve(ref)
        return ResolvedSource(
            name=repo_name, source=shown, git_dir=reader.git_dir, ref=ref, commit=commit, cloned=cloned
        )


def git_failure_reason(stderr: str) -> str:
    """The line of git's error output that says what went wrong.

    GitPython wraps stderr as ``stderr: '...'``, so its last line is often just the closing quote: prefer git's own
    ``fatal:`` (or ``error:``) line, else the last line with words in it.
    """
    text = stderr.strip()
    if text.startswith("stderr:"):
        text = text[len("stderr:") :].strip().strip("'")
    lines = [line.strip() for line in text.splitlines() if line.strip().strip("'")]
    for prefix in ("fatal:", "error:"):
        for line in lines:
            if line.startswith(prefix):
                return line
    return lines[-1] if lines else "git failed"
