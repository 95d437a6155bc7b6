"""Run the configured checkers on a repository and turn their output into fingerprinted findings.

The repository is only read: the file list comes from git (tracked files, so ``.gitignore``d paths are never
seen), analysers run with fixes and caches off, and anything they need to write goes to a scratch directory
outside the tree.
"""

from __future__ import annotations

import fnmatch
import re
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path

from service.domain.findings import Category, Finding
from service.errors import InvalidInput
from service.quality.checker import Checker, CheckerUnavailable, CheckTarget
from service.quality.config import QualityConfig, load_config
from service.quality.fingerprint import with_fingerprints
from service.quality.symbols import SymbolIndex

# Third-party code checked in beside the project's own: not the team's to fix.
VENDORED = ("node_modules/*", "*/node_modules/*", "vendor/*", "*/vendor/*", "third_party/*", "*/third_party/*")
SUPPRESSION = re.compile(r"ticketsmith:\s*ignore(?:\[(?P<rules>[^\]]*)\])?")
SNIPPET_MAX_LINES = 12
COMMENT_STARTS = ("#", "//", "/*", "*", "--", "<!--", ";")

Progress = Callable[[str], None]


@dataclass(frozen=True)
class SkippedChecker:
    name: str
    reason: str


@dataclass(frozen=True)
class CheckReport:
    """The outcome of one run: findings (worst first), checkers that could not run, and what was looked at."""

    root: Path
    commit: str | None
    files_checked: int
    findings: list[Finding]
    skipped: list[SkippedChecker]
    config_file: Path | None
    seconds: float
    suppressed: int = 0
    checkers_run: list[str] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)


