"""The ticket ledger on SQLite or PostgreSQL.

The fingerprint is the primary key, so a claim is one ``INSERT ... ON CONFLICT DO NOTHING``: of two filers
racing for the same fingerprint exactly one inserts. Every later change is an ``UPDATE`` whose ``WHERE`` names
the holder (``claimed_by`` and ``claimed_at``), a compare-and-set that the loser sees as zero rows.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine, delete, select, update
from sqlalchemy.dialects import postgresql, sqlite

from service.adapters.storage.engine import utc, write_transaction
from service.adapters.storage.schema import ticket_ledger
from service.domain.ledger import ClaimResult, LedgerEntry, LedgerState

_HELD = (LedgerState.CLAIMED.value, LedgerState.UNKNOWN.value)


def _entry(row: Any) -> LedgerEntry:
    return LedgerEntry(
        fingerprint=row.fingerprint,
        state=LedgerState(row.state),
        ticket_key=row.ticket_key,
        claimed_by=row.claimed_by,
        claimed_at=utc(row.claimed_at),
        content_hash=row.content_hash,
    )


class SqlTicketLedger:
    """:class:`service.ports.ticket_ledger.TicketLedger` on a SQLAlchemy engine."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._insert = (postgresql.insert if engine.dialect.name == "postgresql" else sqlite.insert)(ticket_ledger)

    def _one(self, connection: Any, fingerprint: str) -> LedgerEntry | None:
        row = connection.execute(select(ticket_ledger).where(ticket_ledger.c.fingerprint == fingerprint)).first()
        return _entry(row) if row is not None else None

    def _held_by(self, fingerprint: str, claimed_by: str) -> Any:
        c = ticket_ledger.c
        return update(ticket_ledger).where(c.fingerprint == fingerprint, c.claimed_by == claimed_by, c.state.in_(_HELD))

    def claim(self, *, fingerprint: str, claimed_by: str, now: datetime) -> ClaimResult:
        values = {
            "fingerprint": fingerprint,
            "state": LedgerState.CLAIMED.value,
            "ticket_key": None,
            "claimed_by": claimed_by,
            "claimed_at": now.astimezone(UTC),
            "content_hash": None,
        }
        with write_transaction(self._engine) as connection:
            inserted = connection.execute(
                self._insert.values(values)
                .on_conflict_do_nothing(index_elements=["fingerprint"])
                .returning(ticket_ledger.c.fingerprint)
            ).first()
            entry = self._one(connection, fingerprint)
        assert entry is not None  # inserted now or already there; rows are only deleted by their holder
        return ClaimResult(won=inserted is not None, entry=entry)

    def take_over(self, *, expected: LedgerEntry, claimed_by: str, now: datetime) -> LedgerEntry | None:
        c = ticket_ledger.c
        statement = (
            update(ticket_ledger)
            .where(
                c.fingerprint == expected.fingerprint,
                c.state == expected.state.value,
                c.claimed_by == expected.claimed_by,
                c.claimed_at == expected.claimed_at.astimezone(UTC),
            )
            .values(state=LedgerState.CLAIMED.value, claimed_by=claimed_by, claimed_at=now.astimezone(UTC))
        )
        with write_transaction(self._engine) as connection:
            if connection.execute(statement).rowcount != 1:
                return None
            return self._one(connection, expected.fingerprint)

    def mark(self, *, fingerprint: str, claimed_by: str, state: LedgerState, now: datetime) -> LedgerEntry | None:
        if state is LedgerState.FILED:
            raise ValueError("use record_filed to mark a row FILED")
        statement = self._held_by(fingerprint, claimed_by).values(state=state.value, claimed_at=now.astimezone(UTC))
        with write_transaction(self._engine) as connection:
            if connection.execute(statement).rowcount != 1:
                return None
            return self._one(connection, fingerprint)

    def record_filed(
        self, *, fingerprint: str, claimed_by: str, ticket_key: str, content_hash: str | None, now: datetime
    ) -> LedgerEntry | None:
        statement = self._held_by(fingerprint, claimed_by).values(
            state=LedgerState.FILED.value, ticket_key=ticket_key, content_hash=content_hash, claimed_at=now
        )
        with write_transaction(self._engine) as connection:
            if connection.execute(statement).rowcount != 1:
                return None
            return self._one(connection, fingerprint)

    def update_hash(self, *, fingerprint: str, ticket_key: str, content_hash: str) -> None:
        c = ticket_ledger.c
        with write_transaction(self._engine) as connection:
            connection.execute(
                update(ticket_ledger)
                .where(c.fingerprint == fingerprint, c.ticket_key == ticket_key, c.state == LedgerState.FILED.value)
                .values(content_hash=content_hash)
            )

    def release(self, *, fingerprint: str, claimed_by: str) -> bool:
        c = ticket_ledger.c
        with write_transaction(self._engine) as connection:
            gone = connection.execute(
                delete(ticket_ledger).where(
                    c.fingerprint == fingerprint,
                    c.claimed_by == claimed_by,
                    c.state.in_(_HELD),
                    c.ticket_key.is_(None),
                )
            ).rowcount
            if gone:
                return True
            back = connection.execute(
                self._held_by(fingerprint, claimed_by)
                .where(c.ticket_key.is_not(None))
                .values(state=LedgerState.FILED.value)
            ).rowcount
        return back == 1

    def adopt(self, *, fingerprint: str, ticket_key: str, now: datetime) -> bool:
        c = ticket_ledger.c
        with write_transaction(self._engine) as connection:
            inserted = connection.execute(
                self._insert.values(
                    fingerprint=fingerprint,
                    state=LedgerState.FILED.value,
                    ticket_key=ticket_key,
                    claimed_by="rebuild",
                    claimed_at=now.astimezone(UTC),
                    content_hash=None,
                )
                .on_conflict_do_nothing(index_elements=["fingerprint"])
                .returning(ticket_ledger.c.fingerprint)
            ).first()
            if inserted is not None:
                return True
            changed = connection.execute(
                update(ticket_ledger)
                .where(c.fingerprint == fingerprint, c.state.in_(_HELD))
                .values(state=LedgerState.FILED.value, ticket_key=ticket_key, claimed_at=now.astimezone(UTC))
            ).rowcount
        return changed == 1

    def get(self, *, fingerprint: str) -> LedgerEntry | None:
        with self._engine.connect() as connection:
            return self._one(connection, fingerprint)

    def entries(self, *, state: LedgerState | None = None) -> list[LedgerEntry]:
        query = select(ticket_ledger).order_by(ticket_ledger.c.fingerprint)
        if state is not None:
            query = query.where(ticket_ledger.c.state == state.value)
        with self._engine.connect() as connection:
            return [_entry(row) for row in connection.execute(query)]
