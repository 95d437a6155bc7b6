"""Tickets in an issue tracker: what we ask to create and what the tracker holds."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any


class StatusCategory(StrEnum):
    """Jira's three status categories (``statusCategory.key``): to do, in progress, done."""

    NEW = "new"
    IN_PROGRESS = "indeterminate"
    DONE = "done"


@dataclass(frozen=True, slots=True)
class TicketDraft:
    """A ticket to create. ``description`` is Markdown; each adapter renders it (ADF for Cloud, wiki for DC).

    ``fingerprint`` is the finding-group fingerprint that makes the ticket unique; adapters add it as a
    ``ts-fp-<fingerprint>`` label. ``fields`` holds extra tracker fields by id (e.g. ``customfield_10011``).
    """

    project_key: str
    summary: str
    description: str
    issue_type: str = "Task"
    labels: tuple[str, ...] = ()
    priority: str | None = None
    fingerprint: str | None = None
    fields: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Ticket:
    """A ticket as the tracker holds it. ``description`` is plain text (rendered back from ADF or wiki)."""

    key: str
    id: str
    url: str
    project_key: str
    summary: str
    description: str
    issue_type: str
    status: str
    status_category: StatusCategory
    labels: tuple[str, ...]
    created: datetime | None = None
    updated: datetime | None = None


@dataclass(frozen=True, slots=True)
class Comment:
    """A comment on a ticket; ``body`` is plain text."""

    id: str
    body: str
    author: str
    created: datetime | None = None


@dataclass(frozen=True, slots=True)
class TrackerProblem:
    """One thing ``jira check`` found wrong, in words a user can act on."""

    what: str
    fix: str


@dataclass(frozen=True, slots=True)
class TrackerReport:
    """The outcome of checking a tracker's connection, credentials, project, issue types and required fields."""

    tracker: str
    url: str | None
    account: str | None
    project_key: str | None
    issue_types: tuple[str, ...]
    required_fields: Mapping[str, tuple[str, ...]]
    problems: tuple[TrackerProblem, ...]

    @property
    def ok(self) -> bool:
        return not self.problems
