"""One contract for :class:`TicketLedger`, run against every implementation: in-memory, SQLite, PostgreSQL."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine

from service.adapters.tickets.ledger import SqlTicketLedger
from service.adapters.tickets.memory import InMemoryTicketLedger
from service.domain.ledger import LedgerState
from service.ports.ticket_ledger import TicketLedger

NOW = datetime(2026, 12, 1, 12, 0, 0, 123456, tzinfo=UTC)
FP = "0123456789abcdef"


@pytest.fixture
def ledger(database: Engine | None) -> TicketLedger:
    return InMemoryTicketLedger() if database is None else SqlTicketLedger(database)


def test_first_claim_wins_and_the_second_sees_it(ledger: TicketLedger) -> None:
    first = ledger.claim(fingerprint=FP, claimed_by="a", now=NOW)
    second = ledger.claim(fingerprint=FP, claimed_by="b", now=NOW + timedelta(seconds=1))
    assert first.won
    assert not second.won
    assert second.entry == first.entry
    assert (first.entry.state, first.entry.claimed_by, first.entry.claimed_at) == (LedgerState.CLAIMED, "a", NOW)
    assert ledger.get(fingerprint=FP) == first.entry
    assert ledger.get(fingerprint="f" * 16) is None


def test_only_the_holder_records_the_ticket(ledger: TicketLedger) -> None:
    ledger.claim(fingerprint=FP, claimed_by="a", now=NOW)
    assert ledger.record_filed(fingerprint=FP, claimed_by="b", ticket_key="X-1", content_hash=None, now=NOW) is None
    filed = ledger.record_filed(fingerprint=FP, claimed_by="a", ticket_key="X-1", content_hash="h1", now=NOW)
    assert filed is not None
    assert (filed.state, filed.ticket_key, filed.content_hash) == (LedgerState.FILED, "X-1", "h1")
    assert ledger.record_filed(fingerprint=FP, claimed_by="a", ticket_key="X-2", content_hash=None, now=NOW) is None
    assert ledger.mark(fingerprint=FP, claimed_by="a", state=LedgerState.UNKNOWN, now=NOW) is None
    ledger.update_hash(fingerprint=FP, ticket_key="X-1", content_hash="h2")
    ledger.update_hash(fingerprint=FP, ticket_key="X-9", content_hash="ignored")
    assert ledger.entries() == [ledger.get(fingerprint=FP)]
    assert ledger.entries(state=LedgerState.FILED)[0].content_hash == "h2"
    assert ledger.entries(state=LedgerState.CLAIMED) == []


def test_take_over_is_a_compare_and_set(ledger: TicketLedger) -> None:
    stale = ledger.claim(fingerprint=FP, claimed_by="dead", now=NOW).entry
    later = NOW + timedelta(minutes=10)
    taken = ledger.take_over(expected=stale, claimed_by="b", now=later)
    assert taken is not None
    assert (taken.claimed_by, taken.claimed_at) == ("b", later)
    assert ledger.take_over(expected=stale, claimed_by="c", now=later) is None, "the row moved on"
    unknown = ledger.mark(fingerprint=FP, claimed_by="b", state=LedgerState.UNKNOWN, now=later)
    assert unknown is not None
    assert unknown.state is LedgerState.UNKNOWN
    again = ledger.take_over(expected=unknown, claimed_by="c", now=later)
    assert again is not None
    assert (again.state, again.claimed_by) == (LedgerState.CLAIMED, "c")


def test_release_deletes_a_fresh_claim_and_restores_a_successor_claim(ledger: TicketLedger) -> None:
    ledger.claim(fingerprint=FP, claimed_by="a", now=NOW)
    assert not ledger.release(fingerprint=FP, claimed_by="b")
    assert ledger.release(fingerprint=FP, claimed_by="a")
    assert ledger.get(fingerprint=FP) is None
    ledger.claim(fingerprint=FP, claimed_by="a", now=NOW)
    filed = ledger.record_filed(fingerprint=FP, claimed_by="a", ticket_key="X-1", content_hash="h", now=NOW)
    assert filed is not None
    successor = ledger.take_over(expected=filed, claimed_by="b", now=NOW)
    assert successor is not None
    assert successor.ticket_key == "X-1", "the closed predecessor is kept"
    assert ledger.release(fingerprint=FP, claimed_by="b")
    back = ledger.get(fingerprint=FP)
    assert back is not None
    assert (back.state, back.ticket_key) == (LedgerState.FILED, "X-1")


def test_adopt_fills_gaps_and_never_overwrites_a_filed_row(ledger: TicketLedger) -> None:
    assert ledger.adopt(fingerprint=FP, ticket_key="X-1", now=NOW)
    assert not ledger.adopt(fingerprint=FP, ticket_key="X-2", now=NOW)
    assert ledger.get(fingerprint=FP) is not None
    assert ledger.get(fingerprint=FP).ticket_key == "X-1"  # type: ignore[union-attr]
    other = "fedcba9876543210"
    ledger.claim(fingerprint=other, claimed_by="a", now=NOW)
    assert ledger.adopt(fingerprint=other, ticket_key="X-3", now=NOW)
    assert [(e.fingerprint, e.state, e.ticket_key) for e in ledger.entries()] == [
        (FP, LedgerState.FILED, "X-1"),
        (other, LedgerState.FILED, "X-3"),
    ]


def test_concurrent_claims_have_exactly_one_winner(ledger: TicketLedger) -> None:
    winners: list[str] = []
    barrier = threading.Barrier(8)

    def race(name: str) -> None:
        barrier.wait()
        for n in range(20):
            if ledger.claim(fingerprint=f"{n:016x}", claimed_by=name, now=NOW).won:
                winners.append(f"{n}:{name}")

    threads = [threading.Thread(target=race, args=(f"w{i}",)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(int(w.split(":")[0]) for w in winners) == list(range(20))
    assert {e.claimed_by for e in ledger.entries()} <= {f"w{i}" for i in range(8)}
