"""Jira Cloud: REST v3 over httpx, ADF bodies, Basic email + API token.

httpx rather than the ``jira`` library here: v3 bodies are ADF documents we build ourselves
(service/tickets/adf.py), search is ``/rest/api/3/search/jql`` with ``nextPageToken`` (the old ``/search``
answers 410), and the retry policy must stay ours. Paths and shapes: Atlassian's OpenAPI v3 document
(tests/fixtures/jira/jira-cloud-platform-openapi-v3.json): createIssue, createIssues, getIssue, editIssue,
searchAndReconsileIssuesUsingJql, addComment, getComments, getTransitions, doTransition, linkIssues,
getIssueLinkTypes, getCreateIssueMetaIssueTypes(+Id), getProject, getCurrentUser, getServerInfo.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from service.adapters.jira.client import JiraHttp
from service.adapters.jira.errors import Answer, jira_messages
from service.adapters.jira.mapping import adf_to_text
from service.errors import InvalidInput, OutcomeUnknown, TicketsmithError
from service.tickets.adf import markdown_to_adf
from service.tickets.limits import CUT_NOTE, MAX_BODY

CLOUD_AUTH_HINT = (
    "set TICKETSMITH_JIRA__EMAIL to the Atlassian account's email and TICKETSMITH_JIRA__API_TOKEN to an API token "
    "of that account (https://id.atlassian.com/manage-profile/security/api-tokens)"
)
API = "/rest/api/3"


class CloudApi:
    """:class:`service.adapters.jira.tracker.JiraApi` for Jira Cloud."""

    deployment = "Cloud"
    auth_hint = CLOUD_AUTH_HINT

    def __init__(self, http: JiraHttp, *, site: str) -> None:
        self._http = http
        self.site = site

    def close(self) -> None:
        self._http.close()

    def render(self, markdown: str) -> Any:
        return fit_adf(markdown)

    def text_of(self, body: Any) -> str:
        return adf_to_text(body)

    def _get(self, path: str, what: str, **params: Any) -> Any:
        return self._http.call("GET", f"{API}{path}", what=what, params=params or None)

    def _pages(self, path: str, key: str, what: str) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        while True:
            page = self._get(path, what, startAt=len(out), maxResults=50)
            values = page.get(key) or []
            out += values
            if not values or len(out) >= int(page.get("total", len(out))):
                return out

    def server_info(self) -> dict[str, Any]:
        return dict(self._get("/serverInfo", "read server info"))

    def myself(self) -> dict[str, Any]:
        return dict(self._get("/myself", "read the current user"))

    def project(self, key: str) -> dict[str, Any]:
        return dict(self._get(f"/project/{key}", f"read project {key}"))

    def issue_types(self, project: str) -> list[dict[str, Any]]:
        return self._pages(f"/issue/createmeta/{project}/issuetypes", "issueTypes", f"read issue types of {project}")

    def create_fields(self, project: str, issue_type_id: str) -> list[dict[str, Any]]:
        path = f"/issue/createmeta/{project}/issuetypes/{issue_type_id}"
        return self._pages(path, "fields", f"read create fields of {project}")

    def create(self, fields: dict[str, Any]) -> dict[str, Any]:
        what = f"create issue in {fields['project']['key']}"
        return dict(self._http.call("POST", f"{API}/issue", what=what, json_body={"fields": fields}, resend_safe=False))

    def create_bulk(self, batch: list[dict[str, Any]]) -> list[dict[str, Any] | TicketsmithError]:
        """POST /issue/bulk: 201 when any was created, 400 when all failed; failures carry ``failedElementNumber``."""
        what = f"create {len(batch)} issues"
        body = {"issueUpdates": [{"fields": f} for f in batch]}
        # A 400 with element errors means every issue failed; it is an answer to map, not an error to raise.
        answer = self._http.call(
            "POST", f"{API}/issue/bulk", what=what, json_body=body, resend_safe=False, accept=frozenset({400})
        )
        if not isinstance(answer, dict) or not isinstance(answer.get("errors"), list):
            raise InvalidInput(f"Jira refused {what}: {answer!r}", hint="check the batch")
        failed: dict[int, TicketsmithError] = {}
        for error in answer["errors"]:
            elements = Answer(int(error.get("status", 400)), {}, json.dumps(error.get("elementErrors") or {}))
            message, field_errors = jira_messages(elements)
            failed[int(error["failedElementNumber"])] = InvalidInput(
                f"Jira refused issue {int(error['failedElementNumber']) + 1} of the batch: {message}",
                hint="correct the named fields; `ticketsmith jira check` lists the fields the project requires",
                details={"status": error.get("status"), "errors": field_errors},
            )
        created = iter(answer.get("issues") or [])
        results: list[dict[str, Any] | TicketsmithError] = []
        for index in range(len(batch)):
            if index in failed:
                results.append(failed[index])
                continue
            item = next(created, None)
            results.append(
                dict(item)
                if item
                else OutcomeUnknown("Jira's bulk answer lists fewer issues than were sent", hint="look up by label")
            )
        return results

    def issue(self, key: str, fields: Sequence[str]) -> dict[str, Any]:
        return dict(self._get(f"/issue/{key}", f"read issue {key}", fields=",".join(fields)))

    def search(self, jql: str, limit: int, fields: Sequence[str]) -> list[dict[str, Any]]:
        """POST /search/jql, following ``nextPageToken`` until ``isLast`` or ``limit`` issues."""
        out: list[dict[str, Any]] = []
        token: str | None = None
        while len(out) < limit:
            body: dict[str, Any] = {"jql": jql, "maxResults": min(100, limit - len(out)), "fields": list(fields)}
            if token:
                body["nextPageToken"] = token
            page = self._http.call("POST", f"{API}/search/jql", what="search issues", json_body=body)
            out += page.get("issues") or []
            token = page.get("nextPageToken")
            if page.get("isLast", True) or not token:
                break
        return out[:limit]

    def add_comment(self, key: str, body: Any) -> dict[str, Any]:
        what = f"comment on {key}"
        path = f"{API}/issue/{key}/comment"
        return dict(self._http.call("POST", path, what=what, json_body={"body": body}, resend_safe=False))

    def comments(self, key: str) -> list[dict[str, Any]]:
        return self._pages(f"/issue/{key}/comment", "comments", f"read comments of {key}")

    def transitions(self, key: str) -> list[dict[str, Any]]:
        return list(self._get(f"/issue/{key}/transitions", f"read transitions of {key}").get("transitions") or [])

    def do_transition(self, key: str, transition_id: str) -> None:
        # Not re-sent on a lost answer: a repeated transition could move the issue one step further.
        body = {"transition": {"id": transition_id}}
        path = f"{API}/issue/{key}/transitions"
        self._http.call("POST", path, what=f"transition {key}", json_body=body, resend_safe=False)

    def link_types(self) -> list[dict[str, Any]]:
        return list(self._get("/issueLinkType", "read issue link types").get("issueLinkTypes") or [])

    def add_link(self, type_name: str, inward: str, outward: str) -> None:
        # Safe to re-send: Jira keeps one link per (type, inward, outward), and link() checks first.
        body = {"type": {"name": type_name}, "inwardIssue": {"key": inward}, "outwardIssue": {"key": outward}}
        self._http.call("POST", f"{API}/issueLink", what=f"link {inward} to {outward}", json_body=body)

    def edit(self, key: str, fields: dict[str, Any]) -> None:
        self._http.call("PUT", f"{API}/issue/{key}", what=f"edit {key}", json_body={"fields": fields})


def fit_adf(markdown: str, limit: int = MAX_BODY) -> dict[str, Any]:
    """ADF for ``markdown`` whose serialised JSON stays within ``limit`` characters.

    How Jira counts an ADF body against its 32,767-character limit is not documented, so we budget on the JSON
    (the safe reading of developer.atlassian.com/cloud/jira/platform/apis/document/structure): the Markdown is
    cut at a line boundary until the document fits.
    """
    doc = markdown_to_adf(markdown)
    text = markdown
    for _ in range(8):
        size = len(json.dumps(doc))
        if size <= limit:
            return doc
        keep = int(len(text) * limit / size * 0.9) - len(CUT_NOTE)
        head = text[:keep]
        newline = head.rfind("\n")
        text = (head[:newline] if newline > keep // 2 else head).rstrip() + CUT_NOTE
        doc = markdown_to_adf(text)
    return markdown_to_adf(markdown[: limit // 4] + CUT_NOTE)
