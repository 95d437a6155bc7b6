"""A stateful fake Jira over real HTTP: Cloud (REST v3, ADF) or Server/Data Center (REST v2, wiki text).

Served by uvicorn in a thread on 127.0.0.1, so the adapters and the real ``jira`` library talk to it like to a
site. Shapes come from ``tests/fixtures/jira/`` (Atlassian's OpenAPI v3 document and its examples; see the
route table in :func:`build_app`). Auth is checked on every route but ``serverInfo`` (anonymous there, as in
Jira). Faults are injected from tests through :attr:`FakeJira.faults`.

Not emulated: search's eventual consistency (``reconcileIssues`` is ignored; a new issue is found at once),
permissions beyond authentication (403 only when injected), JQL beyond the subset in ``jira_state`` (no OR,
functions, ``~``, dates), v2 routes on a Cloud site (only the 410 of the removed search), Data Center's bulk
create and pre-8.4 createmeta, ``expand``/changelog/users/attachments/remote links/properties, update verbs
other than labels, rate limits that depend on cost, and webhooks.
"""

from __future__ import annotations

import asyncio
import base64
import json
import socket
import threading
from collections.abc import Awaitable, Callable
from typing import Any, Literal

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from tests.fakes.jira_faults import CREATE_PATH, FaultRule, Faults
from tests.fakes.jira_site import FIXTURES, FakeJira, fixture
from tests.fakes.jira_state import LINK_TYPES, JiraFault

__all__ = ["CREATE_PATH", "FIXTURES", "FakeJira", "FakeJiraServer", "FaultRule", "Faults", "fixture"]

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
