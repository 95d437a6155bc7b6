"""No duplicates under faults: 200 findings, 429s every 5th call, 10% creates answered 503 after creating;
filed twice, by two workers at once (threads with their own ledger connections: SQLite file, PostgreSQL),
after a restart, and after the ledger was lost. Exactly one ticket per fingerprint, always.

The tracker here is the local store behind a fault-injecting wrapper that implements the port, failing the
way the Jira adapters report a 429 that outlived their retries (UpstreamFailed, nothing created) and a
create whose answer was lost (OutcomeUnknown, the ticket exists).
"""

from __future__ import annotations

import hashlib
import random
import threading
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

import pytest
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import make_url

from service.adapters.storage.engine import create_database_engine
from service.adapters.storage.migrate import upgrade_to_head
from service.adapters.tickets.ledger import SqlTicketLedger
from service.adapters.tickets.local import LocalIssueTracker, in_memory_local_tracker
from service.adapters.tickets.memory import InMemoryTicketLedger
from service.domain.ledger import LedgerState
from service.domain.tickets import Comment, Ticket, TicketDraft, TrackerReport
from service.errors import OutcomeUnknown, UpstreamFailed
from service.ports.issue_tracker import IssueTracker
from service.ports.ticket_ledger import TicketLedger
from service.tickets.filing import FilingAction, FilingPolicy, TicketFiler

FINDINGS = 200
POLICY = FilingPolicy(retry_delay_seconds=0, poll_seconds=0.002, wait_seconds=20)


class Faulty:
    """The port over ``inner`` with faults: every 5th call (of any kind) is a 429 that outlived the adapter's
    retries; 10% of creates are committed and then answered 503."""

    def __init__(self, inner: LocalIssueTracker, *, seed: int = 5) -> None:
        self.inner = inner
        self.name, self.sends = inner.name, inner.sends
        self._calls = 0
        self._random = random.Random(seed)
        self._lock = threading.Lock()
        self.throttled = 0
        self.lost = 0

    def _gate(self) -> None:
        with self._lock:
            self._calls += 1
            if self._calls % 5 == 0:
                self.throttled += 1
                raise UpstreamFailed("Jira answered 429 Too Many Requests (Retry-After: 1) after 3 retries")

    def _lose(self) -> bool:
        with self._lock:
            lose = self._random.random() < 0.1
            self.lost += lose
            return lose

    def create(self, *, draft: TicketDraft) -> Ticket:
        self._gate()
        ticket = self.inner.create(draft=draft)
        if self._lose():
            raise OutcomeUnknown(f"Jira answered 503 to the create of {draft.summary!r}")
        return ticket

    def create_many(self, *, drafts: Sequence[TicketDraft]) -> list[Ticket | Exception]:
        return [self.create(draft=d) for d in drafts]

    def get(self, *, key: str) -> Ticket:
        self._gate()
        return self.inner.get(key=key)

    def search(self, *, jql: str, limit: int = 50) -> list[Ticket]:
        self._gate()
        return self.inner.search(jql=jql, limit=limit)

    def find_by_label(self, *, project_key: str, label: str) -> list[Ticket]:
        self._gate()
        return self.inner.find_by_label(project_key=project_key, label=label)

    def comment(self, *, key: str, body: str) -> Comment:
        self._gate()
        return self.inner.comment(key=key, body=body)

    def comments(self, *, key: str) -> list[Comment]:
        return self.inner.comments(key=key)

    def transition(self, *, key: str, status: str) -> Ticket:
        self._gate()
        return self.inner.transition(key=key, status=status)

    def link(self, *, from_key: str, to_key: str, link_type: str = "Relates") -> None:
        self._gate()
        self.inner.link(from_key=from_key, to_key=to_key, link_type=link_type)

    def set_labels(self, *, key: str, labels: Sequence[str]) -> Ticket:
        self._gate()
        return self.inner.set_labels(key=key, labels=labels)

    def check(self, *, project_key: str | None) -> TrackerReport:
        return self.inner.check(project_key=project_key)


def drafts() -> list[TicketDraft]:
    return [
        TicketDraft(
            project_key="LOCAL",
            summary=f"[ruff.F401] unused import in pkg/module_{n}.py",
            description=f"## Finding\n\n`import os` in `pkg/module_{n}.py` is never used.",
            labels=("quality",),
            fingerprint=hashlib.sha256(f"repo:ruff.F401:pkg/module_{n}.py".encode()).hexdigest()[:40],
        )
        for n in range(FINDINGS)
    ]


def tickets_per_fingerprint(store: LocalIssueTracker) -> Counter[str]:
    labels = [x for t in store.search(jql="project = LOCAL", limit=10_000) for x in t.labels if x.startswith("ts-fp-")]
    return Counter(labels)


