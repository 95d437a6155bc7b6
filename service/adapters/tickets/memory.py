"""The in-memory ticket ledger: the fake for tests and one-shot commands; thread-safe; lost on exit."""

from __future__ import annotations

import threading
from dataclasses import replace
from datetime import datetime

from service.domain.ledger import ClaimResult, LedgerEntry, LedgerState

_HELD = (LedgerState.CLAIMED, LedgerState.UNKNOWN)


class InMemoryTicketLedger:
    """:class:`service.ports.ticket_ledger.TicketLedger` in a dict under one lock."""

    def __init__(self) -> None:
        self._rows: dict[str, LedgerEntry] = {}
        self._lock = threading.Lock()

    def _held(self, fingerprint: str, claimed_by: str) -> LedgerEntry | None:
        row = self._rows.get(fingerprint)
        return row if row is not None and row.claimed_by == claimed_by and row.state in _HELD else None

    def claim(self, *, fingerprint: str, claimed_by: str, now: datetime) -> ClaimResult:
        with self._lock:
            existing = self._rows.get(fingerprint)
            if existing is not None:
                return ClaimResult(won=False, entry=existing)
            entry = LedgerEntry(fingerprint, LedgerState.CLAIMED, None, claimed_by, now)
            self._rows[fingerprint] = entry
            return ClaimResult(won=True, entry=entry)

    def take_over(self, *, expected: LedgerEntry, claimed_by: str, now: datetime) -> LedgerEntry | None:
        with self._lock:
            row = self._rows.get(expected.fingerprint)
            if row is None or (row.state, row.claimed_by, row.claimed_at) != (
                expected.state,
                expected.claimed_by,
                expected.claimed_at,
            ):
                return None
            self._rows[row.fingerprint] = replace(row, state=LedgerState.CLAIMED, claimed_by=claimed_by, claimed_at=now)
            return self._rows[row.fingerprint]

    def mark(self, *, fingerprint: str, claimed_by: str, state: LedgerState, now: datetime) -> LedgerEntry | None:
        if state is LedgerState.FILED:
            raise ValueError("use record_filed to mark a row FILED")
        with self._lock:
            row = self._held(fingerprint, claimed_by)
            if row is None:
                return None
            self._rows[fingerprint] = replace(row, state=state, claimed_at=now)
            return self._rows[fingerprint]

    def record_filed(
        self, *, fingerprint: str, claimed_by: str, ticket_key: str, content_hash: str | None, now: datetime
    ) -> LedgerEntry | None:
        with self._lock:
            row = self._held(fingerprint, claimed_by)
            if row is None:
                return None
            self._rows[fingerprint] = replace(
                row, state=LedgerState.FILED, ticket_key=ticket_key, content_hash=content_hash, claimed_at=now
            )
            return self._rows[fingerprint]

    def update_hash(self, *, fingerprint: str, ticket_key: str, content_hash: str) -> None:
        with self._lock:
            row = self._rows.get(fingerprint)
            if row is not None and row.state is LedgerState.FILED and row.ticket_key == ticket_key:
                self._rows[fingerprint] = replace(row, content_hash=content_hash)

    def release(self, *, fingerprint: str, claimed_by: str) -> bool:
        with self._lock:
            row = self._held(fingerprint, claimed_by)
            if row is None:
                return False
            if row.ticket_key is None:
                del self._rows[fingerprint]
            else:
                self._rows[fingerprint] = replace(row, state=LedgerState.FILED)
            return True

    def adopt(self, *, fingerprint: str, ticket_key: str, now: datetime) -> bool:
        with self._lock:
            row = self._rows.get(fingerprint)
            if row is not None and row.state is LedgerState.FILED:
                return False
            if row is None:
                self._rows[fingerprint] = LedgerEntry(fingerprint, LedgerState.FILED, ticket_key, "rebuild", now)
            else:
                self._rows[fingerprint] = replace(row, state=LedgerState.FILED, ticket_key=ticket_key, claimed_at=now)
            return True

    def get(self, *, fingerprint: str) -> LedgerEntry | None:
        with self._lock:
            return self._rows.get(fingerprint)

    def entries(self, *, state: LedgerState | None = None) -> list[LedgerEntry]:
        with self._lock:
            rows = [r for r in self._rows.values() if state is None or r.state is state]
        return sorted(rows, key=lambda r: r.fingerprint)
