"""No duplicates over HTTP: the Jira Cloud adapter against the fake Jira, with a 429 (Retry-After) on every
5th call and 10% of creates committed but answered 503. 200 findings filed twice, then by two workers at once
(threads, each with its own ledger connection to one SQLite file) after a restart, then with a lost ledger
rebuilt by label: exactly one ticket per fingerprint throughout. (tests/integration/test_jira_filing_faults.py
runs the first two phases on both adapters; this one adds the restart and the rebuild over HTTP.)
"""

from __future__ import annotations

import hashlib
import threading
from collections import Counter
from pathlib import Path

from sqlalchemy import Engine

from service.adapters.storage.engine import create_database_engine
from service.adapters.storage.migrate import upgrade_to_head
from service.adapters.tickets.ledger import SqlTicketLedger
from service.domain.ledger import LedgerState
from service.domain.tickets import TicketDraft
from service.ports.issue_tracker import IssueTracker
from service.ports.ticket_ledger import TicketLedger
from service.tickets.filing import FilingAction, FilingPolicy, TicketFiler
from tests.fakes.jira_server import CREATE_PATH, FakeJira, FaultRule
from tests.fakes.jira_trackers import Sleeps, tracker_for

FINDINGS = 200
POLICY = FilingPolicy(retry_delay_seconds=0, poll_seconds=0.005, wait_seconds=30)


def drafts() -> list[TicketDraft]:
    return [
        TicketDraft(
            project_key="OPS",
            summary=f"[bandit.B602] shell=True in svc/task_{n}.py",
            description=f"## Finding\n\n`subprocess.run(cmd, shell=True)` in `svc/task_{n}.py`.",
            labels=("security",),
            fingerprint=hashlib.sha256(f"repo:bandit.B602:svc/task_{n}.py".encode()).hexdigest()[:40],
        )
        for n in range(FINDINGS)
    ]


def inject_faults(site: FakeJira) -> None:
    # The lost-answer rule comes first so that it sees every create; the 429 rule sees every other call.
    site.faults.rules.append(
        FaultRule("status", status=503, commit=True, times=None, probability=0.1, method="POST", path=CREATE_PATH)
    )
    site.faults.rules.append(FaultRule("status", status=429, retry_after="1", times=None, every=5))


def assert_one_ticket_per_fingerprint(site: FakeJira) -> None:
    with site.lock:
        labels = [x for issue in site.store.issues.values() for x in issue.labels if x.startswith("ts-fp-")]
    counts = Counter(labels)
    assert set(counts) == {f"ts-fp-{d.fingerprint}" for d in drafts()}, "every finding has a ticket"
    assert {label: n for label, n in counts.items() if n != 1} == {}, "no fingerprint has two tickets"


def file_all(tracker: IssueTracker, ledger: TicketLedger, *, order: int = 1) -> Counter[FilingAction]:
    return Counter(o.action for o in TicketFiler(tracker, ledger, POLICY).file_many(drafts()[::order]))


def ledger_engine(path: Path) -> Engine:
    engine = create_database_engine(f"sqlite:///{path}")
    upgrade_to_head(engine)
    return engine


def test_faults_twice_two_workers_restart_and_lost_ledger(fake_jira_cloud: FakeJira, tmp_path: Path) -> None:
    inject_faults(fake_jira_cloud)
    sleeps = Sleeps()
    trackers = [tracker_for(fake_jira_cloud, sleeps) for _ in range(2)]
    engines = [ledger_engine(tmp_path / "ledger.db") for _ in range(2)]
    try:
        # Twice in a row, one worker.
        first = file_all(trackers[0], SqlTicketLedger(engines[0]))
        second = file_all(trackers[0], SqlTicketLedger(engines[0]))
        assert first[FilingAction.CREATED] + second[FilingAction.CREATED] == FINDINGS
        assert_one_ticket_per_fingerprint(fake_jira_cloud)
        lost_answers = sum(r.fired for r in fake_jira_cloud.faults.rules if r.commit)
        throttled = sum(r.fired for r in fake_jira_cloud.faults.rules if not r.commit)
        assert lost_answers > 5
        assert throttled > 50
        assert 1.0 in [round(w) for w in sleeps.waits], "Retry-After was honoured"

        # Restarted as two workers at once (new filers, same ledger, same findings): nothing is created.
        errors: list[BaseException] = []
        outcomes: list[Counter[FilingAction]] = []
        barrier = threading.Barrier(2)

        def worker(index: int) -> None:
            try:
                barrier.wait()
                outcomes.append(file_all(trackers[index], SqlTicketLedger(engines[index]), order=(1, -1)[index]))
            except BaseException as exc:  # surfaced below
                errors.append(exc)

        threads = [threading.Thread(target=worker, args=(i,)) for i in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert errors == []
        assert sum(c[FilingAction.CREATED] for c in outcomes) == 0
        assert_one_ticket_per_fingerprint(fake_jira_cloud)

        # A lost ledger, rebuilt from Jira by label, files nothing new.
        lost = ledger_engine(tmp_path / "lost.db")
        engines.append(lost)
        rebuilt = TicketFiler(trackers[0], SqlTicketLedger(lost), POLICY).rebuild_from_tracker("OPS")
        assert rebuilt.fingerprints == FINDINGS
        again = file_all(trackers[0], SqlTicketLedger(lost))
        assert again[FilingAction.CREATED] == 0
        assert_one_ticket_per_fingerprint(fake_jira_cloud)
        assert {e.state for e in SqlTicketLedger(lost).entries()} == {LedgerState.FILED}
    finally:
        for tracker in trackers:
            tracker.close()
        for engine in engines:
            engine.dispose()
