"""The ``jira`` action group: search, read, create (without duplicates), comment and transition tickets.

Every operation is confined to the Jira projects the caller's API key allows (``jira_projects``): a key names
a project by its prefix, a search is wrapped as ``project in (A, B) AND (<the caller's JQL>)``, and results
outside the allowed projects are dropped besides. A create that carries a fingerprint goes through the
:class:`TicketFiler`, so a model that files the same finding twice gets the existing ticket back.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any, TypeVar

import anyio.to_thread
from pydantic import BaseModel, ConfigDict, Field

from service.action_groups.operations import ActionGroup, CallContext, NoParams, Operation
from service.domain.principals import ALL, Principal
from service.domain.tickets import Ticket, TicketDraft
from service.errors import Forbidden, InvalidInput
from service.ports.issue_tracker import IssueTracker
from service.tickets.filing import TicketFiler

T = TypeVar("T")
_KEY = re.compile(r"^([A-Za-z][A-Za-z0-9_]*)-[1-9][0-9]*$")
_ORDER_BY = re.compile(r"\border\s+by\b", re.IGNORECASE)
_PROJECT_KEY = r"^[A-Z][A-Z0-9_]{0,31}$"


def split_jql(jql: str) -> tuple[str, str]:
    """(condition, ``ORDER BY ...`` or ''), found outside quotes. Raises InvalidInput for unbalanced
    parentheses or quotes, or a backslash outside quotes, which could otherwise close the project confinement
    early."""
    depth, quote, at = 0, "", 0
    order_at = -1
    while at < len(jql):
        char = jql[at]
        if quote:
            if char == "\\":
                at += 1
            elif char == quote:
                quote = ""
        elif char in "\"'":
            quote = char
        elif char == "\\":
            # Jira's grammar lets an unquoted string escape a quote (``a\"b``): counted as a quote here, it would
            # hide a ``)`` that closes the confinement, so backslashes are taken only inside quotes.
            raise InvalidInput(
                "the JQL has a backslash outside quotes", hint='put the value in quotes, e.g. summary ~ "a\\\\b"'
            )
        elif char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
            if depth < 0:
                break
        elif depth == 0 and order_at < 0 and _ORDER_BY.match(jql, at) and (at == 0 or not jql[at - 1].isalnum()):
            order_at = at
        at += 1
    if depth != 0 or quote:
        raise InvalidInput("the JQL has unbalanced parentheses or quotes", hint="close every ( and every quote")
    if order_at < 0:
        return jql.strip(), ""
    return jql[:order_at].strip(), jql[order_at:].strip()


def confined_jql(jql: str, projects: list[str]) -> str:
    """``jql`` limited to ``projects`` (an empty condition means every issue of those projects)."""
    condition, order = split_jql(jql)
    scope = f"project in ({', '.join(projects)})"
    combined = f"{scope} AND ({condition})" if condition else scope
    return f"{combined} {order}".strip()


class SearchParams(BaseModel):
    jql: str = Field(
        default="",
        max_length=2000,
        description="JQL, e.g. 'labels = ticketsmith AND statusCategory != Done ORDER BY created DESC'.",
    )
    limit: int = Field(default=20, ge=1, le=100, description="How many issues, 1 to 100 (default 20).")


class KeyParams(BaseModel):
    key: str = Field(
        min_length=3, max_length=64, pattern=r"^[A-Za-z][A-Za-z0-9_]*-[1-9][0-9]*$", description="Issue key."
    )


class IssueOut(BaseModel):
    key: str = Field(description="Issue key, e.g. OPS-42.")
    url: str = Field(description="Where a person opens the issue.")
    project_key: str = Field(alias="projectKey", description="Project key.")
    summary: str = Field(description="One-line summary.")
    issue_type: str = Field(alias="issueType", description="Issue type name.")
    status: str = Field(description="Status name.")
    status_category: str = Field(alias="statusCategory", description="new, indeterminate or done.")
    labels: list[str] = Field(description="Labels.")

    @classmethod
    def of(cls, ticket: Ticket) -> IssueOut:
        return cls(
            key=ticket.key,
            url=ticket.url,
            projectKey=ticket.project_key,
            summary=ticket.summary,
            issueType=ticket.issue_type,
            status=ticket.status,
            statusCategory=ticket.status_category.value,
            labels=list(ticket.labels),
        )


class IssueDetail(IssueOut):
    description: str = Field(description="Description as plain text.")


class IssueList(BaseModel):
    issues: list[IssueOut] = Field(description="Matching issues in the allowed projects, in the tracker's order.")
    jql: str = Field(description="The JQL actually run (confined to the allowed projects).")


class CreateBody(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    project_key: str | None = Field(
        default=None, alias="projectKey", pattern=_PROJECT_KEY, description="Project; default: the configured one."
    )
    summary: str = Field(min_length=1, max_length=1000, description="One-line summary (cut to 255 characters).")
    description: str = Field(default="", max_length=100_000, description="Markdown body.")
    issue_type: str = Field(default="Task", alias="issueType", max_length=64, description="Issue type name.")
    labels: list[str] = Field(default_factory=list, max_length=20, description="Labels (spaces become '-').")
    fingerprint: str | None = Field(
        default=None,
        pattern=r"^[0-9a-f]{8,64}$",
        description="A finding's fingerprint: the same fingerprint never gets a second ticket.",
    )


class CreateOut(BaseModel):
    action: str = Field(description="created, updated, commented, reopened, linked or skipped.")
    key: str | None = Field(default=None, description="The issue concerned.")
    reason: str = Field(description="Why this action was taken.")


class CommentBody(BaseModel):
    body: str = Field(min_length=1, max_length=100_000, description="Markdown comment.")


class CommentOut(BaseModel):
    id: str = Field(description="Comment id.")
    key: str = Field(description="Issue key.")


class TransitionBody(BaseModel):
    status: str = Field(min_length=1, max_length=100, description="Target status name, e.g. 'In Progress' or 'Done'.")


class JiraActions:
    """Handlers of the ``jira`` group over one tracker and its filer; ``default_project`` serves creates."""

    def __init__(self, *, tracker: IssueTracker, filer: TicketFiler, default_project: str | None) -> None:
        self._tracker = tracker
        self._filer = filer
        self._default_project = default_project

    @staticmethod
    async def _run(work: Callable[[], T]) -> T:
        return await anyio.to_thread.run_sync(work)

    @staticmethod
    def _require(principal: Principal, project: str) -> None:
        if not principal.may_touch_project(project):
            raise Forbidden(
                f"API key {principal.name!r} may not touch Jira project {project.upper()}",
                hint="use a key whose jira_projects include it (TICKETSMITH_API_KEYS), or another project",
            )

    def _project_of(self, principal: Principal, key: str) -> str:
        match = _KEY.match(key)
        if match is None:
            raise InvalidInput(f"{key!r} is not an issue key", hint="keys look like OPS-42")
        project = match.group(1).upper()
        self._require(principal, project)
        return project

    def _visible(self, principal: Principal, tickets: list[Ticket]) -> list[Ticket]:
        return [t for t in tickets if principal.may_touch_project(t.project_key)]

    async def search(self, ctx: CallContext, params: SearchParams, body: None) -> IssueList:
        allowed = sorted(p.upper() for p in ctx.principal.jira_projects if p != ALL)
        if ALL in ctx.principal.jira_projects:
            condition, _ = split_jql(params.jql)
            jql = (
                params.jql
                if condition or not self._default_project
                else confined_jql(params.jql, [self._default_project])
            )
        elif not allowed:
            raise Forbidden(
                f"API key {ctx.principal.name!r} may not touch any Jira project", hint="set its jira_projects"
            )
        else:
            jql = confined_jql(params.jql, allowed)
        found = await self._run(lambda: self._tracker.search(jql=jql, limit=params.limit))
        return IssueList(issues=[IssueOut.of(t) for t in self._visible(ctx.principal, found)], jql=jql)

    async def get(self, ctx: CallContext, params: KeyParams, body: None) -> IssueDetail:
        self._project_of(ctx.principal, params.key)
        ticket = await self._run(lambda: self._tracker.get(key=params.key))
        self._require(ctx.principal, ticket.project_key)  # a moved issue answers under its new project
        return IssueDetail(**IssueOut.of(ticket).model_dump(by_alias=True), description=ticket.description)

    async def create(self, ctx: CallContext, params: NoParams, body: CreateBody | None) -> CreateOut:
        assert body is not None  # the operation declares a body, so validation guarantees one
        project = body.project_key or self._default_project
        if project is None:
            raise InvalidInput("no project given and none configured", hint="pass projectKey")
        self._require(ctx.principal, project)
        draft = TicketDraft(
            project_key=project.upper(),
            summary=body.summary,
            description=body.description,
            issue_type=body.issue_type,
            labels=tuple(body.labels),
            fingerprint=body.fingerprint,
        )
        if draft.fingerprint is None:
            ticket = await self._run(lambda: self._tracker.create(draft=draft))
            return CreateOut(action="created", key=ticket.key, reason="created (no fingerprint: not deduplicated)")
        outcome = await self._run(lambda: self._filer.file(draft))
        return CreateOut(action=outcome.action.value, key=outcome.ticket_key, reason=outcome.reason)

    async def _check_current_project(self, principal: Principal, key: str) -> None:
        """Refuse a write to an issue outside the caller's projects, by its key and by where it lives now:
        Jira answers an old key with the issue it was moved to, so the key's prefix alone is not enough."""
        self._project_of(principal, key)
        ticket = await self._run(lambda: self._tracker.get(key=key))
        self._require(principal, ticket.project_key)

    async def comment(self, ctx: CallContext, params: KeyParams, body: CommentBody | None) -> CommentOut:
        assert body is not None
        await self._check_current_project(ctx.principal, params.key)
        made = await self._run(lambda: self._tracker.comment(key=params.key, body=body.body))
        return CommentOut(id=made.id, key=params.key.upper())

    async def transition(self, ctx: CallContext, params: KeyParams, body: TransitionBody | None) -> IssueOut:
        assert body is not None
        await self._check_current_project(ctx.principal, params.key)
        moved = await self._run(lambda: self._tracker.transition(key=params.key, status=body.status))
        return IssueOut.of(moved)


