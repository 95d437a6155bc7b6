"""Port: the audit log of action-group calls."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Protocol

from service.domain.action_calls import ActionCall


class ActionCallLog(Protocol):
    """Keeps a record of every action-group call.

    Implementations must be safe to call from several threads at once.
    """

    def record(self, call: ActionCall) -> None:
        """Store ``call``. Idempotent: recording the same ``call.id`` twice keeps one record."""
        ...

    def record_many(self, calls: Sequence[ActionCall]) -> None:
        """Store several calls in one transaction: all of them or, on error, none. Idempotent like ``record``."""
        ...

    def recent(self, *, limit: int = 50, action_group: str | None = None) -> list[ActionCall]:
        """The newest calls first, at most ``limit`` (1..1000), optionally only those of ``action_group``."""
        ...

    def prune(self, *, before: datetime) -> int:
        """Delete calls that started before ``before``; return how many. Idempotent."""
        ...

    def get(self, *, call_id: str) -> ActionCall:
        """The call with this id. Raises :class:`service.errors.NotFound` when there is none."""
        ...


class ReadinessProbe(Protocol):
    """Something ``/readyz`` asks before it says the service can take traffic."""

    name: str

    def check(self) -> None:
        """Return when ready; raise any exception (its message is shown) when not."""
        ...
