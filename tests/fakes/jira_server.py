"""A stateful fake Jira over real HTTP: Cloud (REST v3, ADF) or Server/Data Center (REST v2, wiki text).

Served by uvicorn in a thread on 127.0.0.1, so the adapters and the real ``jira`` library talk to it like to a
site. Shapes come from ``tests/fixtures/jira/`` (Atlassian's OpenAPI v3 document and its examples; see the
route table in :func:`build_app`). Auth is checked on every route but ``serverInfo`` (anonymous there, as in
Jira). Faults are injected from tests through :attr:`FakeJira.faults`.
"""

from __future__ import annotations

import asyncio
import base64
import json
import random
import re
import socket
import threading
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from tests.fakes.jira_state import (
    LINK_TYPES,
    STATUSES,
    FakeIssue,
    FakeProject,
    FieldMeta,
    IssueStore,
    JiraFault,
    adf_text,
    is_adf,
    jira_time,
)

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "jira"
MAX_SUMMARY = 255
MAX_TEXT = 32_767


def fixture(name: str) -> Any:
    return json.loads((FIXTURES / name).read_text(encoding="utf-8"))


@dataclass
class FaultRule:
    """Answer matching requests with ``status`` (and ``Retry-After``), or drop the connection.

    ``commit`` first performs the request (the issue IS created) and only then answers with the fault.
    A rule fires on every ``every``-th matching call with ``probability``, at most ``times`` times.
    """

    kind: Literal["status", "drop"]
    status: int = 429
    retry_after: str | None = None
    commit: bool = False
    times: int | None = 1
    every: int = 1
    probability: float = 1.0
    method: str | None = None
    path: str | None = None  # regex searched in the path
    body: Any = None  # answer this JSON instead of the default error body
    seen: int = 0
    fired: int = 0

    def applies(self, method: str, path: str, rng: random.Random) -> bool:
        if (self.method and method != self.method) or (self.path and not re.search(self.path, path)):
            return False
        self.seen += 1
        if self.times is not None and self.fired >= self.times:
            return False
        if self.seen % self.every or rng.random() >= self.probability:
            return False
        self.fired += 1
        return True


CREATE_PATH = r"/rest/api/\d/issue(/bulk)?$"


@dataclass
class Faults:
    """Fault injection controlled by tests. Thread-safe through the server's lock."""

    rules: list[FaultRule] = field(default_factory=list)
    latency_seconds: float = 0.0
    rng: random.Random = field(default_factory=lambda: random.Random(5))

    def throttle(self, times: int = 1, *, retry_after: str | None = "1", status: int = 429, **match: Any) -> None:
        """The next ``times`` calls (matching ``method``/``path`` if given) answer ``status`` with Retry-After."""
        self.rules.append(FaultRule("status", status=status, retry_after=retry_after, times=times, **match))

    def answer(self, status: int, body: Any, *, times: int = 1, **match: Any) -> None:
        """The next ``times`` matching calls answer ``body`` with ``status`` without doing anything."""
        self.rules.append(FaultRule("status", status=status, body=body, times=times, **match))

    def created_then(self, times: int = 1, *, status: int = 503, **options: Any) -> None:
        """The next ``times`` creates happen, then answer ``status`` (a lost 201)."""
        options.setdefault("method", "POST")
        options.setdefault("path", CREATE_PATH)
        self.rules.append(FaultRule("status", status=status, commit=True, times=times, **options))

    def drop(self, times: int = 1, *, commit: bool = True, **match: Any) -> None:
        """The next ``times`` matching calls lose the connection mid-answer (after the work when ``commit``)."""
        self.rules.append(FaultRule("drop", commit=commit, times=times, **match))

    def clear(self) -> None:
        self.rules.clear()
        self.latency_seconds = 0.0


