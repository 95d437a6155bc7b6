"""SQLite's write-ahead log is copied back by a thread of its own, never inside a writer's commit."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import text

from service.adapters.storage.engine import (
    _checkpointer,
    _checkpointers,
    _writer_gate,
    create_database_engine,
    write_transaction,
)
from service.adapters.storage.jobs import SqlJobQueue
from service.adapters.storage.migrate import upgrade_to_head


def _checkpoint_threads() -> int:
    return sum(1 for thread in threading.enumerate() if thread.name == "sqlite-checkpoint")


def test_commits_leave_the_log_to_the_checkpoint_thread(tmp_path: Path) -> None:
    engine = create_database_engine(f"sqlite:///{tmp_path / 'wal.db'}")
    upgrade_to_head(engine)
    before = _checkpoint_threads()
    with engine.connect() as connection:
        assert connection.exec_driver_sql("PRAGMA wal_autocheckpoint").scalar_one() == 0
    queue = SqlJobQueue(engine)
    for n in range(50):
        queue.enqueue(kind="k", payload={"n": n, "pad": "x" * 5000}, now=datetime.now(UTC))
    assert _checkpoint_threads() == before + 1
    deadline = time.monotonic() + 10
    while True:  # the thread copies the log within a few of its 0.1 s rounds
        with engine.connect() as connection:
            busy, log, copied = connection.exec_driver_sql("PRAGMA wal_checkpoint(PASSIVE)").one()
        if log > 0 and copied == log:
            break
        assert time.monotonic() < deadline, f"log not copied: {busy=} {log=} {copied=}"
        time.sleep(0.05)
    engine.dispose()
    deadline = time.monotonic() + 5
    while _checkpoint_threads() > before:
        assert time.monotonic() < deadline, "the thread outlived its engine"
        time.sleep(0.05)
    assert all(found._engine is not engine for found in _checkpointers.values())


def test_a_log_the_writers_outran_is_checkpointed_inside_the_writer_gate(tmp_path: Path) -> None:
    engine = create_database_engine(f"sqlite:///{tmp_path / 'big.db'}")
    upgrade_to_head(engine)
    with write_transaction(engine) as connection:
        connection.execute(text("CREATE TABLE pad (x TEXT)"))
    checkpointer = _checkpointer(engine)
    checkpointer._max_frames = 0  # every log is "too long": the second checkpoint must take the gate
    reader = engine.connect()
    reader.exec_driver_sql("BEGIN")
    reader.exec_driver_sql("SELECT COUNT(*) FROM pad").all()  # an old snapshot: a PASSIVE checkpoint stops short
    with write_transaction(engine) as connection:
        connection.execute(text("INSERT INTO pad VALUES (:x)"), {"x": "y" * 20000})
    gate_held = threading.Event()
    let_go = threading.Event()

    def hold_gate() -> None:
        with _writer_gate(engine).hold():
            gate_held.set()
            let_go.wait(10)

    holder = threading.Thread(target=hold_gate)
    holder.start()
    assert gate_held.wait(10)
    finished = threading.Event()
    worker = threading.Thread(target=lambda: (checkpointer.checkpoint(), finished.set()))
    worker.start()
    assert not finished.wait(0.3), "the catch-up checkpoint did not wait for the writer gate"
    let_go.set()
    assert finished.wait(10)
    holder.join()
    worker.join()
    reader.rollback()
    reader.close()
    _busy, log, copied = checkpointer.checkpoint()
    assert copied == log
    engine.dispose()


def test_the_log_stays_bounded_while_writers_never_stop(tmp_path: Path) -> None:
    path = tmp_path / "busy.db"
    engine = create_database_engine(f"sqlite:///{path}")
    upgrade_to_head(engine)
    _checkpointer(engine)._max_frames = 300
    queue = SqlJobQueue(engine)
    pad = "x" * 6000
    deadline = time.monotonic() + 3.0
    written = 0
    while time.monotonic() < deadline:  # back-to-back commits: the log is never fully copied between them
        queue.enqueue(kind="k", payload={"n": written, "pad": pad}, now=datetime.now(UTC))
        written += 1
    with engine.connect() as connection:
        page = connection.exec_driver_sql("PRAGMA page_size").scalar_one()
    # Each write appends about six pages (the row, its overflow page, three indexes). A log that is never reset
    # ends up holding all of them; one reset every round holds what a round's writes appended.
    wal_pages = (path.with_name("busy.db-wal").stat().st_size - 32) // (page + 24)
    assert wal_pages < 2 * written, f"{written} writes grew the log to {wal_pages} pages"
    engine.dispose()


def test_two_engines_on_one_file_keep_one_checkpoint_thread_each(tmp_path: Path) -> None:
    # Two workers in one process write through engines of their own: alternating writes must not start a new
    # checkpoint thread each time (keyed by the file, each write replaced the other engine's checkpointer).
    url = f"sqlite:///{tmp_path / 'shared.db'}"
    first, second = create_database_engine(url), create_database_engine(url)
    upgrade_to_head(first)
    before = _checkpoint_threads()
    try:
        for _ in range(20):
            for engine in (first, second):
                with write_transaction(engine) as connection:
                    connection.execute(text("SELECT 1"))
        assert _checkpoint_threads() - before == 2
        assert _writer_gate(first) is _writer_gate(second), "both engines still share the file's writer gate"
    finally:
        first.dispose()
        second.dispose()