def assert_one_each(store: LocalIssueTracker) -> None:
    counts = tickets_per_fingerprint(store)
    expected = {f"ts-fp-{d.fingerprint}" for d in drafts()}
    assert set(counts) == expected, "every finding has a ticket"
    assert {label: n for label, n in counts.items() if n != 1} == {}, "no fingerprint has two tickets"


def run(tracker: IssueTracker, ledger: TicketLedger, *, order: int = 1) -> list[FilingAction]:
    filer = TicketFiler(tracker, ledger, POLICY)
    return [o.action for o in filer.file_many(drafts()[::order])]


@pytest.fixture
def store() -> LocalIssueTracker:
    return in_memory_local_tracker()


def test_filed_twice_under_faults(store: LocalIssueTracker) -> None:
    faulty, ledger = Faulty(store), InMemoryTicketLedger()
    first = run(faulty, ledger)
    second = run(faulty, ledger)
    assert faulty.throttled > 50
    assert faulty.lost > 5
    assert_one_each(store)
    assert Counter(first)[FilingAction.CREATED] + Counter(second)[FilingAction.CREATED] == FINDINGS
    assert {e.state for e in ledger.entries()} == {LedgerState.FILED}


class OpenLedger(Protocol):
    def __call__(self, fresh: bool = False) -> Engine: ...


def two_workers_then_restart_then_lost_ledger(store: LocalIssueTracker, open_ledger: OpenLedger) -> None:
    faulty = Faulty(store, seed=11)
    engines = [open_ledger(), open_ledger()]
    errors: list[BaseException] = []
    barrier = threading.Barrier(2)

    def worker(engine: Engine, order: int) -> None:
        try:
            barrier.wait()
            run(faulty, SqlTicketLedger(engine), order=order)
            run(faulty, SqlTicketLedger(engine), order=order)
        except BaseException as exc:  # surfaced below: a thread's exception would be lost otherwise
            errors.append(exc)

    threads = [
        threading.Thread(target=worker, args=(engine, order)) for engine, order in zip(engines, (1, -1), strict=True)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert faulty.lost > 5
    assert_one_each(store)

    restarted = run(faulty, SqlTicketLedger(engines[0]))
    assert FilingAction.CREATED not in restarted, "a restart (new filer, same ledger) files nothing new"
    assert_one_each(store)

    lost = open_ledger(fresh=True)
    filer = TicketFiler(store, SqlTicketLedger(lost), POLICY)
    assert filer.rebuild_from_tracker("LOCAL").fingerprints == FINDINGS
    rebuilt = run(faulty, SqlTicketLedger(lost))
    assert FilingAction.CREATED not in rebuilt, "a ledger rebuilt by label files nothing new"
    assert_one_each(store)
    for engine in (*engines, lost):
        engine.dispose()


def test_two_workers_on_one_sqlite_file(store: LocalIssueTracker, tmp_path: Path) -> None:
    urls = iter(range(100))

    def open_ledger(fresh: bool = False) -> Engine:
        name = f"lost-{next(urls)}.db" if fresh else "ledger.db"
        engine = create_database_engine(f"sqlite:///{tmp_path / name}")
        upgrade_to_head(engine)
        return engine

    two_workers_then_restart_then_lost_ledger(store, open_ledger)


@pytest.mark.postgres
def test_two_workers_on_postgresql(store: LocalIssueTracker, postgres_server_url: str) -> None:
    names: list[str] = []
    admin = create_engine(postgres_server_url, isolation_level="AUTOCOMMIT")

    def database(name: str) -> str:
        if name not in names:
            with admin.connect() as connection:
                connection.execute(text(f'CREATE DATABASE "{name}"'))
            names.append(name)
        return make_url(postgres_server_url).set(database=name).render_as_string(False)

    suffix = hashlib.sha256(str(id(store)).encode()).hexdigest()[:8]

    def open_ledger(fresh: bool = False) -> Engine:
        engine = create_database_engine(database(f"ledger_{'lost' if fresh else 'main'}_{suffix}"))
        upgrade_to_head(engine)
        return engine

    try:
        two_workers_then_restart_then_lost_ledger(store, open_ledger)
    finally:
        with admin.connect() as connection:
            for name in names:
                connection.execute(text(f'DROP DATABASE "{name}" WITH (FORCE)'))
        admin.dispose()


def test_one_filer_shared_by_many_threads(store: LocalIssueTracker) -> None:
    """The service's container holds one filer for every request: concurrent calls must exclude each other."""
    filer = TicketFiler(Faulty(store, seed=3), InMemoryTicketLedger(), POLICY)
    barrier = threading.Barrier(6)
    errors: list[BaseException] = []

    def worker(order: int) -> None:
        try:
            barrier.wait()
            filer.file_many(drafts()[::order])
            filer.file_many(drafts()[::order])
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(order,)) for order in (1, -1, 1, -1, 1, -1)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert_one_each(store)