class FakeJira:
    """One fake site: ``cloud`` serves /rest/api/3 (and answers 410 on the removed search); ``datacenter``
    serves /rest/api/2 with startAt paging. ``journal`` records (method, path) of every authenticated call.
    """

    def __init__(self, deployment: Literal["cloud", "datacenter"], base_url: str) -> None:
        self.deployment = deployment
        self.base_url = base_url
        self.email, self.api_token = "bot@example.com", "cloud-token-0001"
        self.username, self.password, self.pat = "ticketsmith", "dc-password-01", "dc-pat-0000000001"
        self.search_page_cap = 100
        self.faults = Faults()
        self.journal: list[tuple[str, str]] = []
        self.lock = threading.Lock()
        base = 10 if deployment == "cloud" else 100
        epic = (
            FieldMeta("parent", "Parent", False, schema={"type": "issuelink", "system": "parent"})
            if deployment == "cloud"
            else FieldMeta(
                "customfield_10008",
                "Epic Link",
                False,
                schema={"type": "any", "custom": "com.pyxis.greenhopper.jira:gh-epic-link", "customId": 10008},
            )
        )
        team = FieldMeta(
            "customfield_10050",
            "Team",
            True,
            schema={"type": "option", "custom": "com.atlassian.jira.plugin.system.customfieldtypes:select"},
            allowed=["Platform", "Payments"],
        )
        self.store = IssueStore(
            [
                FakeProject(
                    "OPS", "10100", "Operations", {"Task": "10002", "Bug": "10004"}, base + 1, {"Task": [epic]}
                ),
                FakeProject(
                    "ENG",
                    "10200",
                    "Engineering",
                    {"Task": "10002", "Bug": "10004", "Epic": "10000"},
                    base + 30,
                    {"Bug": [team], "Task": [epic]},
                ),
            ],
            account=self._account(),
        )

    @property
    def version(self) -> str:
        return "3" if self.deployment == "cloud" else "2"

    def _account(self) -> dict[str, Any]:
        if self.deployment == "cloud":
            return {**fixture("cloud_v3_myself_response.json"), "emailAddress": self.email}
        return {"name": self.username, "key": "JIRAUSER10000", "displayName": "Ticketsmith", "active": True}

    def authorized(self, header: str | None) -> bool:
        if not header:
            return False
        scheme, _, value = header.partition(" ")
        if scheme.lower() == "bearer":
            return self.deployment == "datacenter" and value == self.pat
        if scheme.lower() != "basic":
            return False
        try:
            user, _, secret = base64.b64decode(value).decode().partition(":")
        except ValueError:
            return False
        if self.deployment == "cloud":
            return (user, secret) == (self.email, self.api_token)
        return (user, secret) == (self.username, self.password)

    # --- representations -----------------------------------------------------------------------------

    def body_out(self, body: Any) -> Any:
        if self.version == "3":
            if isinstance(body, str):
                return {
                    "type": "doc",
                    "version": 1,
                    "content": [{"type": "paragraph", "content": [{"type": "text", "text": body}]}],
                }
            return body
        return adf_text(body) if isinstance(body, dict) else body

    def issue_json(self, issue: FakeIssue, fields: list[str] | None) -> dict[str, Any]:
        status_id, category, category_id = STATUSES[issue.status]
        links = []
        for link_id, type_name, inward, outward in self.store.links:
            if issue.key not in (inward, outward):
                continue
            _, name, inward_name, outward_name = self.store.link_type(type_name)
            other, side = (outward, "outwardIssue") if issue.key == inward else (inward, "inwardIssue")
            links.append(
                {
                    "id": link_id,
                    "type": {"name": name, "inward": inward_name, "outward": outward_name},
                    side: {"key": other, "id": str(self.store.issue(other).id)},
                }
            )
        all_fields: dict[str, Any] = {
            "summary": issue.summary,
            "description": self.body_out(issue.description) if issue.description is not None else None,
            "labels": list(issue.labels),
            "issuetype": {
                "id": issue.project.issue_types[issue.issue_type],
                "name": issue.issue_type,
                "subtask": False,
            },
            "project": {"id": issue.project.id, "key": issue.project.key, "name": issue.project.name},
            "status": {
                "id": status_id,
                "name": issue.status,
                "statusCategory": {"id": category_id, "key": category, "name": issue.status},
            },
            "created": jira_time(issue.created),
            "updated": jira_time(issue.updated),
            "issuelinks": links,
            **issue.extra,
        }
        if fields is None or "*all" in fields or "*navigable" in fields:
            chosen = all_fields
        else:
            chosen = {k: v for k, v in all_fields.items() if k in fields}
        return {
            "expand": "renderedFields,names,schema,operations,editmeta,changelog,versionedRepresentations",
            "id": str(issue.id),
            "key": issue.key,
            "self": f"{self.base_url}/rest/api/{self.version}/issue/{issue.id}",
            "fields": chosen,
        }

    def comment_json(self, issue: FakeIssue, comment: dict[str, Any]) -> dict[str, Any]:
        return {
            **comment,
            "body": self.body_out(comment["body"]),
            "self": f"{self.base_url}/rest/api/{self.version}/issue/{issue.id}/comment/{comment['id']}",
        }

    # --- behaviour -----------------------------------------------------------------------------------

    def check_text(self, name: str, value: Any, errors: dict[str, str]) -> None:
        if value is None:
            return
        if self.version == "3":
            if not is_adf(value):
                raise JiraFault(400, fixture("error_400_invalid_adf.json")["errorMessages"])
            size = len(json.dumps(value))
        else:
            if not isinstance(value, str):
                errors[name] = "Operation value must be a string"
                return
            size = len(value)
        if size > MAX_TEXT:
            errors[name] = "The entered text is too long. It exceeds the allowed limit of 32,767 characters."

    def create(self, body: Any) -> FakeIssue:
        fields = body.get("fields") if isinstance(body, dict) else None
        if not isinstance(fields, dict):
            raise JiraFault(400, ["Issue must have fields"])
        errors: dict[str, str] = {}
        try:
            project = self.store.project(str((fields.get("project") or {}).get("key") or fields["project"]["id"]))
        except (KeyError, TypeError, JiraFault):
            raise JiraFault(400, [], {"project": "valid project is required"}) from None
        wanted_type = fields.get("issuetype") or {}
        issue_type = next(
            (n for n, i in project.issue_types.items() if wanted_type.get("id") == i or wanted_type.get("name") == n),
            None,
        )
        if issue_type is None:
            raise JiraFault(400, [], {"issuetype": "The issue type selected is invalid."})
        summary = fields.get("summary")
        if not isinstance(summary, str) or not summary.strip():
            errors["summary"] = "You must specify a summary of the issue."
        elif len(summary) > MAX_SUMMARY or "\n" in summary:
            errors["summary"] = "Summary must be less than 255 characters."
        self.check_text("description", fields.get("description"), errors)
        for label in fields.get("labels") or []:
            if not isinstance(label, str) or re.search(r"\s", label) or len(label) > 255:
                errors["labels"] = f"The label '{label}' contains spaces which is invalid."
        for meta in project.fields_for(issue_type):
            if meta.required and not meta.has_default and fields.get(meta.field_id) in (None, "", [], {}):
                errors.setdefault(meta.field_id, f"{meta.name} is required.")
            if meta.allowed is not None and meta.field_id in fields:
                value = fields[meta.field_id]
                if not isinstance(value, dict) or value.get("value") not in meta.allowed:
                    errors[meta.field_id] = f"Specify a valid value for {meta.name}"
        known = {m.field_id for m in project.fields_for(issue_type)}
        for name in fields:
            if name not in known:
                errors[name] = f"Field '{name}' cannot be set. It is not on the appropriate screen, or unknown."
        if errors:
            raise JiraFault(400, [], errors)
        return self.store.add_issue(project, issue_type, fields)

    def created_json(self, issue: FakeIssue) -> dict[str, Any]:
        return {
            "id": str(issue.id),
            "key": issue.key,
            "self": f"{self.base_url}/rest/api/{self.version}/issue/{issue.id}",
        }

    def edit(self, issue: FakeIssue, body: dict[str, Any]) -> None:
        fields = dict(body.get("fields") or {})
        for verb in body.get("update", {}).get("labels", []):
            labels = fields.setdefault("labels", list(issue.labels))
            if "add" in verb and verb["add"] not in labels:
                labels.append(verb["add"])
            if "remove" in verb and verb["remove"] in labels:
                labels.remove(verb["remove"])
            if "set" in verb:
                fields["labels"] = list(verb["set"])
        errors: dict[str, str] = {}
        for label in fields.get("labels", []):
            if re.search(r"\s", label):
                errors["labels"] = f"The label '{label}' contains spaces which is invalid."
        if "summary" in fields and len(fields["summary"]) > MAX_SUMMARY:
            errors["summary"] = "Summary must be less than 255 characters."
        self.check_text("description", fields.get("description"), errors)
        if errors:
            raise JiraFault(400, [], errors)
        for name, value in fields.items():
            if name in {"labels", "summary", "description"}:
                setattr(issue, name, list(value) if name == "labels" else value)
            else:
                issue.extra[name] = value
        issue.updated = self.store.now()

    def transitions_json(self, issue: FakeIssue) -> dict[str, Any]:
        out = []
        for tid, name, source, target in issue.project.transitions():
            if source != issue.status:
                continue
            status_id, category, category_id = STATUSES[target]
            out.append(
                {
                    "id": tid,
                    "name": name,
                    "hasScreen": False,
                    "isGlobal": False,
                    "isInitial": False,
                    "isAvailable": True,
                    "isConditional": False,
                    "to": {
                        "self": f"{self.base_url}/rest/api/{self.version}/status/{status_id}",
                        "id": status_id,
                        "name": target,
                        "statusCategory": {"id": category_id, "key": category, "name": target},
                    },
                }
            )
        return {"expand": "transitions", "transitions": out}

    def transition(self, issue: FakeIssue, body: dict[str, Any]) -> None:
        wanted = str((body.get("transition") or {}).get("id", ""))
        for tid, _, source, target in issue.project.transitions():
            if tid == wanted and source == issue.status:
                issue.status = target
                issue.updated = self.store.now()
                return
        raise JiraFault(400, [f"Transition id '{wanted}' is not valid for this issue."])

    def add_comment(self, issue: FakeIssue, body: Any) -> dict[str, Any]:
        text = body.get("body") if isinstance(body, dict) else None
        errors: dict[str, str] = {}
        if text is None or text == "":
            raise JiraFault(400, [], {"comment": "Comment body can not be empty!"})
        self.check_text("comment", text, errors)
        if errors:
            raise JiraFault(400, [], errors)
        moment = jira_time(self.store.now())
        author = {k: self.store.account.get(k) for k in ("accountId", "name", "displayName") if k in self.store.account}
        comment = {
            "id": str(10000 + sum(len(i.comments) for i in self.store.issues.values())),
            "author": author,
            "updateAuthor": author,
            "body": text,
            "created": moment,
            "updated": moment,
        }
        issue.comments.append(comment)
        return self.comment_json(issue, comment)

    def link(self, body: dict[str, Any]) -> None:
        try:
            type_name = body["type"]["name"]
            inward, outward = body["inwardIssue"]["key"], body["outwardIssue"]["key"]
        except (KeyError, TypeError):
            raise JiraFault(400, ["Link type, inward and outward issues are required."]) from None
        _, name, _, _ = self.store.link_type(type_name)
        self.store.issue(inward), self.store.issue(outward)
        if not any(link[1:] == (name, inward, outward) for link in self.store.links):
            self.store.links.append((str(20000 + len(self.store.links)), name, inward, outward))


