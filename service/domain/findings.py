"""Findings: one problem an analyser found, in one place, with a fingerprint that outlives line shifts."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any


class Category(StrEnum):
    """What kind of problem a finding is."""

    LINT = "lint"
    SECURITY = "security"
    COMPLEXITY = "complexity"
    SECRETS = "secrets"
    MARKERS = "markers"
    HYGIENE = "hygiene"


class Severity(StrEnum):
    """How much a finding matters, worst first."""

    CRITICAL = "critical"
    HIGH = "high"
    MEDIUM = "medium"
    LOW = "low"
    INFO = "info"

    @property
    def rank(self) -> int:
        """0 for critical up to 4 for info; sort ascending to see the worst first."""
        return list(Severity).index(self)


@dataclass(frozen=True, slots=True)
class Finding:
    """One problem in one place.

    ``path`` is relative to the repository root, with ``/`` separators. ``start_line``/``end_line`` are 1-based
    and inclusive (0 for findings about a whole file or the repository). ``symbol`` is the enclosing
    class/function (``Class.method``), or ``""`` at module level. ``snippet`` is the code the finding points at;
    secrets checkers put a redacted version there, never the secret. ``fingerprint`` is stable across line
    shifts and unrelated edits (see ``service.quality.fingerprint``).
    """

    rule_id: str
    tool: str
    category: Category
    severity: Severity
    path: str
    start_line: int
    end_line: int
    symbol: str
    message: str
    snippet: str
    fingerprint: str
    help_url: str | None = None

    def as_dict(self) -> dict[str, Any]:
        """The JSON form (as kept in run checkpoints and printed by ``check --json``)."""
        return {
            "rule_id": self.rule_id,
            "tool": self.tool,
            "category": self.category.value,
            "severity": self.severity.value,
            "path": self.path,
            "start_line": self.start_line,
            "end_line": self.end_line,
            "symbol": self.symbol,
            "message": self.message,
            "snippet": self.snippet,
            "fingerprint": self.fingerprint,
            "help_url": self.help_url,
        }


@dataclass(frozen=True, slots=True)
class SkippedCheck:
    """A checker that could not run, and why."""

    checker: str
    reason: str


@dataclass(frozen=True, slots=True)
class CheckRun:
    """One stored run of the quality checks over a repository (``since`` set when only changed files were)."""

    id: str
    root: str
    commit: str | None
    since: str | None
    files_checked: int
    findings_count: int
    seconds: float
    skipped: tuple[SkippedCheck, ...]
    created_at: datetime
