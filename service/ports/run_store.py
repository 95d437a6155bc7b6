"""Port: where runs and their trace spans are kept (the service database)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from service.domain.runs import Run, RunState, Span


class RunStore(Protocol):
    """Runs and spans. Safe for many workers in many processes at once."""

    def create(self, run: Run) -> Run:
        """Store a new run, or return the existing one with the same ``dedup_key`` (whatever its state)."""
        ...

    def get(self, run_id: str) -> Run:
        """The run with this id. Raises :class:`service.errors.NotFound`."""
        ...

    def save(self, run: Run) -> Run:
        """Store ``run`` if the stored copy still has ``run.version``; return it with ``version + 1``.

        Raises :class:`service.errors.Conflict` when someone saved the run in between (the caller's copy is
        stale) and :class:`service.errors.NotFound` for an unknown run.
        """
        ...

    def append_spans(self, spans: Sequence[Span]) -> None:
        """Add spans (of one or more runs). A span whose (run_id, sequence) exists already is ignored, so a
        resumed step that records again does not duplicate."""
        ...

    def spans(self, run_id: str, *, after_sequence: int = -1, limit: int = 10_000) -> list[Span]:
        """The run's spans with ``sequence > after_sequence``, in sequence order, at most ``limit``."""
        ...

    def list(self, *, state: RunState | None = None, workflow: str | None = None, limit: int = 50) -> list[Run]:
        """Newest first, at most ``limit`` (1..1000), optionally only runs in ``state`` / of ``workflow``."""
        ...