def jira_group(actions: JiraActions) -> ActionGroup:
    """The ``jira`` action group bound to ``actions``."""
    operations: tuple[Operation[Any, Any, Any], ...] = (
        Operation(
            operation_id="searchIssues",
            method="GET",
            path="/issues",
            summary="Search issues",
            description="Finds issues with JQL, limited to the projects this caller may see.",
            params=SearchParams,
            response=IssueList,
            handler=actions.search,
        ),
        Operation(
            operation_id="getIssue",
            method="GET",
            path="/issues/{key}",
            summary="Get an issue",
            description="Returns one issue with its description.",
            params=KeyParams,
            response=IssueDetail,
            handler=actions.get,
        ),
        Operation(
            operation_id="createIssue",
            method="POST",
            path="/issues",
            summary="Create an issue",
            description=(
                "Creates an issue. With a fingerprint, a finding that already has an issue is not filed twice: "
                "the existing issue is returned, commented on or reopened instead."
            ),
            params=NoParams,
            body=CreateBody,
            response=CreateOut,
            handler=actions.create,
            writes=True,
            require_confirmation=True,
        ),
        Operation(
            operation_id="addComment",
            method="POST",
            path="/issues/{key}/comments",
            summary="Comment on an issue",
            description="Adds a Markdown comment to an issue.",
            params=KeyParams,
            body=CommentBody,
            response=CommentOut,
            handler=actions.comment,
            writes=True,
            require_confirmation=True,
        ),
        Operation(
            operation_id="transitionIssue",
            method="POST",
            path="/issues/{key}/transitions",
            summary="Move an issue to a status",
            description="Moves an issue to the status with this name, e.g. 'In Progress' or 'Done'.",
            params=KeyParams,
            body=TransitionBody,
            response=IssueOut,
            handler=actions.transition,
            writes=True,
            require_confirmation=True,
        ),
    )
    return ActionGroup(
        name="jira",
        description="Jira issues: search, read, create without duplicates, comment, transition.",
        prefix="/v1/jira",
        operations=operations,
    )
