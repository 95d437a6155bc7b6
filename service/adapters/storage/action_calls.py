"""The audit log of action-group calls on SQLite or PostgreSQL."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine, delete, select, text

from service.adapters.storage.engine import utc, write_transaction
from service.adapters.storage.schema import action_calls
from service.domain.action_calls import ActionCall, Trigger
from service.errors import InvalidInput, NotFound

_COLUMNS = (
    "id, trigger, action_group, operation_id, principal, status_code, error_code, duration_ms, session_id, started_at"
)

# Batches go in as ONE statement with ONE parameter (a JSON array of rows). executemany would run one driver
# step per row, and each step releases and re-takes the GIL: while the event loop keeps the GIL busy that costs
# milliseconds per row (measured: 841 rows took 1.6 s under load, 10 ms idle), so the writer fell behind.
_BATCH_INSERT = {
    # started_at is stored as SQLAlchemy's SQLite DateTime text format: naive UTC "YYYY-MM-DD HH:MM:SS.ffffff".
    "sqlite": text(
        f"INSERT INTO action_calls ({_COLUMNS}) "  # noqa: S608 - module constants only, no input
        "SELECT json_extract(value, '$.id'), json_extract(value, '$.trigger'), "
        "json_extract(value, '$.action_group'), json_extract(value, '$.operation_id'), "
        "json_extract(value, '$.principal'), json_extract(value, '$.status_code'), "
        "json_extract(value, '$.error_code'), json_extract(value, '$.duration_ms'), "
        "json_extract(value, '$.session_id'), json_extract(value, '$.started_at') "
        "FROM json_each(:rows) WHERE true ON CONFLICT (id) DO NOTHING"
    ),
    "postgresql": text(
        f"INSERT INTO action_calls ({_COLUMNS}) "  # noqa: S608 - module constants only, no input
        f"SELECT {_COLUMNS} FROM jsonb_to_recordset(CAST(:rows AS jsonb)) AS r("
        "id varchar, trigger varchar, action_group varchar, operation_id varchar, principal varchar, "
        "status_code integer, error_code varchar, duration_ms double precision, session_id varchar, "
        "started_at timestamptz) ON CONFLICT (id) DO NOTHING"
    ),
}


def _row(call: ActionCall, dialect: str) -> dict[str, Any]:
    started_at = call.started_at.astimezone(UTC)
    return {
        "id": call.id,
        "trigger": call.trigger.value,
        "action_group": call.action_group,
        "operation_id": call.operation_id,
        "principal": call.principal,
        "status_code": call.status_code,
        "error_code": call.error_code,
        "duration_ms": call.duration_ms,
        "session_id": call.session_id,
        "started_at": (
            started_at.replace(tzinfo=None).isoformat(" ", "microseconds")
            if dialect == "sqlite"
            else started_at.isoformat()
        ),
    }


def _to_call(row: Any) -> ActionCall:
    return ActionCall(
        id=row.id,
        trigger=Trigger(row.trigger),
        action_group=row.action_group,
        operation_id=row.operation_id,
        principal=row.principal,
        status_code=row.status_code,
        error_code=row.error_code,
        duration_ms=row.duration_ms,
        session_id=row.session_id,
        started_at=utc(row.started_at),
    )


class SqlActionCallLog:
    """:class:`service.ports.action_call_log.ActionCallLog` on a SQLAlchemy engine (SQLite or PostgreSQL)."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._dialect = engine.dialect.name
        self._insert = _BATCH_INSERT[self._dialect]

    def record(self, call: ActionCall) -> None:
        self.record_many([call])

    def record_many(self, calls: Sequence[ActionCall]) -> None:
        if not calls:
            return
        payload = json.dumps([_row(call, self._dialect) for call in calls])
        with write_transaction(self._engine) as connection:
            connection.execute(self._insert, {"rows": payload})

    def recent(self, *, limit: int = 50, action_group: str | None = None) -> list[ActionCall]:
        if not 1 <= limit <= 1000:
            raise InvalidInput(f"limit must be between 1 and 1000, not {limit}")
        query = select(action_calls).order_by(action_calls.c.started_at.desc(), action_calls.c.id.desc()).limit(limit)
        if action_group is not None:
            query = query.where(action_calls.c.action_group == action_group)
        with self._engine.connect() as connection:
            return [_to_call(row) for row in connection.execute(query)]

    def prune(self, *, before: datetime) -> int:
        with write_transaction(self._engine) as connection:
            deleted = connection.execute(delete(action_calls).where(action_calls.c.started_at < before.astimezone(UTC)))
        return int(deleted.rowcount)

    def get(self, *, call_id: str) -> ActionCall:
        with self._engine.connect() as connection:
            row = connection.execute(select(action_calls).where(action_calls.c.id == call_id)).first()
        if row is None:
            raise NotFound(f"no action call {call_id!r}", hint="list recent calls with listCalls")
        return _to_call(row)
