"""Engines for SQLite (the embedded default) and PostgreSQL, and the helpers both storage adapters share."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, NoSuchModuleError

from service.errors import ConfigurationError

_sqlite_write_locks: dict[str, Any] = {}  # URL -> threading.RLock


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


@contextmanager
def write_transaction(engine: Engine) -> Iterator[Connection]:
    """A transaction that holds the write lock from its first statement.

    On SQLite a deferred transaction that reads, then writes, can fail with SQLITE_BUSY_SNAPSHOT when another
    connection committed in between (busy_timeout does not retry that), so writes start with BEGIN IMMEDIATE.
    PostgreSQL needs nothing special.
    """
    if engine.dialect.name != "sqlite":
        with engine.connect() as connection:
            yield connection
            connection.commit()
        return
    # Threads of one process take turns on a lock first: SQLite's own busy handler sleeps 1 to 100 ms between
    # retries, which under many concurrent writers turns into long tail latencies. Other processes still
    # meet the busy_timeout.
    lock = _sqlite_write_locks.setdefault(engine.url.render_as_string(hide_password=False), threading.RLock())
    with lock, engine.connect() as connection:
        connection.exec_driver_sql("BEGIN IMMEDIATE")
        yield connection
        connection.commit()


def utc(value: datetime) -> datetime:
    """``value`` as an aware UTC datetime; SQLite hands back naive values, which we always wrote as UTC."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class DatabaseReadiness:
    """Ready when the database answers ``SELECT 1``."""

    name = "database"

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def check(self) -> None:
        with self._engine.connect() as connection:
            connection.execute(text("SELECT 1"))