# --- HTTP ----------------------------------------------------------------------------------------------

Handler = Callable[[FakeJira, Request, dict[str, Any]], Any]


def _page(values: list[Any], request: Request, key: str, extra: dict[str, Any] | None = None) -> dict[str, Any]:
    start = int(request.query_params.get("startAt", 0))
    size = int(request.query_params.get("maxResults", 50))
    chunk = values[start : start + size]
    return {
        key: chunk,
        "startAt": start,
        "maxResults": size,
        "total": len(values),
        "isLast": start + size >= len(values),
        **(extra or {}),
    }


def _query(request: Request) -> dict[str, Any]:
    """Query parameters; a repeated ``fields`` (as the ``jira`` library sends a list) is joined like Jira does."""
    params: dict[str, Any] = dict(request.query_params)
    if "fields" in params:
        params["fields"] = ",".join(request.query_params.getlist("fields"))
    return params


def _fields_param(raw: Any) -> list[str] | None:
    if raw is None:
        return None
    items = raw if isinstance(raw, list) else str(raw).split(",")
    return [f.strip() for f in items if f.strip()]


def _search_cloud(jira: FakeJira, request: Request, body: dict[str, Any]) -> Any:
    params = body if request.method == "POST" else _query(request)
    found = jira.store.search(str(params.get("jql", "")), bounded=True)
    token = params.get("nextPageToken")
    start = int(base64.b64decode(token).decode()) if token else 0
    size = min(int(params.get("maxResults", 50)), jira.search_page_cap)
    fields = _fields_param(params.get("fields")) or ["id"]  # search/jql returns ids only by default
    chunk = found[start : start + size]
    page: dict[str, Any] = {"issues": [jira.issue_json(i, fields) for i in chunk], "isLast": start + size >= len(found)}
    if not page["isLast"]:
        page["nextPageToken"] = base64.b64encode(str(start + size).encode()).decode()
    return page


