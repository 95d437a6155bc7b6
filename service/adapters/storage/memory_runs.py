"""In-memory run store: the fake for tests and for commands that never serve."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import replace

from service.domain.runs import Run, RunState, Span
from service.errors import Conflict, InvalidInput, NotFound


class InMemoryRunStore:
    """:class:`service.ports.run_store.RunStore` in dicts; thread-safe; lost on exit."""

    def __init__(self) -> None:
        self._runs: dict[str, Run] = {}
        self._by_dedup: dict[str, str] = {}
        self._spans: dict[str, dict[int, Span]] = {}
        self._lock = threading.Lock()

    def create(self, run: Run) -> Run:
        with self._lock:
            if run.dedup_key is not None and run.dedup_key in self._by_dedup:
                return self._runs[self._by_dedup[run.dedup_key]]
            if run.id in self._runs:
                raise Conflict(f"run {run.id!r} exists already")
            self._runs[run.id] = run
            if run.dedup_key is not None:
                self._by_dedup[run.dedup_key] = run.id
            return run

    def get(self, run_id: str) -> Run:
        with self._lock:
            run = self._runs.get(run_id)
        if run is None:
            raise NotFound(f"no run {run_id!r}", hint="list runs with `ticketsmith runs list`")
        return run

    def save(self, run: Run) -> Run:
        with self._lock:
            stored = self._runs.get(run.id)
            if stored is None:
                raise NotFound(f"no run {run.id!r}")
            if stored.version != run.version:
                raise Conflict(
                    f"run {run.id} was changed by another worker (version {stored.version}, not {run.version})"
                )
            saved = replace(run, version=run.version + 1)
            self._runs[run.id] = saved
            return saved

    def append_spans(self, spans: Sequence[Span]) -> None:
        with self._lock:
            for span in spans:
                self._spans.setdefault(span.run_id, {}).setdefault(span.sequence, span)

    def spans(self, run_id: str, *, after_sequence: int = -1, limit: int = 10_000) -> list[Span]:
        with self._lock:
            held = self._spans.get(run_id, {})
            ordered = [held[n] for n in sorted(held) if n > after_sequence]
        return ordered[:limit]

    def list(self, *, state: RunState | None = None, workflow: str | None = None, limit: int = 50) -> list[Run]:
        if not 1 <= limit <= 1000:
            raise InvalidInput(f"limit must be between 1 and 1000, not {limit}")
        with self._lock:
            runs = [
                run
                for run in self._runs.values()
                if (state is None or run.state is state) and (workflow is None or run.workflow == workflow)
            ]
        runs.sort(key=lambda run: (run.created_at, run.id), reverse=True)
        return runs[:limit]
