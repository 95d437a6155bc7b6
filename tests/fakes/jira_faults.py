"""Fault injection for the fake Jira: rate limits, lost answers after the work was done, dropped connections."""

from __future__ import annotations

import random
import re
from dataclasses import dataclass, field
from typing import Any, Literal


@dataclass
class FaultRule:
    """Answer matching requests with ``status`` (and ``Retry-After``), or drop the connection.

    ``commit`` first performs the request (the issue IS created) and only then answers with the fault.
    A rule fires on every ``every``-th matching call with ``probability``, at most ``times`` times.
    """

    kind: Literal["status", "drop"]
    status: int = 429
    retry_after: str | None = None
    commit: bool = False
    times: int | None = 1  # None: no limit
    every: int = 1
    probability: float = 1.0
    method: str | None = None
    path: str | None = None  # regex searched in the path
    body: Any = None  # answer this JSON instead of the default error body
    seen: int = 0
    fired: int = 0

    def applies(self, method: str, path: str, rng: random.Random) -> bool:
        if (self.method and method != self.method) or (self.path and not re.search(self.path, path)):
            return False
        self.seen += 1
        if self.times is not None and self.fired >= self.times:
            return False
        if self.seen % self.every or rng.random() >= self.probability:
            return False
        self.fired += 1
        return True


CREATE_PATH = r"/rest/api/\d/issue(/bulk)?$"


@dataclass
class Faults:
    """Fault injection controlled by tests. Thread-safe through the server's lock."""

    rules: list[FaultRule] = field(default_factory=list)
    latency_seconds: float = 0.0
    rng: random.Random = field(default_factory=lambda: random.Random(5))

    def throttle(
        self, times: int | None = 1, *, retry_after: str | None = "1", status: int = 429, **match: Any
    ) -> None:
        """The next ``times`` calls (matching ``method``/``path`` if given) answer ``status`` with Retry-After."""
        self.rules.append(FaultRule("status", status=status, retry_after=retry_after, times=times, **match))

    def answer(self, status: int, body: Any, *, times: int = 1, **match: Any) -> None:
        """The next ``times`` matching calls answer ``body`` with ``status`` without doing anything."""
        self.rules.append(FaultRule("status", status=status, body=body, times=times, **match))

    def created_then(self, times: int | None = 1, *, status: int = 503, **options: Any) -> None:
        """The next ``times`` creates happen, then answer ``status`` (a lost 201)."""
        options.setdefault("method", "POST")
        options.setdefault("path", CREATE_PATH)
        self.rules.append(FaultRule("status", status=status, commit=True, times=times, **options))

    def drop(self, times: int | None = 1, *, commit: bool = True, **match: Any) -> None:
        """The next ``times`` matching calls lose the connection mid-answer (after the work when ``commit``)."""
        self.rules.append(FaultRule("drop", commit=commit, times=times, **match))

    def clear(self) -> None:
        self.rules.clear()
        self.latency_seconds = 0.0