def _search_dc(jira: FakeJira, request: Request, body: dict[str, Any]) -> Any:
    params = body if request.method == "POST" else _query(request)
    found = jira.store.search(str(params.get("jql", "")), bounded=False)
    start = int(params.get("startAt", 0))
    size = min(int(params.get("maxResults", 50)), jira.search_page_cap)
    fields = _fields_param(params.get("fields")) or ["*navigable"]
    return {
        "expand": "schema,names",
        "startAt": start,
        "maxResults": size,
        "total": len(found),
        "issues": [jira.issue_json(i, fields) for i in found[start : start + size]],
    }


def _removed_search(jira: FakeJira, request: Request, body: dict[str, Any]) -> Any:
    return JSONResponse(fixture("error_410_search_removed.json"), status_code=410)


def _createmeta_types(jira: FakeJira, request: Request, body: dict[str, Any]) -> Any:
    project = jira.store.project(request.path_params["project"])
    types = [
        {
            "id": i,
            "name": n,
            "subtask": False,
            "description": n,
            "self": f"{jira.base_url}/rest/api/{jira.version}/issuetype/{i}",
        }
        for n, i in project.issue_types.items()
    ]
    return _page(types, request, "issueTypes" if jira.version == "3" else "values")


def _createmeta_fields(jira: FakeJira, request: Request, body: dict[str, Any]) -> Any:
    project = jira.store.project(request.path_params["project"])
    name = next((n for n, i in project.issue_types.items() if i == request.path_params["type_id"]), None)
    if name is None:
        raise JiraFault(404, ["Issue type with id '" + request.path_params["type_id"] + "' does not exist."])
    return _page(
        [m.to_json() for m in project.fields_for(name)], request, "fields" if jira.version == "3" else "values"
    )


