"""Filing findings as tickets, with no duplicates across runs, restarts, retries and concurrent workers.

The ledger is the source of truth: a finding's fingerprint is claimed there (an atomic insert on a unique key)
before the tracker is asked to create anything, so of two workers only one ever creates. The ticket also
carries the fingerprint as a ``ts-fp-<fingerprint>`` label and a marker label, so:

- a create whose outcome is unknown (timeout, 5xx, dropped connection) is looked up by label before any retry;
- a claim left behind by a worker that died (older than ``claim_stale_seconds``), or left UNKNOWN by a filer
  that gave up, is taken over with a compare-and-set and resolved the same way, by label, before creating;
- a lost ledger is rebuilt from the tracker by the marker label (:meth:`TicketFiler.rebuild_from_tracker`).

A fingerprint seen again whose ticket is open gets a comment when its text changed (nothing when it did not);
one whose ticket is closed is reopened, or followed by a new ticket linked to it, or ignored, by policy.
"""

from __future__ import annotations

import hashlib
import itertools
import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from enum import StrEnum
from typing import Literal, TypeVar

from service.domain.ledger import LedgerEntry, LedgerState
from service.domain.tickets import StatusCategory, Ticket, TicketDraft
from service.errors import InvalidInput, NotFound, OutcomeUnknown, TicketsmithError, UpstreamFailed
from service.ports.issue_tracker import IssueTracker
from service.ports.ticket_ledger import TicketLedger
from service.tickets.limits import cut_body, cut_summary, fingerprint_label, label

logger = logging.getLogger(__name__)
T = TypeVar("T")


class FilingAction(StrEnum):
    CREATED = "created"
    UPDATED = "updated"
    COMMENTED = "commented"
    REOPENED = "reopened"
    LINKED = "linked"
    SKIPPED = "skipped"


@dataclass(frozen=True, slots=True)
class FilingOutcome:
    """What filing one draft did. ``ticket_key`` names the ticket concerned (None when there is none yet)."""

    action: FilingAction
    fingerprint: str
    ticket_key: str | None
    reason: str


@dataclass(frozen=True, slots=True)
class RebuildReport:
    """What :meth:`TicketFiler.rebuild_from_tracker` found: tickets carrying the marker label, the distinct
    fingerprints among them, and how many ledger rows it wrote."""

    tickets: int
    fingerprints: int
    adopted: int


@dataclass(frozen=True, slots=True)
class FilingPolicy:
    """How the filer behaves; built from ``TICKETSMITH_TICKETS__*`` by the container."""

    closed_ticket_policy: Literal["reopen", "link", "ignore"] = "reopen"
    reopen_status: str = "To Do"
    marker_label: str = "ticketsmith"
    claim_stale_seconds: float = 300.0
    wait_seconds: float = 10.0
    poll_seconds: float = 0.2
    attempts: int = 4
    lookup_attempts: int = 3
    retry_delay_seconds: float = 1.0


REBUILD_LIMIT = 1_000_000


def _quoted(value: str) -> str:
    """A JQL string literal."""
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def content_hash(draft: TicketDraft) -> str:
    """Hash of the text a ticket was filed or last commented with."""
    return hashlib.sha256(f"{draft.summary}\0{draft.description}".encode()).hexdigest()


def _number(ticket: Ticket) -> tuple[int, str]:
    return (int(ticket.id), ticket.key) if ticket.id.isdigit() else (0, ticket.key)


def best_ticket(tickets: Iterable[Ticket], *, exclude: str | None = None, open_only: bool = False) -> Ticket | None:
    """The ticket a fingerprint stands for among those carrying its label: open before closed, newest first."""
    candidates = [
        t for t in tickets if t.key != exclude and not (open_only and t.status_category is StatusCategory.DONE)
    ]
    if not candidates:
        return None
    return max(candidates, key=lambda t: (t.status_category is not StatusCategory.DONE, _number(t)))


