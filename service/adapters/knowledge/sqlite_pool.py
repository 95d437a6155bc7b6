"""Connections to one SQLite file: one per thread for reading, one writer at a time, in WAL mode."""

from __future__ import annotations

import fnmatch
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


def _fnmatch(path: str, pattern: str) -> bool:
    return fnmatch.fnmatchcase(path, pattern)


class SqliteConnections:
    """Per-thread connections to ``path`` (autocommit mode; transactions are explicit).

    Writes take an in-process lock and ``BEGIN IMMEDIATE``, so another process writing the same file makes this
    one wait up to ``busy_timeout_seconds`` rather than fail half-way. Every connection has the deterministic SQL
    function ``kb_fnmatch(path, pattern)`` (``fnmatch.fnmatchcase``).
    """

    def __init__(self, path: Path, *, busy_timeout_seconds: float) -> None:
        self._path = path
        self._timeout = busy_timeout_seconds
        self._local = threading.local()
        self._all: list[sqlite3.Connection] = []
        self._write_lock = threading.Lock()
        self._lock = threading.Lock()

    def get(self) -> sqlite3.Connection:
        """This thread's connection, opened on first use."""
        connection: sqlite3.Connection | None = getattr(self._local, "connection", None)
        if connection is None:
            connection = sqlite3.connect(
                self._path, timeout=self._timeout, isolation_level=None, check_same_thread=False
            )
            # WAL lets readers run beside the one writer; NORMAL is durable across application crashes in WAL.
            connection.execute("PRAGMA journal_mode=WAL")
            connection.execute("PRAGMA synchronous=NORMAL")
            connection.create_function("kb_fnmatch", 2, _fnmatch, deterministic=True)
            self._local.connection = connection
            with self._lock:
                self._all.append(connection)
        return connection

    @contextmanager
    def write(self) -> Iterator[sqlite3.Connection]:
        """A transaction holding the write lock from its first statement; rolled back on any exception."""
        connection = self.get()
        with self._write_lock:
            connection.execute("BEGIN IMMEDIATE")
            try:
                yield connection
            except BaseException:
                connection.execute("ROLLBACK")
                raise
            connection.execute("COMMIT")

    @contextmanager
    def read(self) -> Iterator[sqlite3.Connection]:
        """One consistent snapshot for several statements (a deferred transaction that only reads)."""
        connection = self.get()
        connection.execute("BEGIN")
        try:
            yield connection
        finally:
            connection.execute("COMMIT")

    def close(self) -> None:
        """Close every connection opened so far. Safe to call twice; later calls open new connections."""
        with self._lock:
            for connection in self._all:
                connection.close()
            self._all.clear()
            self._local = threading.local()
