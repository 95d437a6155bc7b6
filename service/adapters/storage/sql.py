"""SQLAlchemy storage for SQLite (the embedded default) and PostgreSQL, from one code path."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import (
    Column,
    DateTime,
    Engine,
    Float,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    create_engine,
    event,
    select,
    text,
)
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, NoSuchModuleError

from service.domain.action_calls import ActionCall, Trigger
from service.errors import ConfigurationError, InvalidInput, NotFound

metadata = MetaData()

action_calls = Table(
    "action_calls",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("trigger", String(16), nullable=False),
    Column("action_group", String(100), nullable=False),
    Column("operation_id", String(64), nullable=False),
    Column("principal", String(200), nullable=False),
    Column("status_code", Integer, nullable=False),
    Column("error_code", String(64), nullable=True),
    Column("duration_ms", Float, nullable=False),
    Column("session_id", String(200), nullable=True),
    Column("started_at", DateTime(timezone=True), nullable=False),
    Index("ix_action_calls_started_at", "started_at"),
    Index("ix_action_calls_group_started_at", "action_group", "started_at"),
)


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    # WAL lets readers run beside the one writer; NORMAL is durable across application crashes in WAL mode.
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=5000")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def create_database_engine(url: str, *, echo: bool = False) -> Engine:
    """An engine for ``url``; an SQLite file's directory is created. Raises :class:`ConfigurationError`."""
    hint = "set TICKETSMITH_DATABASE_URL to e.g. postgresql+psycopg://user:pass@host/db, or unset it for SQLite"
    try:
        parsed = make_url(url)
        backend = parsed.get_backend_name()
        if backend == "sqlite":
            if parsed.database and parsed.database != ":memory:":
                Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
            engine = create_engine(parsed, echo=echo)
            event.listen(engine, "connect", _sqlite_pragmas)
        elif backend == "postgresql":
            engine = create_engine(parsed, echo=echo, pool_pre_ping=True)
        else:
            raise ConfigurationError(f"unsupported database {backend!r}; use SQLite or PostgreSQL", hint=hint)
    except (ArgumentError, NoSuchModuleError, ValueError) as exc:
        raise ConfigurationError(f"invalid database URL: {exc}", hint=hint) from None
    except OSError as exc:
        raise ConfigurationError(f"cannot create the database directory: {exc}", hint=hint) from None
    return engine


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


def _utc(value: datetime) -> datetime:
    # SQLite stores no zone; everything we write is UTC, so reading it back as UTC is exact.
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


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
        started_at=_utc(row.started_at),
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
        with self._engine.begin() as connection:
            connection.execute(self._insert, {"rows": payload})

    def recent(self, *, limit: int = 50, action_group: str | None = None) -> list[ActionCall]:
        if not 1 <= limit <= 1000:
            raise InvalidInput(f"limit must be between 1 and 1000, not {limit}")
        query = select(action_calls).order_by(action_calls.c.started_at.desc(), action_calls.c.id.desc()).limit(limit)
        if action_group is not None:
            query = query.where(action_calls.c.action_group == action_group)
        with self._engine.connect() as connection:
            return [_to_call(row) for row in connection.execute(query)]

    def get(self, *, call_id: str) -> ActionCall:
        with self._engine.connect() as connection:
            row = connection.execute(select(action_calls).where(action_calls.c.id == call_id)).first()
        if row is None:
            raise NotFound(f"no action call {call_id!r}", hint="list recent calls with listCalls")
        return _to_call(row)


class DatabaseReadiness:
    """Ready when the database answers ``SELECT 1``."""

    name = "database"

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def check(self) -> None:
        with self._engine.connect() as connection:
            connection.execute(text("SELECT 1"))
