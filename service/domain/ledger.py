"""The ticket ledger: which finding fingerprint has which ticket, and who is filing it right now."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum


class LedgerState(StrEnum):
    """``CLAIMED``: a filer is creating the ticket. ``UNKNOWN``: its create may have happened (look it up by
    label before creating again). ``FILED``: the ticket exists and ``ticket_key`` names it.
    """

    CLAIMED = "claimed"
    UNKNOWN = "unknown"
    FILED = "filed"


@dataclass(frozen=True, slots=True)
class LedgerEntry:
    """One fingerprint's row. ``ticket_key`` is set once FILED; while a successor of a closed ticket is being
    filed (CLAIMED or UNKNOWN) it still names the closed predecessor. ``content_hash`` is the hash of the text
    last sent for it, so an unchanged finding is not commented on again.
    """

    fingerprint: str
    state: LedgerState
    ticket_key: str | None
    claimed_by: str
    claimed_at: datetime
    content_hash: str | None = None


@dataclass(frozen=True, slots=True)
class ClaimResult:
    """What :meth:`TicketLedger.claim` found: ``won`` when this caller now holds a fresh claim."""

    won: bool
    entry: LedgerEntry
