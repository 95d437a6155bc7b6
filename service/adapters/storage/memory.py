"""In-memory audit log: the fake for tests and for commands that never serve."""

from __future__ import annotations

import threading
from collections.abc import Sequence

from service.domain.action_calls import ActionCall
from service.errors import InvalidInput, NotFound


class InMemoryActionCallLog:
    """:class:`service.ports.action_call_log.ActionCallLog` kept in a dict; thread-safe; lost on exit."""

    def __init__(self) -> None:
        self._calls: dict[str, ActionCall] = {}
        self._lock = threading.Lock()

    def record(self, call: ActionCall) -> None:
        self.record_many([call])

    def record_many(self, calls: Sequence[ActionCall]) -> None:
        with self._lock:
            for call in calls:
                self._calls.setdefault(call.id, call)

    def recent(self, *, limit: int = 50, action_group: str | None = None) -> list[ActionCall]:
        if not 1 <= limit <= 1000:
            raise InvalidInput(f"limit must be between 1 and 1000, not {limit}")
        with self._lock:
            calls = [c for c in self._calls.values() if action_group is None or c.action_group == action_group]
        calls.sort(key=lambda c: (c.started_at, c.id), reverse=True)
        return calls[:limit]

    def get(self, *, call_id: str) -> ActionCall:
        with self._lock:
            call = self._calls.get(call_id)
        if call is None:
            raise NotFound(f"no action call {call_id!r}", hint="list recent calls with listCalls")
        return call