def _server_info(jira: FakeJira, request: Request, body: dict[str, Any]) -> Any:
    if jira.deployment == "cloud":
        return {**fixture("cloud_v3_server_info_response.json"), "baseUrl": jira.base_url, "deploymentType": "Cloud"}
    return {
        "baseUrl": jira.base_url,
        "version": "8.20.8",
        "versionNumbers": [8, 20, 8],
        "deploymentType": "Server",
        "buildNumber": 820008,
        "serverTitle": "Fake Jira DC",
        "serverTime": "2026-01-05T09:00:00.000+0000",
    }


def _project(jira: FakeJira, request: Request, body: dict[str, Any]) -> Any:
    project = jira.store.project(request.path_params["project"])
    return {
        "id": project.id,
        "key": project.key,
        "name": project.name,
        "projectTypeKey": "software",
        "self": f"{jira.base_url}/rest/api/{jira.version}/project/{project.id}",
        "issueTypes": [{"id": i, "name": n, "subtask": False} for n, i in project.issue_types.items()],
    }


def _issue_create(jira: FakeJira, request: Request, body: dict[str, Any]) -> Any:
    return JSONResponse(jira.created_json(jira.create(body)), status_code=201)


def _issue_bulk(jira: FakeJira, request: Request, body: dict[str, Any]) -> Any:
    updates = body.get("issueUpdates") if isinstance(body, dict) else None
    if not isinstance(updates, list) or not 0 < len(updates) <= 50:
        raise JiraFault(400, ["issueUpdates must hold between 1 and 50 issues."])
    issues, errors = [], []
    for number, update in enumerate(updates):
        try:
            issues.append(jira.created_json(jira.create(update)))
        except JiraFault as fault:
            errors.append({"elementErrors": fault.body, "failedElementNumber": number, "status": fault.status})
    return JSONResponse({"issues": issues, "errors": errors}, status_code=201 if issues else 400)


