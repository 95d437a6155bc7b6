"""SQLite writers take turns on an in-process lock and a file lock: several processes and threads writing one
database all succeed, nothing is lost, and a nested write transaction in one thread does not deadlock on the gate.
"""

from __future__ import annotations

import multiprocessing
import threading
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import text

from service.adapters.storage.engine import _writer_gate, create_database_engine, write_transaction
from service.adapters.storage.jobs import SqlJobQueue
from service.adapters.storage.migrate import upgrade_to_head

PER_WORKER = 150


def _enqueue_many(url: str, name: str) -> None:
    engine = create_database_engine(url)
    queue = SqlJobQueue(engine)

    def burst(thread: int) -> None:
        for n in range(PER_WORKER):
            queue.enqueue(kind="k", payload={}, now=datetime.now(UTC), dedup_key=f"{name}-{thread}-{n}")

    threads = [threading.Thread(target=burst, args=(t,)) for t in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    engine.dispose()


def test_processes_and_threads_writing_one_file(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'shared.db'}"
    engine = create_database_engine(url)
    upgrade_to_head(engine)
    context = multiprocessing.get_context("spawn")
    workers = [context.Process(target=_enqueue_many, args=(url, f"p{i}")) for i in range(3)]
    for worker in workers:
        worker.start()
    _enqueue_many(url, "main")
    for worker in workers:
        worker.join(timeout=120)
    assert [w.exitcode for w in workers] == [0, 0, 0]
    with engine.connect() as connection:
        assert connection.execute(text("SELECT COUNT(*) FROM jobs")).scalar_one() == 4 * 3 * PER_WORKER
    assert (tmp_path / "shared.db-writer.lock").exists()
    engine.dispose()


def test_the_gate_is_reentrant_within_a_thread(tmp_path: Path) -> None:
    engine = create_database_engine(f"sqlite:///{tmp_path / 'nested.db'}")
    upgrade_to_head(engine)
    done = threading.Event()

    def nested() -> None:
        with write_transaction(engine) as outer:
            outer.execute(text("SELECT 1"))
            # A second write transaction here would wait on SQLite's own lock held by `outer`; what must not
            # happen is a deadlock on the gate itself before it even tries.
            gate_entered = threading.Event()
            with _writer_gate(engine).hold():
                gate_entered.set()
            assert gate_entered.is_set()
        done.set()

    thread = threading.Thread(target=nested)
    thread.start()
    thread.join(timeout=10)
    assert done.is_set()
    engine.dispose()
