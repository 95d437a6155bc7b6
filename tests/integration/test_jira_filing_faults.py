"""No duplicates end to end: the ticket filer over the real Jira adapters, over HTTP, on the fake Jira with
injected faults: a 429 (Retry-After: 1) on every 5th call and 10 % of creates answered 503 after creating.
200 findings filed twice, then by two workers at once on a shared SQLite ledger: one ticket per fingerprint.
"""

from __future__ import annotations

import hashlib
import threading
from collections import Counter
from pathlib import Path

import pytest

from service.adapters.jira import JiraTracker
from service.adapters.storage.engine import create_database_engine
from service.adapters.storage.migrate import upgrade_to_head
from service.adapters.tickets.ledger import SqlTicketLedger
from service.adapters.tickets.memory import InMemoryTicketLedger
from service.domain.tickets import TicketDraft
from service.ports.ticket_ledger import TicketLedger
from service.tickets.filing import FilingAction, FilingPolicy, TicketFiler
from tests.fakes.jira_server import FakeJira, FakeJiraServer
from tests.fakes.jira_trackers import Sleeps, tracker_for

FINDINGS = 200
POLICY = FilingPolicy(retry_delay_seconds=0, poll_seconds=0.002, wait_seconds=20)


@pytest.fixture(params=["cloud", "datacenter"])
def site(request: pytest.FixtureRequest, fake_jira_server: FakeJiraServer) -> FakeJira:
    jira = fake_jira_server.reset(request.param)
    jira.faults.created_then(None, status=503, retry_after="1", probability=0.1)
    jira.faults.throttle(None, retry_after="1", every=5)
    return jira


def drafts() -> list[TicketDraft]:
    return [
        TicketDraft(
            project_key="OPS",
            summary=f"[ruff.F401] unused import in pkg/module_{n}.py",
            description=f"## Finding\n\n`import os` in `pkg/module_{n}.py` is never used.",
            labels=("quality",),
            fingerprint=hashlib.sha256(f"repo:ruff.F401:pkg/module_{n}.py".encode()).hexdigest()[:40],
        )
        for n in range(FINDINGS)
    ]


def file_all(tracker: JiraTracker, ledger: TicketLedger, order: int = 1) -> Counter[FilingAction]:
    return Counter(o.action for o in TicketFiler(tracker, ledger, POLICY).file_many(drafts()[::order]))


def assert_one_each(site: FakeJira) -> None:
    counts = Counter(x for issue in site.store.issues.values() for x in issue.labels if x.startswith("ts-fp-"))
    assert set(counts) == {f"ts-fp-{d.fingerprint}" for d in drafts()}, "every finding has a ticket"
    assert {label: n for label, n in counts.items() if n != 1} == {}, "no fingerprint has two tickets"
    assert len(site.store.issues) == FINDINGS


def faults_fired(site: FakeJira) -> tuple[int, int]:
    lost, throttled = (rule.fired for rule in site.faults.rules)
    return lost, throttled


def test_filed_twice_under_faults(site: FakeJira) -> None:
    sleeps = Sleeps()
    tracker, ledger = tracker_for(site, sleeps), InMemoryTicketLedger()
    try:
        first, second = file_all(tracker, ledger), file_all(tracker, ledger)
    finally:
        tracker.close()
    lost, throttled = faults_fired(site)
    assert lost > 5
    assert throttled > 100
    assert sleeps.waits
    assert all(1 <= w <= 1.1 for w in sleeps.waits)  # every retry waited what Retry-After said
    assert_one_each(site)
    assert first[FilingAction.CREATED] + second[FilingAction.CREATED] == FINDINGS
    assert sum(1 for m, p in site.journal if m == "POST" and p.endswith("/issue")) >= FINDINGS + lost


def test_two_workers_at_once(site: FakeJira, tmp_path: Path) -> None:
    engines = [create_database_engine(f"sqlite:///{tmp_path / 'ledger.db'}") for _ in range(2)]
    upgrade_to_head(engines[0])
    trackers = [tracker_for(site), tracker_for(site)]
    errors: list[BaseException] = []
    barrier = threading.Barrier(2)

    def worker(tracker: JiraTracker, ledger: TicketLedger, order: int) -> None:
        try:
            barrier.wait()
            file_all(tracker, ledger, order)
            file_all(tracker, ledger, order)
        except BaseException as exc:  # surfaced below: a thread's exception would be lost otherwise
            errors.append(exc)

    threads = [
        threading.Thread(target=worker, args=(t, SqlTicketLedger(e), order))
        for t, e, order in zip(trackers, engines, (1, -1), strict=True)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for tracker in trackers:
        tracker.close()
    for engine in engines:
        engine.dispose()
    assert errors == []
    assert faults_fired(site)[0] > 5
    assert_one_each(site)
