"""Port: an issue tracker (Jira Cloud, Jira Server/Data Center, or the local dry-run store)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from service.domain.tickets import Comment, Ticket, TicketDraft, TrackerReport


class IssueTracker(Protocol):
    """Tickets in one tracker. Vendor payloads and exceptions never cross this port.

    Errors: :class:`service.errors.NotFound` for an unknown key; :class:`service.errors.InvalidInput` when the
    tracker refuses what was sent (its message says which field); :class:`service.errors.UpstreamFailed` when
    the tracker cannot be reached or keeps failing after the adapter's own retries (429/503 with
    ``Retry-After`` honoured, back-off with jitter); :class:`service.errors.OutcomeUnknown` when a write may or
    may not have happened (timeout, 5xx or dropped connection on a create). Adapters never re-send a create by
    themselves: the caller looks the ticket up by its fingerprint label first.
    """

    @property
    def name(self) -> str:
        """``jira-cloud``, ``jira-dc`` or ``local``."""
        ...

    @property
    def sends(self) -> bool:
        """False for the local dry-run store: nothing leaves the machine."""
        ...

    def create(self, *, draft: TicketDraft) -> Ticket:
        """Create one ticket. Not idempotent. Raises OutcomeUnknown when the create may have happened."""
        ...

    def create_many(self, *, drafts: Sequence[TicketDraft]) -> list[Ticket | Exception]:
        """Create several tickets (bulk where the tracker has it); one result per draft, in order.

        A draft the tracker refused gives an ``InvalidInput``; a batch whose outcome is unknown gives an
        ``OutcomeUnknown`` for each of its drafts.
        """
        ...

    def get(self, *, key: str) -> Ticket:
        """The ticket with this key."""
        ...

    def search(self, *, jql: str, limit: int = 50) -> list[Ticket]:
        """Tickets matching ``jql`` (all pages up to ``limit``), in the tracker's order."""
        ...

    def find_by_label(self, *, project_key: str, label: str) -> list[Ticket]:
        """Tickets of the project carrying ``label`` (used to rebuild the ledger and to resolve unknown creates)."""
        ...

    def comment(self, *, key: str, body: str) -> Comment:
        """Add a Markdown comment (rendered for the tracker). Not idempotent."""
        ...

    def comments(self, *, key: str) -> list[Comment]:
        """The ticket's comments, oldest first."""
        ...

    def transition(self, *, key: str, status: str) -> Ticket:
        """Move the ticket to the status with this *name* (case-insensitive), via whichever transition leads
        there. Already in that status: nothing happens. No such transition: InvalidInput naming those available.
        """
        ...

    def link(self, *, from_key: str, to_key: str, link_type: str = "Relates") -> None:
        """Link two tickets with a link type by name. Idempotent."""
        ...

    def set_labels(self, *, key: str, labels: Sequence[str]) -> Ticket:
        """Replace the ticket's labels. Idempotent."""
        ...

    def check(self, *, project_key: str | None) -> TrackerReport:
        """Verify connection, credentials, the project, its issue types and required create fields. Never raises
        for a problem it can describe; the report lists them.
        """
        ...
