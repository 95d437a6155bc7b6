"""The ticket filer: claim before create, look up by label when unsure, comment/reopen/link instead of twins."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from service.adapters.tickets.local import LocalIssueTracker, in_memory_local_tracker
from service.adapters.tickets.memory import InMemoryTicketLedger
from service.domain.ledger import LedgerState
from service.domain.tickets import Comment, Ticket, TicketDraft, TrackerReport
from service.errors import InvalidInput, OutcomeUnknown, UpstreamFailed
from service.tickets.filing import FilingAction, FilingPolicy, TicketFiler

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
FAST = FilingPolicy(retry_delay_seconds=0, poll_seconds=0.001, wait_seconds=0)


def fingerprint(n: int) -> str:
    return hashlib.sha256(f"finding-{n}".encode()).hexdigest()[:32]


def draft(n: int = 0, **changes: object) -> TicketDraft:
    base = TicketDraft(
        project_key="LOCAL",
        summary=f"Finding {n}: unused import",
        description=f"`import os` in module_{n}.py is unused.",
        labels=("quality",),
        fingerprint=fingerprint(n),
    )
    return replace(base, **changes)  # type: ignore[arg-type]


class Clock:
    def __init__(self) -> None:
        self.now = NOW

    def __call__(self) -> datetime:
        return self.now


class Flaky:
    """An IssueTracker (a local store inside) whose first creates fail: ``lost`` ones happen and then raise
    OutcomeUnknown, ``refused`` ones raise UpstreamFailed without creating; label lookups fail after
    ``lookups_ok`` successes, ``lookups_fail`` times."""

    def __init__(
        self, inner: LocalIssueTracker, *, lost: int = 0, refused: int = 0, lookups_ok: int = 0, lookups_fail: int = 0
    ) -> None:
        self.inner, self.lost, self.refused = inner, lost, refused
        self.lookups_ok, self.lookups_fail = lookups_ok, lookups_fail
        self.name, self.sends = inner.name, inner.sends
        self.creates = 0

    def create(self, *, draft: TicketDraft) -> Ticket:
        self.creates += 1
        if self.refused:
            self.refused -= 1
            raise UpstreamFailed("429 Too Many Requests after the adapter's retries")
        ticket = self.inner.create(draft=draft)
        if self.lost:
            self.lost -= 1
            raise OutcomeUnknown("503 Service Unavailable after sending the create")
        return ticket

    def create_many(self, *, drafts: Sequence[TicketDraft]) -> list[Ticket | Exception]:
        return [self.create(draft=d) for d in drafts]

    def get(self, *, key: str) -> Ticket:
        return self.inner.get(key=key)

    def search(self, *, jql: str, limit: int = 50) -> list[Ticket]:
        return self.inner.search(jql=jql, limit=limit)

    def find_by_label(self, *, project_key: str, label: str) -> list[Ticket]:
        if self.lookups_ok:
            self.lookups_ok -= 1
        elif self.lookups_fail:
            self.lookups_fail -= 1
            raise UpstreamFailed("search keeps answering 503")
        return self.inner.find_by_label(project_key=project_key, label=label)

    def comment(self, *, key: str, body: str) -> Comment:
        return self.inner.comment(key=key, body=body)

    def comments(self, *, key: str) -> list[Comment]:
        return self.inner.comments(key=key)

    def transition(self, *, key: str, status: str) -> Ticket:
        return self.inner.transition(key=key, status=status)

    def link(self, *, from_key: str, to_key: str, link_type: str = "Relates") -> None:
        self.inner.link(from_key=from_key, to_key=to_key, link_type=link_type)

    def set_labels(self, *, key: str, labels: Sequence[str]) -> Ticket:
        return self.inner.set_labels(key=key, labels=labels)

    def check(self, *, project_key: str | None) -> TrackerReport:
        return self.inner.check(project_key=project_key)


@pytest.fixture
def store() -> LocalIssueTracker:
    return in_memory_local_tracker()


def filer(tracker: object, ledger: InMemoryTicketLedger, policy: FilingPolicy = FAST, **kwargs: object) -> TicketFiler:
    return TicketFiler(tracker, ledger, policy, sleep=lambda _s: None, **kwargs)  # type: ignore[arg-type]


def test_first_filing_creates_with_limits_and_labels(store: LocalIssueTracker) -> None:
    ledger = InMemoryTicketLedger()
    long = draft(summary="word " * 80, description="x" * 40_000, labels=("code quality",))
    outcome = filer(store, ledger).file(long)
    assert outcome.action is FilingAction.CREATED
    ticket = store.get(key=str(outcome.ticket_key))
    assert len(ticket.summary) <= 255
    assert ticket.summary.endswith("…")
    assert len(ticket.description) <= 32_767
    assert "cut to fit" in ticket.description
    assert ticket.labels == ("code-quality", "ticketsmith", f"ts-fp-{fingerprint(0)}")
    entry = ledger.get(fingerprint=fingerprint(0))
    assert entry is not None
    assert (entry.state, entry.ticket_key) == (LedgerState.FILED, ticket.key)


def test_seen_again_unchanged_is_skipped_changed_is_commented(store: LocalIssueTracker) -> None:
    ledger = InMemoryTicketLedger()
    first = filer(store, ledger).file(draft())
    again = filer(store, ledger).file(draft())
    assert (again.action, again.ticket_key) == (FilingAction.SKIPPED, first.ticket_key)
    assert "unchanged" in again.reason
    changed = filer(store, ledger).file(draft(description="Now also `import sys`."))
    assert (changed.action, changed.ticket_key) == (FilingAction.COMMENTED, first.ticket_key)
    assert "import sys" in store.comments(key=str(first.ticket_key))[0].body
    assert filer(store, ledger).file(draft(description="Now also `import sys`.")).action is FilingAction.SKIPPED
    assert len(store.search(jql="")) == 1


def test_removed_fingerprint_label_is_restored(store: LocalIssueTracker) -> None:
    ledger = InMemoryTicketLedger()
    key = str(filer(store, ledger).file(draft()).ticket_key)
    store.set_labels(key=key, labels=["quality"])
    outcome = filer(store, ledger).file(draft())
    assert outcome.action is FilingAction.UPDATED
    assert f"ts-fp-{fingerprint(0)}" in store.get(key=key).labels


@pytest.mark.parametrize("policy", ["reopen", "link", "ignore"])
def test_closed_tickets_follow_the_policy(store: LocalIssueTracker, policy: str) -> None:
    ledger = InMemoryTicketLedger()
    rules = replace(FAST, closed_ticket_policy=policy)  # type: ignore[arg-type]
    key = str(filer(store, ledger, rules).file(draft()).ticket_key)
    store.transition(key=key, status="Done")
    outcome = filer(store, ledger, rules).file(draft())
    tickets = store.search(jql="order by key")
    if policy == "reopen":
        assert (outcome.action, outcome.ticket_key) == (FilingAction.REOPENED, key)
        assert store.get(key=key).status == "To Do"
        assert "Seen again" in store.comments(key=key)[0].body
        assert len(tickets) == 1
    elif policy == "link":
        assert outcome.action is FilingAction.LINKED
        assert outcome.ticket_key != key
        assert store.links(key=key) == [(str(outcome.ticket_key), "Relates", key)]
        assert len(tickets) == 2
        entry = ledger.get(fingerprint=fingerprint(0))
        assert entry is not None
        assert entry.ticket_key == outcome.ticket_key
        repeat = filer(store, ledger, rules).file(draft())
        assert (repeat.action, repeat.ticket_key) == (FilingAction.SKIPPED, outcome.ticket_key)
    else:
        assert (outcome.action, outcome.ticket_key) == (FilingAction.SKIPPED, key)
        assert store.get(key=key).status == "Done"
        assert len(tickets) == 1


def test_unknown_outcome_is_looked_up_before_any_retry(store: LocalIssueTracker) -> None:
    flaky = Flaky(store, lost=1)
    outcome = filer(flaky, InMemoryTicketLedger()).file(draft())
    assert outcome.action is FilingAction.CREATED
    assert "found by its fingerprint label" in outcome.reason
    assert flaky.creates == 1, "found by label: never re-sent"
    assert len(store.search(jql="")) == 1


def test_refused_creates_are_retried_and_a_tracker_outage_leaves_nothing_claimed(store: LocalIssueTracker) -> None:
    ledger = InMemoryTicketLedger()
    assert filer(Flaky(store, refused=2), ledger).file(draft()).action is FilingAction.CREATED
    down = Flaky(store, refused=99)
    outcome = filer(down, ledger).file(draft(1))
    assert outcome.action is FilingAction.SKIPPED
    assert "unavailable" in outcome.reason
    assert ledger.get(fingerprint=fingerprint(1)) is None, "certainly not created: the next run may try again"
    assert filer(store, ledger).file(draft(1)).action is FilingAction.CREATED


def test_unresolved_unknown_outcome_is_resolved_by_the_next_filer(store: LocalIssueTracker) -> None:
    ledger = InMemoryTicketLedger()
    flaky = Flaky(store, lost=1, lookups_ok=1, lookups_fail=99)
    outcome = filer(flaky, ledger).file(draft())
    assert outcome.action is FilingAction.SKIPPED
    entry = ledger.get(fingerprint=fingerprint(0))
    assert entry is not None
    assert entry.state is LedgerState.UNKNOWN
    later = filer(store, ledger).file(draft())
    assert later.action is FilingAction.SKIPPED, "found by label, adopted, unchanged"
    assert len(store.search(jql="")) == 1
    entry = ledger.get(fingerprint=fingerprint(0))
    assert entry is not None
    assert (entry.state, entry.ticket_key) == (LedgerState.FILED, later.ticket_key)


def test_stale_claims_of_dead_workers_are_taken_over_by_label_lookup(store: LocalIssueTracker) -> None:
    ledger = InMemoryTicketLedger()
    clock = Clock()
    # Worker "dead" claimed both and created the first ticket, then died before recording either.
    ledger.claim(fingerprint=fingerprint(0), claimed_by="dead", now=NOW)
    ledger.claim(fingerprint=fingerprint(1), claimed_by="dead", now=NOW)
    created = store.create(draft=TicketFiler(store, ledger).prepare(draft(0)))
    waiting = filer(store, ledger, clock=clock).file(draft(0))
    assert waiting.action is FilingAction.SKIPPED
    assert "in progress" in waiting.reason
    clock.now = NOW + timedelta(seconds=FAST.claim_stale_seconds + 1)
    adopted = filer(store, ledger, clock=clock).file(draft(0))
    assert adopted.ticket_key == created.key
    assert filer(store, ledger, clock=clock).file(draft(1)).action is FilingAction.CREATED
    assert len(store.search(jql="")) == 2


def test_invalid_drafts_are_refused_and_release_their_claim(store: LocalIssueTracker) -> None:
    ledger = InMemoryTicketLedger()
    with pytest.raises(InvalidInput):
        filer(store, ledger).file(draft(fingerprint=None))
    with pytest.raises(InvalidInput):
        filer(store, ledger).file(draft(fingerprint="not hex"))
    with pytest.raises(InvalidInput):
        filer(store, ledger).file(draft(issue_type="Saga"))
    assert ledger.entries() == []
    outcomes = filer(store, ledger).file_many([draft(issue_type="Saga"), draft(1)])
    assert [o.action for o in outcomes] == [FilingAction.SKIPPED, FilingAction.CREATED]


def test_lost_ledger_is_rebuilt_from_the_tracker(store: LocalIssueTracker) -> None:
    first = filer(store, InMemoryTicketLedger()).file_many([draft(n) for n in range(5)])
    store.create(draft=draft(99, labels=("unrelated",), fingerprint=None))
    fresh = InMemoryTicketLedger()
    report = filer(store, fresh).rebuild_from_tracker("LOCAL")
    assert (report.tickets, report.fingerprints, report.adopted) == (5, 5, 5)
    assert {e.ticket_key for e in fresh.entries()} == {o.ticket_key for o in first}
    again = filer(store, fresh).file_many([draft(n) for n in range(5)])
    assert {o.action for o in again} == {FilingAction.SKIPPED}
    assert len(store.search(jql="")) == 6
    assert filer(store, fresh).rebuild_from_tracker("LOCAL").adopted == 0
