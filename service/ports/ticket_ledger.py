"""Port: the ticket ledger, the local source of truth that keeps one ticket per finding fingerprint."""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

from service.domain.ledger import ClaimResult, LedgerEntry, LedgerState


class TicketLedger(Protocol):
    """fingerprint → (state, ticket key, claimed by, claimed at). Safe for many filers in many processes.

    Every state change is a compare-and-set on the holder (``claimed_by`` and ``claimed_at``), so two filers
    never both believe they hold a fingerprint. Every method that changes a row takes ``now`` (UTC).
    """

    def claim(self, *, fingerprint: str, claimed_by: str, now: datetime) -> ClaimResult:
        """Insert a CLAIMED row for ``fingerprint`` unless one exists (atomic, on the unique fingerprint).

        ``won`` is True when this call inserted it; otherwise the existing row is returned untouched.
        """
        ...

    def take_over(self, *, expected: LedgerEntry, claimed_by: str, now: datetime) -> LedgerEntry | None:
        """Hold the row again (CLAIMED, by ``claimed_by`` at ``now``) if it is still exactly ``expected``
        (same state, holder and claim time); None when someone else changed it first. The ticket key and
        content hash are kept: on a FILED row the key becomes the predecessor of the ticket about to be filed.
        """
        ...

    def mark(self, *, fingerprint: str, claimed_by: str, state: LedgerState, now: datetime) -> LedgerEntry | None:
        """Set the state (CLAIMED or UNKNOWN) of a row ``claimed_by`` holds and refresh its claim time; None
        when the caller no longer holds it."""
        ...

    def record_filed(
        self, *, fingerprint: str, claimed_by: str, ticket_key: str, content_hash: str | None, now: datetime
    ) -> LedgerEntry | None:
        """FILED with ``ticket_key``, if ``claimed_by`` holds the row; None when it does not any more."""
        ...

    def update_hash(self, *, fingerprint: str, ticket_key: str, content_hash: str) -> None:
        """Remember the text last sent to a FILED row's ticket. Does nothing if the row moved on."""
        ...

    def release(self, *, fingerprint: str, claimed_by: str) -> bool:
        """Give up a claim whose create certainly did not happen: a row with no ticket is deleted, a
        successor claim goes back to FILED on its predecessor. False when the caller did not hold it."""
        ...

    def adopt(self, *, fingerprint: str, ticket_key: str, now: datetime) -> bool:
        """Record a ticket found in the tracker (ledger rebuild). Inserts a FILED row, or turns a CLAIMED or
        UNKNOWN one into FILED; a FILED row is left alone. True when something changed."""
        ...

    def get(self, *, fingerprint: str) -> LedgerEntry | None:
        """The row for ``fingerprint``, or None."""
        ...

    def entries(self, *, state: LedgerState | None = None) -> list[LedgerEntry]:
        """Every row (optionally in one state), by fingerprint."""
        ...