def _issue(jira: FakeJira, request: Request, body: dict[str, Any]) -> Any:
    issue = jira.store.issue(request.path_params["key"])
    if request.method == "PUT":
        jira.edit(issue, body)
        return Response(status_code=204)
    return jira.issue_json(issue, _fields_param(_query(request).get("fields")))


def _comments(jira: FakeJira, request: Request, body: dict[str, Any]) -> Any:
    issue = jira.store.issue(request.path_params["key"])
    if request.method == "POST":
        return JSONResponse(jira.add_comment(issue, body), status_code=201)
    return _page([jira.comment_json(issue, c) for c in issue.comments], request, "comments")


def _transitions(jira: FakeJira, request: Request, body: dict[str, Any]) -> Any:
    issue = jira.store.issue(request.path_params["key"])
    if request.method == "POST":
        jira.transition(issue, body)
        return Response(status_code=204)
    return jira.transitions_json(issue)


def _issue_link(jira: FakeJira, request: Request, body: dict[str, Any]) -> Any:
    jira.link(body)
    return Response(status_code=201)


def _link_types(jira: FakeJira, request: Request, body: dict[str, Any]) -> Any:
    return {
        "issueLinkTypes": [
            {
                "id": i,
                "name": n,
                "inward": a,
                "outward": b,
                "self": f"{jira.base_url}/rest/api/{jira.version}/issueLinkType/{i}",
            }
            for i, n, a, b in LINK_TYPES
        ]
    }


def _fields(jira: FakeJira, request: Request, body: dict[str, Any]) -> Any:
    metas = {m.field_id: m for p in jira.store.projects.values() for t in p.issue_types for m in p.fields_for(t)}
    return [
        {
            "id": m.field_id,
            "key": m.field_id,
            "name": m.name,
            "custom": m.field_id.startswith("customfield_"),
            "navigable": True,
            "searchable": True,
            "clauseNames": [m.field_id, m.name.lower()],
            "orderable": True,
            "schema": m.schema,
        }
        for m in metas.values()
    ]


# path (under /rest/api/{v}) -> (methods, handler, fixture or spec schema it follows)
ROUTES: list[tuple[str, list[str], Handler, str]] = [
    ("/serverInfo", ["GET"], _server_info, "cloud_v3_server_info_response.json"),
    ("/myself", ["GET"], lambda j, r, b: j.store.account, "cloud_v3_myself_response.json"),
    ("/project/{project}", ["GET"], _project, "spec getProject"),
    ("/issue/createmeta/{project}/issuetypes", ["GET"], _createmeta_types, "spec getCreateIssueMetaIssueTypes"),
    (
        "/issue/createmeta/{project}/issuetypes/{type_id}",
        ["GET"],
        _createmeta_fields,
        "spec getCreateIssueMetaIssueTypeId",
    ),
    ("/issue", ["POST"], _issue_create, "create_issue_response.json, error_400*.json"),
    ("/issue/bulk", ["POST"], _issue_bulk, "cloud_v3_bulk_create_response_{201,400}.json"),
    ("/issue/{key}", ["GET", "PUT"], _issue, "spec getIssue / cloud_v3_edit_issue_request.json"),
    ("/issue/{key}/comment", ["GET", "POST"], _comments, "cloud_v3_add_comment_{request,response_201}.json"),
    ("/issue/{key}/transitions", ["GET", "POST"], _transitions, "cloud_v3_get_transitions_response.json"),
    ("/issueLink", ["POST"], _issue_link, "cloud_v3_issue_link_request.json"),
    ("/issueLinkType", ["GET"], _link_types, "spec getIssueLinkTypes"),
    ("/field", ["GET"], _fields, "spec getFields"),
]