class TicketFiler:
    """Files drafts that carry a fingerprint through ``tracker``, guarded by ``ledger``.

    ``worker_id`` names the filer in the ledger; each :meth:`file` call holds its claims as
    ``<worker_id>/<n>``, so calls running at once in several threads of one filer exclude each other exactly as
    separate workers do. Several filers may run at once in one or many
    processes on a shared ledger. Transient tracker failures give a SKIPPED outcome that leaves the ledger
    consistent for the next run; a draft the tracker refuses raises :class:`InvalidInput` (nothing is kept).
    """

    def __init__(
        self,
        tracker: IssueTracker,
        ledger: TicketLedger,
        policy: FilingPolicy | None = None,
        *,
        worker_id: str | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.tracker = tracker
        self.ledger = ledger
        self.policy = policy or FilingPolicy()
        self.worker_id = worker_id or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self._clock = clock
        self._sleep = sleep
        self._calls = itertools.count(1)
        self._local = threading.local()

    @property
    def _holder(self) -> str:
        """This call's name in the ledger (set by :meth:`file` for the thread running it)."""
        holder: str = self._local.holder
        return holder

    # --- the public operations -------------------------------------------------------------------------

    def prepare(self, draft: TicketDraft) -> TicketDraft:
        """The draft as it will be sent: Jira's limits applied, fingerprint and marker labels added."""
        if not draft.fingerprint:
            raise InvalidInput("a ticket filed without duplicates needs a fingerprint", hint="pass the finding's")
        try:
            labels = [label(x) for x in draft.labels]
            labels += [self.policy.marker_label, fingerprint_label(draft.fingerprint)]
        except ValueError as exc:
            raise InvalidInput(str(exc), hint="fingerprints are 8 to 64 lower-case hex digits") from None
        return replace(
            draft,
            summary=cut_summary(draft.summary),
            description=cut_body(draft.description),
            labels=tuple(dict.fromkeys(labels)),
        )

    def file(self, draft: TicketDraft) -> FilingOutcome:
        """File ``draft`` unless its fingerprint already has a ticket; see the module docstring."""
        prepared = self.prepare(draft)
        fingerprint = str(prepared.fingerprint)
        self._local.holder = f"{self.worker_id}/{next(self._calls)}"
        deadline = time.monotonic() + self.policy.wait_seconds
        while True:
            now = self._clock()
            claim = self.ledger.claim(fingerprint=fingerprint, claimed_by=self._holder, now=now)
            if claim.won:
                return self._resolve_and_create(prepared, claim.entry, patient=False)
            entry = claim.entry
            if entry.state is LedgerState.FILED:
                outcome = self._existing(prepared, entry)
                if outcome is not None:
                    return outcome
                continue
            age = (now - entry.claimed_at).total_seconds()
            abandoned = entry.state is LedgerState.UNKNOWN
            if abandoned or age >= self.policy.claim_stale_seconds:
                held = self.ledger.take_over(expected=entry, claimed_by=self._holder, now=now)
                if held is not None:
                    logger.info("ticket claim taken over fingerprint=%s from=%s", fingerprint, entry.claimed_by)
                    return self._resolve_and_create(prepared, held, patient=True)
                continue
            if time.monotonic() >= deadline:
                return FilingOutcome(
                    FilingAction.SKIPPED,
                    fingerprint,
                    entry.ticket_key,
                    f"in progress: {entry.claimed_by} claimed it at {entry.claimed_at.isoformat()}",
                )
            self._sleep(self.policy.poll_seconds)

    def file_many(self, drafts: Sequence[TicketDraft]) -> list[FilingOutcome]:
        """:meth:`file` for each draft; a refused draft gives a SKIPPED outcome naming the reason."""
        outcomes: list[FilingOutcome] = []
        for draft in drafts:
            try:
                outcomes.append(self.file(draft))
            except TicketsmithError as exc:
                outcomes.append(FilingOutcome(FilingAction.SKIPPED, draft.fingerprint or "", None, exc.message))
        return outcomes

    def rebuild_from_tracker(self, project_key: str) -> RebuildReport:
        """Record in the ledger every ticket of ``project_key`` carrying the marker label (after a lost ledger).

        Rows already FILED are kept; CLAIMED or UNKNOWN rows whose ticket is found become FILED.
        """
        # A search rather than find_by_label, which adapters may cap (a fingerprint label has one or two tickets;
        # the marker label has all of them).
        jql = f"project = {_quoted(project_key)} AND labels = {_quoted(self.policy.marker_label)} ORDER BY created ASC"
        tickets = self._call(lambda: self.tracker.search(jql=jql, limit=REBUILD_LIMIT))
        prefix = fingerprint_label("0" * 8)[:-8]
        by_fingerprint: dict[str, list[Ticket]] = {}
        for ticket in tickets:
            for name in ticket.labels:
                if name.startswith(prefix):
                    by_fingerprint.setdefault(name[len(prefix) :], []).append(ticket)
        adopted = 0
        for fingerprint, found in by_fingerprint.items():
            chosen = best_ticket(found)
            assert chosen is not None
            adopted += self.ledger.adopt(fingerprint=fingerprint, ticket_key=chosen.key, now=self._clock())
        return RebuildReport(tickets=len(tickets), fingerprints=len(by_fingerprint), adopted=adopted)

    # --- creating --------------------------------------------------------------------------------------

    def _call(self, work: Callable[[], T]) -> T:
        """``work`` retried on UpstreamFailed (never on OutcomeUnknown: that write may have happened)."""
        for attempt in range(self.policy.attempts):
            try:
                return work()
            except OutcomeUnknown:
                raise
            except UpstreamFailed:
                if attempt + 1 == self.policy.attempts:
                    raise
                self._sleep(self.policy.retry_delay_seconds * 2**attempt)
        raise AssertionError("unreachable")

    def _lookup(self, draft: TicketDraft, *, predecessor: str | None, patient: bool) -> Ticket | None:
        """The ticket carrying the draft's fingerprint label, other than a closed ``predecessor``; searched
        again after a pause when ``patient`` (Jira's search is eventually consistent)."""
        wanted = fingerprint_label(str(draft.fingerprint))
        for attempt in range(self.policy.lookup_attempts if patient else 1):
            if attempt:
                self._sleep(self.policy.retry_delay_seconds)
            found = self._call(lambda: self.tracker.find_by_label(project_key=draft.project_key, label=wanted))
            ticket = best_ticket(found, exclude=predecessor, open_only=predecessor is not None)
            if ticket is not None:
                return ticket
        return None

    def _heartbeat(self, fingerprint: str) -> None:
        self.ledger.mark(fingerprint=fingerprint, claimed_by=self._holder, state=LedgerState.CLAIMED, now=self._clock())

    def _resolve_and_create(self, draft: TicketDraft, held: LedgerEntry, *, patient: bool) -> FilingOutcome:
        """We hold the claim: adopt a ticket already carrying the label, else create one. ``patient`` when the
        claim was taken over (a create may have happened before), so the lookup is repeated before creating."""
        fingerprint = held.fingerprint
        predecessor = held.ticket_key
        try:
            found = self._lookup(draft, predecessor=predecessor, patient=patient)
        except UpstreamFailed:
            if patient:
                self.ledger.mark(
                    fingerprint=fingerprint, claimed_by=self._holder, state=LedgerState.UNKNOWN, now=self._clock()
                )
            else:
                self.ledger.release(fingerprint=fingerprint, claimed_by=self._holder)
            return FilingOutcome(FilingAction.SKIPPED, fingerprint, predecessor, "the tracker is unavailable")
        if found is not None:
            entry = self.ledger.record_filed(
                fingerprint=fingerprint,
                claimed_by=self._holder,
                ticket_key=found.key,
                content_hash=None,
                now=self._clock(),
            )
            if entry is None:
                return FilingOutcome(FilingAction.SKIPPED, fingerprint, found.key, "another worker took the claim")
            return self._existing(draft, entry) or FilingOutcome(
                FilingAction.SKIPPED, fingerprint, found.key, "the ledger changed meanwhile"
            )
        return self._create(draft, fingerprint, predecessor)

    def _create(self, draft: TicketDraft, fingerprint: str, predecessor: str | None) -> FilingOutcome:
        uncertain = False
        for attempt in range(self.policy.attempts):
            if attempt:
                self._sleep(self.policy.retry_delay_seconds * 2 ** (attempt - 1))
                self._heartbeat(fingerprint)
            try:
                ticket = self.tracker.create(draft=draft)
            except OutcomeUnknown:
                uncertain = True
                self._heartbeat(fingerprint)
                try:
                    ticket_or_none = self._lookup(draft, predecessor=predecessor, patient=True)
                except UpstreamFailed:
                    break
                if ticket_or_none is None:
                    continue
                ticket = ticket_or_none
                reason = "created; the tracker's answer was lost, so it was found by its fingerprint label"
                return self._filed(draft, fingerprint, ticket, predecessor, reason)
            except UpstreamFailed:
                continue
            except TicketsmithError:
                self.ledger.release(fingerprint=fingerprint, claimed_by=self._holder)
                raise
            return self._filed(draft, fingerprint, ticket, predecessor, "created")
        if uncertain:
            self.ledger.mark(
                fingerprint=fingerprint, claimed_by=self._holder, state=LedgerState.UNKNOWN, now=self._clock()
            )
            return FilingOutcome(
                FilingAction.SKIPPED, fingerprint, None, "the create's outcome is unknown; the next run looks it up"
            )
        self.ledger.release(fingerprint=fingerprint, claimed_by=self._holder)
        return FilingOutcome(FilingAction.SKIPPED, fingerprint, None, "the tracker is unavailable; nothing was created")

    def _filed(
        self, draft: TicketDraft, fingerprint: str, ticket: Ticket, predecessor: str | None, reason: str
    ) -> FilingOutcome:
        entry = self.ledger.record_filed(
            fingerprint=fingerprint,
            claimed_by=self._holder,
            ticket_key=ticket.key,
            content_hash=content_hash(draft),
            now=self._clock(),
        )
        if entry is None:
            logger.warning("ticket filed after its claim was taken over fingerprint=%s key=%s", fingerprint, ticket.key)
        if predecessor is None:
            return FilingOutcome(FilingAction.CREATED, fingerprint, ticket.key, reason)
        try:
            self._call(lambda: self.tracker.link(from_key=ticket.key, to_key=predecessor, link_type="Relates"))
        except (NotFound, UpstreamFailed) as exc:
            return FilingOutcome(FilingAction.CREATED, fingerprint, ticket.key, f"{reason}; not linked: {exc}")
        return FilingOutcome(FilingAction.LINKED, fingerprint, ticket.key, f"{reason}, linked to closed {predecessor}")

    # --- a fingerprint that already has a ticket -------------------------------------------------------

    def _existing(self, draft: TicketDraft, entry: LedgerEntry) -> FilingOutcome | None:
        """Comment, update, reopen, link or skip; None when the ledger row changed and must be read again."""
        fingerprint, key = entry.fingerprint, str(entry.ticket_key)
        try:
            ticket = self._call(lambda: self.tracker.get(key=key))
        except NotFound:
            # Deleted in the tracker: file it again (the old key is kept only as the predecessor to skip).
            held = self.ledger.take_over(expected=entry, claimed_by=self._holder, now=self._clock())
            return None if held is None else self._create(draft, fingerprint, None)
        except UpstreamFailed:
            return FilingOutcome(FilingAction.SKIPPED, fingerprint, key, "the tracker is unavailable")
        if ticket.status_category is StatusCategory.DONE:
            return self._closed(draft, entry, ticket)
        return self._open(draft, entry, ticket)

    def _open(self, draft: TicketDraft, entry: LedgerEntry, ticket: Ticket) -> FilingOutcome:
        fingerprint, digest = entry.fingerprint, content_hash(draft)
        missing = [x for x in draft.labels if x not in ticket.labels]
        try:
            if missing:
                self._call(lambda: self.tracker.set_labels(key=ticket.key, labels=[*ticket.labels, *missing]))
            unchanged = entry.content_hash == digest or (entry.content_hash is None and ticket.summary == draft.summary)
            if unchanged:
                self.ledger.update_hash(fingerprint=fingerprint, ticket_key=ticket.key, content_hash=digest)
                if missing:
                    return FilingOutcome(
                        FilingAction.UPDATED, fingerprint, ticket.key, f"labels restored: {', '.join(missing)}"
                    )
                return FilingOutcome(FilingAction.SKIPPED, fingerprint, ticket.key, "already filed; unchanged")
            body = f"**Seen again, changed:** {draft.summary}\n\n{draft.description}"
            self.tracker.comment(key=ticket.key, body=cut_body(body))
        except UpstreamFailed as exc:
            return FilingOutcome(FilingAction.SKIPPED, fingerprint, ticket.key, f"not updated: {exc.message}")
        self.ledger.update_hash(fingerprint=fingerprint, ticket_key=ticket.key, content_hash=digest)
        return FilingOutcome(FilingAction.COMMENTED, fingerprint, ticket.key, "already filed; the change is commented")

    def _closed(self, draft: TicketDraft, entry: LedgerEntry, ticket: Ticket) -> FilingOutcome | None:
        fingerprint, policy = entry.fingerprint, self.policy.closed_ticket_policy
        if policy == "ignore":
            reason = f"{ticket.key} is closed ({ticket.status})"
            return FilingOutcome(FilingAction.SKIPPED, fingerprint, ticket.key, reason)
        if policy == "link":
            held = self.ledger.take_over(expected=entry, claimed_by=self._holder, now=self._clock())
            return None if held is None else self._resolve_and_create(draft, held, patient=False)
        try:
            self._call(lambda: self.tracker.transition(key=ticket.key, status=self.policy.reopen_status))
            body = f"**Seen again after it was closed:** {draft.summary}\n\n{draft.description}"
            self.tracker.comment(key=ticket.key, body=cut_body(body))
        except UpstreamFailed as exc:
            return FilingOutcome(FilingAction.SKIPPED, fingerprint, ticket.key, f"not reopened: {exc.message}")
        self.ledger.update_hash(fingerprint=fingerprint, ticket_key=ticket.key, content_hash=content_hash(draft))
        reason = f"reopened ({ticket.status} → {self.policy.reopen_status})"
        return FilingOutcome(FilingAction.REOPENED, fingerprint, ticket.key, reason)