def _git(root: Path, *args: str) -> str:
    try:
        completed = subprocess.run(  # noqa: S603 - fixed git subcommands
            ["git", *args],  # noqa: S607 - git from PATH by design
            cwd=root,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise InvalidInput(f"git could not run in {root}: {exc}") from None
    if completed.returncode != 0:
        raise InvalidInput(f"git {' '.join(args[:2])} failed in {root}: {completed.stderr.strip()}")
    return completed.stdout


def repository_files(root: Path, *, since: str | None = None) -> list[str]:
    """Tracked files of the repository at ``root`` (only those changed since ``since`` when given).

    Raises :class:`InvalidInput` when ``root`` is not a git work tree or ``since`` is not a known commit.
    """
    if not root.is_dir():
        raise InvalidInput(f"{root} is not a directory")
    try:
        inside = _git(root, "rev-parse", "--is-inside-work-tree").strip() == "true"
    except InvalidInput:
        inside = False
    if not inside:
        raise InvalidInput(f"{root} is not a git work tree", hint="run `git init` and commit, or pass a repository")
    files = [f for f in _git(root, "ls-files", "-z", "--cached").split("\0") if f]
    if since is not None:
        try:
            _git(root, "rev-parse", "--verify", "--quiet", f"{since}^{{commit}}")
        except InvalidInput:
            raise InvalidInput(
                f"unknown commit {since!r}", hint="pass a commit, branch or tag of this repository"
            ) from None
        changed = set(_git(root, "diff", "--name-only", "-z", "--diff-filter=ACMRT", since).split("\0"))
        files = [f for f in files if f in changed]
    return [f for f in files if (root / f).is_file()]


def _ignored(path: str, patterns: Sequence[str]) -> bool:
    return any(fnmatch.fnmatch(path, pattern) for pattern in patterns)


def _suppressed(finding: Finding, lines: list[str]) -> bool:
    """True when the finding's line, or a comment line just above it, says ``ticketsmith: ignore`` (for its rule)."""
    for number in (finding.start_line, finding.start_line - 1):
        if not 0 < number <= len(lines):
            continue
        text = lines[number - 1]
        if number < finding.start_line and not text.lstrip().startswith(COMMENT_STARTS):
            continue
        match = SUPPRESSION.search(text)
        if match is None:
            continue
        rules = match.group("rules")
        if rules is None:
            return True
        wanted = {rule.strip() for rule in rules.split(",") if rule.strip()}
        if finding.rule_id in wanted or finding.rule_id.split(".", 1)[-1] in wanted:
            return True
    return False


def _enrich(findings: list[Finding], target: CheckTarget) -> tuple[list[Finding], int]:
    symbols = SymbolIndex()
    sources: dict[str, tuple[str, list[str]]] = {}
    kept: list[Finding] = []
    suppressed = 0
    for finding in findings:
        if finding.path and finding.path not in sources:
            text = target.source(finding.path) or ""
            sources[finding.path] = (text, text.splitlines())
        text, lines = sources.get(finding.path, ("", []))
        if finding.start_line > 0 and _suppressed(finding, lines):
            suppressed += 1
            continue
        updates: dict[str, object] = {}
        if finding.start_line > 0 and not finding.symbol:
            updates["symbol"] = symbols.symbol_at(finding.path, text, finding.start_line)
        # Secrets checkers always bring their own, redacted, snippet; never copy their line from the source.
        if not finding.snippet and finding.start_line > 0 and finding.category is not Category.SECRETS:
            end = min(finding.end_line, finding.start_line + SNIPPET_MAX_LINES - 1)
            updates["snippet"] = "\n".join(lines[finding.start_line - 1 : end])
        override = target.config.severity.get(finding.rule_id)
        if override is not None:
            updates["severity"] = override
        kept.append(replace(finding, **updates) if updates else finding)  # type: ignore[arg-type]
    return kept, suppressed


def label(checker: Checker) -> str:
    """How a checker is named in reports: its configuration name and its tool, e.g. ``security (bandit)``."""
    return f"{checker.name} ({checker.tool})"


def _timed(checker: Checker, target: CheckTarget) -> tuple[list[Finding] | SkippedChecker, float]:
    started = time.perf_counter()
    try:
        result: list[Finding] | SkippedChecker = checker.run(target)
    except CheckerUnavailable as exc:
        result = SkippedChecker(label(checker), str(exc))
    return result, round(time.perf_counter() - started, 3)


def run_checks(
    root: Path,
    checkers: Sequence[Checker],
    *,
    since: str | None = None,
    scratch_parent: Path | None = None,
    config: QualityConfig | None = None,
    progress: Progress | None = None,
) -> CheckReport:
    """Check the repository at ``root`` with the configured subset of ``checkers``.

    ``config`` overrides the repository's own configuration. Raises :class:`InvalidInput` for a path that is
    not a git work tree, an unknown ``since``, or a malformed configuration file.
    """
    started = time.perf_counter()
    root = root.resolve()
    config_file: Path | None = None
    if config is None:
        config, config_file = load_config(root)
    patterns = [*VENDORED, *config.ignore]
    files = tuple(f for f in repository_files(root, since=since) if not _ignored(f, patterns))
    commit = _head(root)
    scratch_parent = scratch_parent or Path(tempfile.gettempdir())
    scratch_parent.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix="check-", dir=scratch_parent))
    findings: list[Finding] = []
    skipped: list[SkippedChecker] = []
    ran: list[str] = []
    timings: dict[str, float] = {}
    try:
        target = CheckTarget(root=root, files=files, scratch=scratch, config=config)
        enabled = [checker for checker in checkers if checker.name in config.checkers]
        # Checkers run side by side: the analysers that are separate processes (ruff, bandit, detect-secrets)
        # then use the other cores while the in-process ones (lizard, markers, hygiene) run here.
        with ThreadPoolExecutor(max_workers=max(len(enabled), 1), thread_name_prefix="checker") as pool:
            outcomes = [(checker, pool.submit(_timed, checker, target)) for checker in enabled]
            for checker, future in outcomes:
                result, seconds = future.result()
                timings[label(checker)] = seconds
                if isinstance(result, SkippedChecker):
                    skipped.append(result)
                else:
                    findings.extend(result)
                    ran.append(label(checker))
                if progress is not None:
                    progress(label(checker))
        enrich_started = time.perf_counter()
        kept, suppressed = _enrich(findings, target)
        timings["symbols, snippets and suppressions"] = round(time.perf_counter() - enrich_started, 3)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    ordered = sorted(with_fingerprints(kept), key=lambda f: (f.severity.rank, f.path, f.start_line, f.rule_id))
    return CheckReport(
        root=root,
        commit=commit,
        files_checked=len(files),
        findings=ordered,
        skipped=skipped,
        config_file=config_file,
        seconds=round(time.perf_counter() - started, 3),
        suppressed=suppressed,
        checkers_run=ran,
        timings=timings,
    )


def _head(root: Path) -> str | None:
    """The checked-out commit, or None in a repository without commits."""
    try:
        return _git(root, "rev-parse", "--verify", "--quiet", "HEAD^{commit}").strip()
    except InvalidInput:
        return None
