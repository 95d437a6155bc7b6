"""The local ticket store: the embedded dry-run :class:`IssueTracker` used when no Jira is configured.

Tickets, comments and links are rows in the service database (SQLite or PostgreSQL); nothing leaves the
machine. Keys are ``<PROJECT>-<n>`` (``LOCAL-1``) with ``n`` the row id, so they are unique without a counter.
The workflow is Jira's default: To Do ⇄ In Progress → Done, To Do → Done, Done → To Do (reopen).
Like the Jira adapters it applies Jira's limits before storing (summary cut to 255 characters, body to
32,767, labels without spaces) and refuses what Jira refuses (an empty summary, unknown projects, issue
types, link types and transitions), so a dry run shows the same mistakes a real tracker would.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, Engine, StaticPool, Text, cast, create_engine, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite

from service.adapters.storage.engine import utc, write_transaction
from service.adapters.storage.schema import local_ticket_comments, local_ticket_links, local_tickets, metadata
from service.adapters.tickets.jql import compile_jql
from service.domain.tickets import Comment, StatusCategory, Ticket, TicketDraft, TrackerProblem, TrackerReport
from service.errors import InvalidInput, NotFound, TicketsmithError
from service.tickets.limits import cut_body, cut_summary, fingerprint_label, label

WORKFLOW = {
    "To Do": ("In Progress", "Done"),
    "In Progress": ("Done", "To Do"),
    "Done": ("To Do",),
}
STATUSES: dict[str, tuple[str, StatusCategory]] = {
    "to do": ("To Do", StatusCategory.NEW),
    "in progress": ("In Progress", StatusCategory.IN_PROGRESS),
    "done": ("Done", StatusCategory.DONE),
}
ISSUE_TYPES = ("Task", "Bug", "Story", "Epic")
LINK_TYPES = ("Relates", "Blocks", "Duplicate", "Cloners")
# At most 18 digits: a longer number cannot be a row id (SQLite integers are 64-bit), so it is simply not found.
_KEY = re.compile(r"^([A-Z][A-Z0-9_]*)-([1-9][0-9]{0,17})$")
_PROJECT = re.compile(r"^[A-Z][A-Z0-9_]{0,31}$")


def _labels(raw: Sequence[str]) -> list[str]:
    try:
        return list(dict.fromkeys(label(x) for x in raw))
    except ValueError as exc:
        raise InvalidInput(f"labels: {exc}") from None


def _draft_labels(draft: TicketDraft) -> list[str]:
    labels = list(draft.labels)
    if draft.fingerprint:
        try:
            labels.append(fingerprint_label(draft.fingerprint))
        except ValueError as exc:
            raise InvalidInput(f"labels: {exc}", hint="fingerprints are 8 to 64 lower-case hex digits") from None
    return _labels(labels)


class LocalIssueTracker:
    """:class:`service.ports.issue_tracker.IssueTracker` kept in the service database. ``sends`` is False."""

    name = "local"
    sends = False

    def __init__(
        self,
        engine: Engine,
        *,
        projects: Sequence[str] | None = None,
        author: str = "ticketsmith",
        clock: Any = None,
    ) -> None:
        """``projects`` are the keys tickets may be filed in (None: any well-formed key)."""
        self._engine = engine
        self._projects = None if projects is None else tuple(p.upper() for p in projects)
        self._author = author
        self._clock = clock or (lambda: datetime.now(UTC))
        dialect = postgresql if engine.dialect.name == "postgresql" else sqlite
        self._insert_link = dialect.insert(local_ticket_links)
        # One process's calls take turns: the in-memory variant shares a single connection between threads,
        # and the file or server database serialises writers anyway.
        self._lock = threading.RLock()

    @contextmanager
    def _read(self) -> Iterator[Connection]:
        with self._lock, self._engine.connect() as connection:
            yield connection

    @contextmanager
    def _write(self) -> Iterator[Connection]:
        with self._lock, write_transaction(self._engine) as connection:
            yield connection

    # --- reading ---------------------------------------------------------------------------------------

    def _ticket(self, row: Any) -> Ticket:
        name, category = STATUSES[row.status.lower()]
        key = f"{row.project_key}-{row.id}"
        return Ticket(
            key=key,
            id=str(row.id),
            url=f"local:///browse/{key}",
            project_key=row.project_key,
            summary=row.summary,
            description=row.description,
            issue_type=row.issue_type,
            status=name,
            status_category=category,
            labels=tuple(row.labels),
            created=utc(row.created_at),
            updated=utc(row.updated_at),
        )

    @staticmethod
    def _row_id(key: str) -> tuple[str, int]:
        match = _KEY.match(key.strip().upper())
        if match is None:
            raise NotFound(f"issue {key!r} does not exist", hint="keys look like LOCAL-1")
        return match.group(1), int(match.group(2))

    def _row(self, connection: Any, key: str) -> Any:
        project, number = self._row_id(key)
        row = connection.execute(
            select(local_tickets).where(local_tickets.c.id == number, local_tickets.c.project_key == project)
        ).first()
        if row is None:
            raise NotFound(f"issue {key!r} does not exist", hint="list local tickets: `ticketsmith tickets list`")
        return row

    def get(self, *, key: str) -> Ticket:
        with self._read() as connection:
            return self._ticket(self._row(connection, key))

    def _all(self, project_key: str | None = None) -> list[Ticket]:
        query = select(local_tickets).order_by(local_tickets.c.id)
        if project_key is not None:
            query = query.where(local_tickets.c.project_key == project_key.upper())
        with self._read() as connection:
            return [self._ticket(row) for row in connection.execute(query)]

    def search(self, *, jql: str, limit: int = 50) -> list[Ticket]:
        if limit < 1:
            raise InvalidInput("limit must be at least 1")
        return compile_jql(jql)(self._all())[:limit]

    def find_by_label(self, *, project_key: str, label: str) -> list[Ticket]:
        query = select(local_tickets).where(local_tickets.c.project_key == project_key.upper())
        if label.isascii() and label.isprintable() and not set(label) & set('"\\'):
            # A textual prefilter on the JSON list (where such a label appears verbatim); the exact test follows.
            pattern = "%" + label.replace("%", "\\%").replace("_", "\\_") + "%"
            query = query.where(cast(local_tickets.c.labels, Text).like(pattern, escape="\\"))
        query = query.order_by(local_tickets.c.id)
        with self._read() as connection:
            found = [self._ticket(row) for row in connection.execute(query)]
        return [t for t in found if label in t.labels]

    def comments(self, *, key: str) -> list[Comment]:
        with self._read() as connection:
            row = self._row(connection, key)
            rows = connection.execute(
                select(local_ticket_comments)
                .where(local_ticket_comments.c.ticket_id == row.id)
                .order_by(local_ticket_comments.c.id)
            ).all()
        return [Comment(id=str(c.id), body=c.body, author=c.author, created=utc(c.created_at)) for c in rows]

    def links(self, *, key: str) -> list[tuple[str, str, str]]:
        """Links from or to ``key`` as (from key, link type, to key); the local store's own reader."""
        with self._read() as connection:
            ticket = self._row(connection, key)
            rows = connection.execute(
                select(local_ticket_links).where(
                    (local_ticket_links.c.from_id == ticket.id) | (local_ticket_links.c.to_id == ticket.id)
                )
            ).all()
            keys = {
                r.id: f"{r.project_key}-{r.id}"
                for r in connection.execute(
                    select(local_tickets.c.id, local_tickets.c.project_key).where(
                        local_tickets.c.id.in_({x.from_id for x in rows} | {x.to_id for x in rows})
                    )
                )
            }
        return sorted((keys[r.from_id], r.link_type, keys[r.to_id]) for r in rows)

    # --- writing ---------------------------------------------------------------------------------------

    def _check_project(self, project_key: str) -> None:
        if not _PROJECT.match(project_key) or (self._projects is not None and project_key not in self._projects):
            raise InvalidInput(
                f"project: valid project is required ({project_key!r} is not a project of the local store)",
                hint=f"use one of: {', '.join(self._projects or ('LOCAL',))} (TICKETSMITH_TICKETS__LOCAL_PROJECT)",
            )

    def create(self, *, draft: TicketDraft) -> Ticket:
        self._check_project(draft.project_key)
        if not draft.summary.strip():
            raise InvalidInput("summary: You must specify a summary of the issue.")
        if draft.issue_type.lower() not in {t.lower() for t in ISSUE_TYPES}:
            raise InvalidInput(
                f"issuetype: {draft.issue_type!r} is not an issue type of project {draft.project_key}",
                hint=f"use one of: {', '.join(ISSUE_TYPES)}",
            )
        labels = _draft_labels(draft)
        now = self._clock()
        name = next(t for t in ISSUE_TYPES if t.lower() == draft.issue_type.lower())
        with self._write() as connection:
            number = connection.execute(
                insert(local_tickets)
                .values(
                    project_key=draft.project_key,
                    summary=cut_summary(draft.summary),
                    description=cut_body(draft.description),
                    issue_type=name,
                    status="To Do",
                    labels=labels,
                    priority=draft.priority,
                    fields=dict(draft.fields),
                    created_at=now,
                    updated_at=now,
                )
                .returning(local_tickets.c.id)
            ).scalar_one()
            row = connection.execute(select(local_tickets).where(local_tickets.c.id == number)).one()
        return self._ticket(row)

    def create_many(self, *, drafts: Sequence[TicketDraft]) -> list[Ticket | Exception]:
        results: list[Ticket | Exception] = []
        for draft in drafts:
            try:
                results.append(self.create(draft=draft))
            except TicketsmithError as exc:
                results.append(exc)
        return results

    def comment(self, *, key: str, body: str) -> Comment:
        if not body.strip():
            raise InvalidInput("comment: the comment body cannot be empty")
        now = self._clock()
        with self._write() as connection:
            row = self._row(connection, key)
            number = connection.execute(
                insert(local_ticket_comments)
                .values(ticket_id=row.id, body=cut_body(body), author=self._author, created_at=now)
                .returning(local_ticket_comments.c.id)
            ).scalar_one()
            connection.execute(update(local_tickets).where(local_tickets.c.id == row.id).values(updated_at=now))
        return Comment(id=str(number), body=cut_body(body), author=self._author, created=now)

    def transition(self, *, key: str, status: str) -> Ticket:
        with self._write() as connection:
            row = self._row(connection, key)
            current = STATUSES[row.status.lower()][0]
            target = STATUSES.get(status.strip().lower())
            if target is None or (target[0] != current and target[0] not in WORKFLOW[current]):
                raise InvalidInput(
                    f"no transition of {key} leads from {current} to status {status!r}",
                    hint=f"available from {current}: {', '.join(WORKFLOW[current])}",
                )
            if current != target[0]:
                connection.execute(
                    update(local_tickets)
                    .where(local_tickets.c.id == row.id)
                    .values(status=target[0], updated_at=self._clock())
                )
            row = connection.execute(select(local_tickets).where(local_tickets.c.id == row.id)).one()
        return self._ticket(row)

    def link(self, *, from_key: str, to_key: str, link_type: str = "Relates") -> None:
        kind = next((t for t in LINK_TYPES if t.lower() == link_type.strip().lower()), None)
        if kind is None:
            raise InvalidInput(f"no issue link type {link_type!r}", hint=f"use one of: {', '.join(LINK_TYPES)}")
        with self._write() as connection:
            source, target = self._row(connection, from_key), self._row(connection, to_key)
            if source.id == target.id:
                raise InvalidInput("an issue cannot be linked to itself")
            connection.execute(
                self._insert_link.values(from_id=source.id, to_id=target.id, link_type=kind).on_conflict_do_nothing()
            )

    def set_labels(self, *, key: str, labels: Sequence[str]) -> Ticket:
        cleaned = _labels(labels)
        with self._write() as connection:
            row = self._row(connection, key)
            if list(row.labels) == cleaned:
                return self._ticket(row)
            connection.execute(
                update(local_tickets)
                .where(local_tickets.c.id == row.id)
                .values(labels=cleaned, updated_at=self._clock())
            )
            row = connection.execute(select(local_tickets).where(local_tickets.c.id == row.id)).one()
        return self._ticket(row)

    def check(self, *, project_key: str | None) -> TrackerReport:
        problems: tuple[TrackerProblem, ...] = ()
        if project_key is not None:
            try:
                self._check_project(project_key.upper())
            except InvalidInput as exc:
                problems = (
                    TrackerProblem(
                        what=f"project {project_key} is not a project of the local store: {exc.message}",
                        fix="set TICKETSMITH_TICKETS__LOCAL_PROJECT (or TICKETSMITH_JIRA__PROJECT_KEY with Jira) "
                        f"to one of: {', '.join(self._projects or ('LOCAL',))}",
                    ),
                )
        return TrackerReport(
            tracker=self.name,
            url=None,
            account="dry-run: tickets are kept in the local database and nothing is sent anywhere",
            project_key=project_key,
            issue_types=ISSUE_TYPES,
            required_fields={t: ("Summary",) for t in ISSUE_TYPES},
            problems=problems,
        )


def in_memory_local_tracker(**kwargs: Any) -> LocalIssueTracker:
    """A local store in a private in-memory SQLite database (one shared connection): for tests and one-shot
    commands. Lost when it is dropped."""
    engine = create_engine("sqlite://", poolclass=StaticPool, connect_args={"check_same_thread": False})
    metadata.create_all(engine)
    return LocalIssueTracker(engine, **kwargs)
