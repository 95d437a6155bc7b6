"""What a checker is given and what it promises."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from service.domain.findings import Finding
from service.quality.config import QualityConfig


class CheckerUnavailable(Exception):
    """The checker cannot run here (its tool is missing, or crashed); the others still run."""


@dataclass(frozen=True)
class CheckTarget:
    """A repository to check, read-only.

    ``files`` are the paths (relative, ``/``-separated) to look at, already filtered by the ignore patterns.
    ``scratch`` is a directory outside the repository for caches and temporary files: checkers must never write
    inside ``root``.
    """

    root: Path
    files: tuple[str, ...]
    scratch: Path
    config: QualityConfig = field(default_factory=QualityConfig)

    def source(self, path: str) -> str | None:
        """The text of ``path``, or None when it is not UTF-8 text."""
        try:
            return (self.root / path).read_text(encoding="utf-8")
        except (UnicodeDecodeError, OSError):
            return None


class Checker(Protocol):
    """One analyser. ``name`` is its entry in the configuration's ``checkers`` list (several checkers may share
    one, e.g. ``security``); ``tool`` says which analyser it runs."""

    name: str
    tool: str

    def run(self, target: CheckTarget) -> list[Finding]:
        """Findings in ``target`` (symbol and fingerprint may be left empty; the runner fills them in).

        Raises :class:`CheckerUnavailable` when the tool is missing or fails.
        """
        ...
