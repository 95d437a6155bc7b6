"""Engines for SQLite (the embedded default) and PostgreSQL, and the helpers both storage adapters share."""

from __future__ import annotations

import logging
import os
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

logger = logging.getLogger(__name__)

try:
    import fcntl
except ImportError:  # not on Windows: writers of several processes then meet SQLite's busy timeout
    fcntl = None  # type: ignore[assignment]


class _WriterGate:
    """Writers to one SQLite file take turns here before BEGIN IMMEDIATE: threads on an RLock, processes on
    an exclusive ``flock`` of ``<db>-writer.lock``. Both wake the next writer as soon as the lock is released,
    where SQLite's busy handler sleeps 1 to 100 ms between retries, which under many concurrent writers
    turns into long tail latencies. Reentrant; the kernel drops a dead process's lock.
    """

    def __init__(self, path: str | None) -> None:
        self._lock = threading.RLock()
        self._path = path
        self._fd: int | None = None
        self._pid: int | None = None
        self._depth = 0

    def _acquire_file(self) -> None:
        if self._path is None or fcntl is None:
            return
        if self._pid != os.getpid():  # opened lazily per process (server workers are separate processes)
            self._fd = os.open(self._path, os.O_RDWR | os.O_CREAT, 0o600)
            self._pid = os.getpid()
        assert self._fd is not None
        fcntl.flock(self._fd, fcntl.LOCK_EX)

    def _release_file(self) -> None:
        if self._fd is not None and fcntl is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)

    @contextmanager
    def hold(self) -> Iterator[None]:
        with self._lock:
            if self._depth == 0:
                self._acquire_file()
            self._depth += 1
            try:
                yield
            finally:
                self._depth -= 1
                if self._depth == 0:
                    self._release_file()


_writer_gates: dict[str, _WriterGate] = {}
_gates_lock = threading.Lock()


def _writer_gate(engine: Engine) -> _WriterGate:
    with _gates_lock:
        return _writer_gate_locked(engine)


def _writer_gate_locked(engine: Engine) -> _WriterGate:
    key = engine.url.render_as_string(hide_password=False)
    gate = _writer_gates.get(key)
    if gate is None:
        database = engine.url.database
        path = f"{database}-writer.lock" if database and database != ":memory:" else None
        gate = _writer_gates[key] = _WriterGate(path)
    return gate


class _Checkpointer:
    """Copies an SQLite file's write-ahead log back into the database from a thread of its own, off every
    writer's path.

    SQLite's automatic checkpoint runs inside the COMMIT that crosses 1,000 pages of log, so that commit took
    10-20 ms more while the writer gate was still held and every writer of every process waited behind it
    (bench/webhooks.py: commit p99 13 ms with, 4 ms without). Connections therefore run with
    ``wal_autocheckpoint=0`` and this thread checkpoints PASSIVE every ``interval`` seconds, which takes no
    writer lock. Once the log holds ``max_frames`` pages (SQLite starts it again from the top only when a
    writer finds it fully copied, which never happens while writers keep appending during the copy), one
    checkpoint runs under the gate, so the next writer resets the log and it stays bounded. Started by the first
    write of a process.
    """

    def __init__(self, engine: Engine, gate: _WriterGate, *, interval: float = 0.1, max_frames: int = 10_000) -> None:
        self._engine = engine
        self._gate = gate
        self._interval = interval
        self._max_frames = max_frames
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._pid: int | None = None
        event.listen(engine, "engine_disposed", self._disposed)

    def _disposed(self, _engine: Engine) -> None:
        self._stop.set()
        with _gates_lock:
            for key, found in list(_checkpointers.items()):
                if found is self:
                    del _checkpointers[key]

    def ensure_running(self) -> None:
        if self._pid == os.getpid() or self._stop.is_set():
            return
        with self._lock:
            if self._pid != os.getpid():  # a forked child needs its own thread
                self._pid = os.getpid()
                threading.Thread(target=self._run, name="sqlite-checkpoint", daemon=True).start()

    def checkpoint(self) -> tuple[int, int, int]:
        """One PASSIVE checkpoint: (busy, pages in the log, pages copied) as SQLite reports them."""
        with self._engine.connect() as connection:
            busy, log, copied = connection.exec_driver_sql("PRAGMA wal_checkpoint(PASSIVE)").one()
            if log > self._max_frames:
                # Writers appended while it copied, so the log never ends fully copied when the next writer
                # starts, which is when SQLite resets it: the log only grows. Under the gate nobody appends;
                # what is left to copy is what came since the last round, so the gate is held briefly.
                with self._gate.hold():
                    busy, log, copied = connection.exec_driver_sql("PRAGMA wal_checkpoint(PASSIVE)").one()
        return int(busy), int(log), int(copied)

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            try:
                self.checkpoint()
            except Exception as exc:  # the next round tries again; SQLite checkpoints at the last close anyway
                logger.debug("wal checkpoint skipped error=%s", type(exc).__name__)


# One checkpointer per engine (several engines on one file, e.g. two workers in one process, share its gate but
# not its thread: keyed by the file, every write of the other engine would replace it and start another thread).
_checkpointers: dict[int, _Checkpointer] = {}


def _checkpointer(engine: Engine) -> _Checkpointer:
    with _gates_lock:
        found = _checkpointers.get(id(engine))
        if found is None or found._engine is not engine:
            found = _checkpointers[id(engine)] = _Checkpointer(engine, _writer_gate_locked(engine))
        return found


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    # WAL lets readers run beside the one writer; NORMAL is durable across application crashes in WAL mode.
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=5000")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA wal_autocheckpoint=0")  # see _Checkpointer
    cursor.execute("PRAGMA journal_size_limit=67108864")  # a reset log is cut back to 64 MiB on disk
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
    if engine.url.database and engine.url.database != ":memory:":
        _checkpointer(engine).ensure_running()
    with engine.connect() as connection, _writer_gate(engine).hold():
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
