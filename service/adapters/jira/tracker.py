"""The IssueTracker port over a Jira REST API, shared by Cloud (v3) and Server/Data Center (v2).

Each backend file (``cloud.py``, ``datacenter.py``) supplies a :class:`JiraApi`: raw calls under the retry
policy, body rendering (ADF or wiki) and reading back. This module holds what is the same on both: create
fields from createmeta, transitions by status name, idempotent links and labels, and ``check``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from functools import partial
from typing import Any, Protocol

from service.adapters.jira.mapping import (
    TICKET_FIELDS,
    CreateField,
    comment_from_raw,
    draft_fields,
    ticket_from_issue,
    unfillable,
)
from service.domain.tickets import Comment, StatusCategory, Ticket, TicketDraft, TrackerProblem, TrackerReport
from service.errors import InvalidInput, NotFound, OutcomeUnknown, TicketsmithError, Unauthorized, UpstreamFailed
from service.tickets.limits import cut_body, label

log = logging.getLogger(__name__)


class JiraApi(Protocol):
    """Raw Jira calls for one site; each raises our error tree (retries already done)."""

    site: str
    deployment: str  # "Cloud" or "Server" as serverInfo.deploymentType says
    auth_hint: str

    def close(self) -> None: ...
    def render(self, markdown: str) -> Any: ...
    def text_of(self, body: Any) -> str: ...
    def server_info(self) -> dict[str, Any]: ...
    def myself(self) -> dict[str, Any]: ...
    def project(self, key: str) -> dict[str, Any]: ...
    def issue_types(self, project: str) -> list[dict[str, Any]]: ...
    def create_fields(self, project: str, issue_type_id: str) -> list[dict[str, Any]]: ...
    def create(self, fields: dict[str, Any]) -> dict[str, Any]: ...
    def create_bulk(self, batch: list[dict[str, Any]]) -> list[dict[str, Any] | TicketsmithError]: ...
    def issue(self, key: str, fields: Sequence[str]) -> dict[str, Any]: ...
    def search(self, jql: str, limit: int, fields: Sequence[str]) -> list[dict[str, Any]]: ...
    def add_comment(self, key: str, body: Any) -> dict[str, Any]: ...
    def comments(self, key: str) -> list[dict[str, Any]]: ...
    def transitions(self, key: str) -> list[dict[str, Any]]: ...
    def do_transition(self, key: str, transition_id: str) -> None: ...
    def link_types(self) -> list[dict[str, Any]]: ...
    def add_link(self, type_name: str, inward: str, outward: str) -> None: ...
    def edit(self, key: str, fields: dict[str, Any]) -> None: ...


def jql_string(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


class JiraTracker:
    """:class:`service.ports.issue_tracker.IssueTracker` for one Jira site (see the port for the contract)."""

    sends = True

    def __init__(self, api: JiraApi, *, name: str, issue_type: str = "Task", bulk_size: int = 50) -> None:
        self._api = api
        self._name = name
        self._issue_type = issue_type
        self._bulk_size = bulk_size
        self._types: dict[str, list[dict[str, Any]]] = {}
        self._fields: dict[tuple[str, str], list[CreateField]] = {}

    @property
    def name(self) -> str:
        return self._name

    def close(self) -> None:
        """Release the HTTP connections. Safe to call twice."""
        self._api.close()

    # --- createmeta, cached per project and issue type ----------------------------------------------

    def _issue_types(self, project: str) -> list[dict[str, Any]]:
        if project not in self._types:
            self._types[project] = self._api.issue_types(project)
        return self._types[project]

    def _type_id(self, project: str, issue_type: str) -> str:
        types = self._issue_types(project)
        for entry in types:
            if str(entry.get("name", "")).lower() == issue_type.lower():
                return str(entry["id"])
        names = ", ".join(str(t.get("name")) for t in types)
        raise InvalidInput(f"project {project} has no issue type {issue_type!r}", hint=f"use one of: {names}")

    def _create_fields(self, project: str, type_id: str) -> list[CreateField]:
        if (project, type_id) not in self._fields:
            raw = self._api.create_fields(project, type_id)
            self._fields[project, type_id] = [CreateField.from_raw(f) for f in raw]
        return self._fields[project, type_id]

    def _payload(self, draft: TicketDraft) -> dict[str, Any]:
        type_id = self._type_id(draft.project_key, draft.issue_type)
        metas = self._create_fields(draft.project_key, type_id)
        return draft_fields(draft, issue_type_id=type_id, create_fields=metas, render=self._api.render)

    def _created(self, created: dict[str, Any], draft: TicketDraft, fields: dict[str, Any]) -> Ticket:
        key = created.get("key")
        if not key:
            raise OutcomeUnknown("Jira answered the create without an issue key", hint="look the ticket up by label")
        try:
            return self.get(key=str(key))
        except TicketsmithError:
            # The issue exists; a failed read-back must not look like a failed create.
            log.warning("jira_created_unread key=%s", key)
            return Ticket(
                key=str(key),
                id=str(created.get("id", "")),
                url=f"{self._api.site}/browse/{key}",
                project_key=draft.project_key,
                summary=str(fields["summary"]),
                description=cut_body(draft.description),
                issue_type=draft.issue_type,
                status="",
                status_category=StatusCategory.NEW,
                labels=tuple(fields["labels"]),
            )

    # --- the port -------------------------------------------------------------------------------------

    def create(self, *, draft: TicketDraft) -> Ticket:
        fields = self._payload(draft)
        return self._created(self._api.create(fields), draft, fields)

    def create_many(self, *, drafts: Sequence[TicketDraft]) -> list[Ticket | Exception]:
        results: list[Ticket | Exception | None] = [None] * len(drafts)
        ready: list[tuple[int, dict[str, Any]]] = []
        for index, draft in enumerate(drafts):
            try:
                ready.append((index, self._payload(draft)))
            except TicketsmithError as exc:
                results[index] = exc
        for start in range(0, len(ready), self._bulk_size):
            chunk = ready[start : start + self._bulk_size]
            try:
                answers: Sequence[dict[str, Any] | Exception] = self._api.create_bulk([f for _, f in chunk])
            except TicketsmithError as exc:  # OutcomeUnknown included: every draft of the batch shares it
                answers = [exc] * len(chunk)
            for (index, fields), answer in zip(chunk, answers, strict=True):
                results[index] = (
                    answer if isinstance(answer, Exception) else self._created(answer, drafts[index], fields)
                )
        return [r if r is not None else UpstreamFailed("no result") for r in results]

    def get(self, *, key: str) -> Ticket:
        return ticket_from_issue(self._api.issue(key, TICKET_FIELDS), site=self._api.site, text_of=self._api.text_of)

    def search(self, *, jql: str, limit: int = 50) -> list[Ticket]:
        raw = self._api.search(jql, limit, TICKET_FIELDS)
        return [ticket_from_issue(r, site=self._api.site, text_of=self._api.text_of) for r in raw[:limit]]

    def find_by_label(self, *, project_key: str, label: str) -> list[Ticket]:
        jql = f"project = {jql_string(project_key)} AND labels = {jql_string(label)} ORDER BY created ASC"
        return self.search(jql=jql, limit=100)

    def comment(self, *, key: str, body: str) -> Comment:
        raw = self._api.add_comment(key, self._api.render(cut_body(body)))
        return comment_from_raw(raw, text_of=self._api.text_of)

    def comments(self, *, key: str) -> list[Comment]:
        return [comment_from_raw(c, text_of=self._api.text_of) for c in self._api.comments(key)]

    def transition(self, *, key: str, status: str) -> Ticket:
        ticket = self.get(key=key)
        if ticket.status.lower() == status.lower():
            return ticket
        options = self._api.transitions(key)
        for option in options:
            if str((option.get("to") or {}).get("name", "")).lower() == status.lower():
                self._api.do_transition(key, str(option["id"]))
                return self.get(key=key)
        reachable = sorted({str((o.get("to") or {}).get("name")) for o in options})
        raise InvalidInput(
            f"{key} cannot move from {ticket.status!r} to {status!r}",
            hint=f"statuses reachable from here: {', '.join(reachable) or 'none'}",
        )

    def link(self, *, from_key: str, to_key: str, link_type: str = "Relates") -> None:
        types = self._api.link_types()
        chosen = next(
            (
                t
                for t in types
                if link_type.lower() in {str(t.get(k, "")).lower() for k in ("name", "inward", "outward")}
            ),
            None,
        )
        if chosen is None:
            names = ", ".join(str(t.get("name")) for t in types)
            raise InvalidInput(f"Jira has no link type {link_type!r}", hint=f"use one of: {names}")
        existing = self._api.issue(from_key, ("issuelinks",)).get("fields", {}).get("issuelinks") or []
        for entry in existing:
            other = (entry.get("outwardIssue") or entry.get("inwardIssue") or {}).get("key")
            if other == to_key and (entry.get("type") or {}).get("name") == chosen["name"]:
                return
        # from_key goes in as inwardIssue, to_key as outwardIssue (LinkIssueRequestJsonBean, as in
        # tests/fixtures/jira/cloud_v3_issue_link_request.json); the check above accepts either direction.
        self._api.add_link(str(chosen["name"]), from_key, to_key)

    def set_labels(self, *, key: str, labels: Sequence[str]) -> Ticket:
        wanted = list(dict.fromkeys(label(x) for x in labels))
        current = self.get(key=key)
        if sorted(current.labels) == sorted(wanted):
            return current  # no write: Jira would record an empty change and bump "updated"
        self._api.edit(key, {"labels": wanted})
        return self.get(key=key)

    def check(self, *, project_key: str | None) -> TrackerReport:
        return run_check(self._api, self, project_key=project_key, issue_type=self._issue_type, name=self._name)


def run_check(
    api: JiraApi, tracker: JiraTracker, *, project_key: str | None, issue_type: str, name: str
) -> TrackerReport:
    """Connection, credentials, project, issue types, required fields; every problem with its fix."""
    problems: list[TrackerProblem] = []
    account: str | None = None
    types: tuple[str, ...] = ()
    required: dict[str, tuple[str, ...]] = {}

    def step(what: str, fix: Callable[[TicketsmithError], str], work: Callable[[], Any]) -> Any:
        try:
            return work()
        except TicketsmithError as exc:
            problems.append(TrackerProblem(what=f"{what}: {exc.message}", fix=fix(exc)))
            return None

    def report() -> TrackerReport:
        return TrackerReport(name, api.site, account, project_key, types, required, tuple(problems))

    def connection_fix(exc: TicketsmithError) -> str:
        if isinstance(exc, NotFound):  # the site answers, but not with this REST API version
            other = "datacenter" if api.deployment == "Cloud" else "cloud"
            return (
                "check TICKETSMITH_JIRA__URL (with any context path, e.g. https://host/jira); if the site is "
                f"Jira {'Server/Data Center' if other == 'datacenter' else 'Cloud'}, "
                f"set TICKETSMITH_JIRA__DEPLOYMENT={other}"
            )
        return exc.hint or "check TICKETSMITH_JIRA__URL"

    info = step("connection", connection_fix, api.server_info)
    if info is None:
        return report()
    deployment = str(info.get("deploymentType") or "Server")
    if (deployment == "Cloud") != (api.deployment == "Cloud"):
        other = "cloud" if deployment == "Cloud" else "datacenter"
        problems.append(
            TrackerProblem(
                what=f"{api.site} is Jira {deployment}, but Ticketsmith is set up for Jira {api.deployment}",
                fix=f"set TICKETSMITH_JIRA__DEPLOYMENT={other} and the credentials it needs (see .env.example)",
            )
        )
    me = step(
        "credentials",
        lambda e: api.auth_hint if isinstance(e, Unauthorized) else (e.hint or "check the Jira account"),
        api.myself,
    )
    if me is None:
        return report()
    account = str(me.get("emailAddress") or me.get("displayName") or me.get("name") or me.get("accountId") or "")
    if project_key is None:
        problems.append(TrackerProblem("no project configured", "set TICKETSMITH_JIRA__PROJECT_KEY, e.g. OPS"))
        return report()

    def project_fix(exc: TicketsmithError) -> str:
        if isinstance(exc, NotFound):
            return (
                f"create project {project_key} or set TICKETSMITH_JIRA__PROJECT_KEY to an existing key; "
                "the account needs the Browse Projects permission to see it"
            )
        return exc.hint or "check the project permissions of the Jira account"

    if step(f"project {project_key}", project_fix, lambda: api.project(project_key)) is None:
        return report()
    entries = step(
        f"issue types of {project_key}",
        lambda e: e.hint or "give the account the Create Issues permission in the project",
        lambda: tracker._issue_types(project_key),
    )
    if entries is None:
        return report()
    types = tuple(str(t.get("name")) for t in entries)
    for entry in entries:
        metas = step(
            f"create fields of {entry.get('name')}",
            lambda e: e.hint or "check the project's create screen",
            partial(tracker._create_fields, project_key, str(entry["id"])),
        )
        if metas is None:
            continue
        required[str(entry.get("name"))] = tuple(m.name for m in metas if m.required)
        if str(entry.get("name")).lower() == issue_type.lower():
            for meta in unfillable(metas):
                problems.append(
                    TrackerProblem(
                        what=f"{issue_type} in {project_key} requires {meta.describe()}, which Ticketsmith "
                        "does not fill",
                        fix=f"give {meta.name} a default value or make it optional in the project's field "
                        "configuration, or choose another issue type with TICKETSMITH_JIRA__ISSUE_TYPE",
                    )
                )
    if issue_type.lower() not in {t.lower() for t in types}:
        problems.append(
            TrackerProblem(
                what=f"project {project_key} has no issue type {issue_type!r}",
                fix=f"set TICKETSMITH_JIRA__ISSUE_TYPE to one of: {', '.join(types)}",
            )
        )
    return report()