class _DroppedResponse(Response):
    """Headers promising a body that never comes, then the connection closes: the client sees it drop."""

    def __init__(self) -> None:
        super().__init__(status_code=201)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await send(
            {
                "type": "http.response.start",
                "status": 201,
                "headers": [(b"content-type", b"application/json"), (b"content-length", b"512")],
            }
        )
        await send({"type": "http.response.body", "body": b'{"id":', "more_body": True})
        # Returning unfinished makes uvicorn close the connection.


def build_app(get: Callable[[], FakeJira]) -> Starlette:
    """The ASGI app; ``get`` returns the current site (tests swap it per test)."""

    def wrap(handler: Handler, version: str) -> Callable[[Request], Awaitable[Response]]:
        async def endpoint(request: Request) -> Response:
            jira = get()
            if jira.version != version:
                if request.url.path.endswith("/search"):
                    return JSONResponse(fixture("error_410_search_removed.json"), status_code=410)
                return JSONResponse({"errorMessages": ["Not served by this deployment."], "errors": {}}, 404)
            if handler is not _server_info and not jira.authorized(request.headers.get("authorization")):
                return Response("Client must be authenticated to access this resource.", 401, media_type="text/plain")
            raw = await request.body()
            try:
                body = json.loads(raw) if raw else {}
            except ValueError:
                return JSONResponse({"errorMessages": ["Unexpected character in the request body."]}, 400)
            with jira.lock:
                jira.journal.append((request.method, request.url.path))
                rule = next(
                    (r for r in jira.faults.rules if r.applies(request.method, request.url.path, jira.faults.rng)), None
                )
                if rule is not None and not rule.commit:
                    return _fault_response(rule)
                try:
                    result = handler(jira, request, body)
                except JiraFault as fault:
                    result = JSONResponse(fault.body, status_code=fault.status)
            if jira.faults.latency_seconds:  # the work is done; only the answer is late (a client may give up)
                await asyncio.sleep(jira.faults.latency_seconds)
            if rule is not None:
                return _fault_response(rule)
            return result if isinstance(result, Response) else JSONResponse(result)

        return endpoint

    routes = [
        Route(f"/rest/api/{v}{path}", wrap(handler, v), methods=methods)
        for v in ("2", "3")
        for path, methods, handler, _ in ROUTES
    ]
    routes += [
        Route(f"/rest/api/{v}/search", wrap(_search_dc if v == "2" else _removed_search, v), methods=["GET", "POST"])
        for v in ("2", "3")
    ]
    routes.append(Route("/rest/api/3/search/jql", wrap(_search_cloud, "3"), methods=["GET", "POST"]))
    return Starlette(routes=routes)


def _fault_response(rule: FaultRule) -> Response:
    if rule.kind == "drop":
        return _DroppedResponse()
    headers = {"Retry-After": rule.retry_after} if rule.retry_after else {}
    body = rule.body if rule.body is not None else {"errorMessages": [f"fault injected: {rule.status}"], "errors": {}}
    return JSONResponse(body, rule.status, headers)


class FakeJiraServer:
    """uvicorn on 127.0.0.1:<free port> in a daemon thread; :meth:`reset` installs a fresh site."""

    def __init__(self) -> None:
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.bind(("127.0.0.1", 0))
        self.port = self._sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.site = FakeJira("cloud", self.url)
        config = uvicorn.Config(
            build_app(lambda: self.site), log_level="critical", lifespan="off", ws="none", http="h11", access_log=False
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, kwargs={"sockets": [self._sock]}, daemon=True)

    def start(self) -> FakeJiraServer:
        self._thread.start()
        for _ in range(500):
            if self._server.started:
                return self
            threading.Event().wait(0.01)
        raise RuntimeError("fake Jira did not start")

    def reset(self, deployment: Literal["cloud", "datacenter"]) -> FakeJira:
        self.site = FakeJira(deployment, self.url)
        return self.site

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=5)
        self._sock.close()
