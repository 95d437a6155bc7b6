"""Port: stored quality-check runs and their findings, so later steps can refer to a run by id."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from service.domain.findings import Category, CheckRun, Finding, Severity


class FindingStore(Protocol):
    """Keeps check runs and their findings. Safe to call from several threads at once."""

    def save_run(self, run: CheckRun, findings: Sequence[Finding]) -> None:
        """Store ``run`` with its ``findings`` in one transaction. Saving the same run id twice is a Conflict."""
        ...

    def get_run(self, *, run_id: str) -> CheckRun:
        """The run with this id. Raises :class:`service.errors.NotFound`."""
        ...

    def findings(
        self,
        *,
        run_id: str,
        min_severity: Severity | None = None,
        category: Category | None = None,
        path_prefix: str | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> list[Finding]:
        """The run's findings, worst first then by path and line, filtered and paged (``limit`` 1..1000).

        Raises :class:`service.errors.NotFound` for an unknown run.
        """
        ...
