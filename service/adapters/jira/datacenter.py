"""Jira Server/Data Center: REST v2 through the ``jira`` library, wiki-markup bodies, PAT (Bearer) or Basic.

The library is built with ``max_retries=0``: its ResilientSession would otherwise re-send every request,
POST /issue included, on 429/503/connection errors (jira 3.10.5 ``resilientsession.py``), which can file a
ticket twice. Our :class:`RetryPolicy` wraps each library call instead and never re-sends a create or a comment.
Create metadata uses DC 8.4+ ``/issue/createmeta/{project}/issuetypes[/{id}]`` (``project_issue_types``,
``project_issue_fields``). DC has a bulk create, but one create per draft keeps each outcome known separately.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from functools import partial
from typing import Any, TypeVar

import requests
from jira import JIRA, JIRAError
from urllib3.exceptions import MaxRetryError, NewConnectionError

from service.adapters.jira.client import RetryPolicy
from service.adapters.jira.errors import Answer, HttpFailure, TransportFailure
from service.adapters.jira.mapping import wiki_to_text
from service.errors import NotFound, OutcomeUnknown, TicketsmithError
from service.tickets.wiki import markdown_to_wiki

T = TypeVar("T")
DC_AUTH_HINT = (
    "set TICKETSMITH_JIRA__PAT to a personal access token (Profile > Personal Access Tokens), or "
    "TICKETSMITH_JIRA__USERNAME and TICKETSMITH_JIRA__PASSWORD for Basic authentication"
)


def _never_connected(exc: requests.RequestException) -> bool:
    if isinstance(exc, requests.exceptions.ConnectTimeout):
        return True
    reason = exc.args[0] if isinstance(exc, requests.exceptions.ConnectionError) and exc.args else None
    return isinstance(reason, MaxRetryError) and isinstance(reason.reason, NewConnectionError)


def _attempt(work: Callable[[], T]) -> Callable[[], T]:
    """``work`` with library and transport exceptions turned into what the retry policy understands."""

    def run() -> T:
        try:
            return work()
        except JIRAError as exc:
            response = exc.response
            headers = {k.lower(): v for k, v in response.headers.items()} if response is not None else {}
            text = response.text if response is not None else str(exc.text or "")
            raise HttpFailure(Answer(int(exc.status_code or 0) or 500, headers, text)) from exc
        except requests.RequestException as exc:
            raise TransportFailure(exc, sent=not _never_connected(exc)) from exc

    return run


class DataCenterApi:
    """:class:`service.adapters.jira.tracker.JiraApi` for Jira Server/Data Center."""

    deployment = "Server"
    auth_hint = DC_AUTH_HINT

    def __init__(
        self,
        site: str,
        *,
        pat: str | None,
        basic: tuple[str, str] | None,
        timeout: float,
        policy: RetryPolicy,
    ) -> None:
        self.site = site
        self._pat = pat
        self._basic = basic
        self._timeout = timeout
        self._policy = policy
        self._client: JIRA | None = None
        self._legacy: dict[str, dict[str, list[dict[str, Any]]]] = {}  # project -> issue type id -> fields

    def close(self) -> None:
        if self._client is not None:
            self._client.close()  # type: ignore[no-untyped-call]  # the library leaves it unannotated
            self._client = None

    def _jira(self) -> JIRA:
        if self._client is None:
            self._client = self._run(
                lambda: JIRA(
                    self.site,
                    options={"rest_api_version": "2"},
                    token_auth=self._pat,
                    basic_auth=self._basic,
                    timeout=self._timeout,
                    max_retries=0,  # retries are ours; see the module docstring
                ),
                what="connect",
            )
        return self._client

    def _run(self, work: Callable[[], T], *, what: str, resend_safe: bool = True) -> T:
        return self._policy.run(
            _attempt(work), resend_safe=resend_safe, what=what, url=self.site, auth_hint=DC_AUTH_HINT
        )

    def _call(self, work: Callable[[JIRA], T], *, what: str, resend_safe: bool = True) -> T:
        jira = self._jira()
        return self._run(lambda: work(jira), what=what, resend_safe=resend_safe)

    def render(self, markdown: str) -> Any:
        return markdown_to_wiki(markdown)

    def text_of(self, body: Any) -> str:
        return wiki_to_text(body)

    def server_info(self) -> dict[str, Any]:
        return self._call(lambda j: j.server_info(), what="read server info")

    def myself(self) -> dict[str, Any]:
        return self._call(lambda j: j.myself(), what="read the current user")

    def project(self, key: str) -> dict[str, Any]:
        return self._call(lambda j: dict(j.project(key).raw), what=f"read project {key}")

    def issue_types(self, project: str) -> list[dict[str, Any]]:
        what = f"read issue types of {project}"
        try:
            return self._call(
                lambda j: [dict(t.raw) for t in j.project_issue_types(project, maxResults=100)], what=what
            )
        except NotFound:
            legacy = self._legacy_createmeta(project)
            if legacy is None:
                raise
            return legacy

    def create_fields(self, project: str, issue_type_id: str) -> list[dict[str, Any]]:
        if project in self._legacy:
            return self._legacy[project].get(issue_type_id, [])
        what = f"read create fields of {project}"
        return self._call(
            lambda j: [dict(f.raw) for f in j.project_issue_fields(project, issue_type_id, maxResults=100)], what=what
        )

    def _legacy_createmeta(self, project: str) -> list[dict[str, Any]] | None:
        """Issue types and their fields from ``/issue/createmeta?expand=projects.issuetypes.fields``: the only
        createmeta of Jira before 8.4 (removed in 9.0), for sites without the per-project endpoints."""

        def fetch(jira: JIRA) -> dict[str, Any]:
            # The library warns that this API is deprecated from 8.4; we only get here when the newer one is absent.
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", DeprecationWarning)
                return jira.createmeta(projectKeys=project, expand="projects.issuetypes.fields")

        meta = self._call(fetch, what=f"read create metadata of {project}")
        entry = next((p for p in meta.get("projects") or [] if p.get("key") == project), None)
        if entry is None:
            return None
        types = list(entry.get("issuetypes") or [])
        self._legacy[project] = {
            str(t["id"]): [{"fieldId": fid, **f} for fid, f in (t.get("fields") or {}).items()] for t in types
        }
        return [{k: v for k, v in t.items() if k != "fields"} for t in types]

    def create(self, fields: dict[str, Any]) -> dict[str, Any]:
        what = f"create issue in {fields['project']['key']}"
        try:
            # prefetch=False: one POST; ids in project/issuetype so the library makes no look-ups of its own.
            return self._call(
                lambda j: dict(j.create_issue(fields=fields, prefetch=False).raw), what=what, resend_safe=False
            )
        except TicketsmithError as exc:
            status = (exc.details or {}).get("status") if isinstance(exc.details, dict) else None
            if status is not None and 200 <= int(status) < 300:  # 2xx without a key: the library's JIRAError
                raise OutcomeUnknown(f"{what}: Jira answered without an issue key", hint="look up by label") from exc
            raise

    def create_bulk(self, batch: list[dict[str, Any]]) -> list[dict[str, Any] | TicketsmithError]:
        results: list[dict[str, Any] | TicketsmithError] = []
        for fields in batch:
            try:
                results.append(self.create(fields))
            except TicketsmithError as exc:
                results.append(exc)
        return results

    def issue(self, key: str, fields: Sequence[str]) -> dict[str, Any]:
        return self._call(lambda j: dict(j.issue(key, fields=",".join(fields)).raw), what=f"read issue {key}")

    def search(self, jql: str, limit: int, fields: Sequence[str]) -> list[dict[str, Any]]:
        """/rest/api/2/search with startAt paging (Data Center keeps it; Cloud removed it)."""
        out: list[dict[str, Any]] = []
        while len(out) < limit:
            page = self._call(
                partial(self._search_page, jql=jql, start=len(out), size=min(100, limit - len(out)), fields=fields),
                what="search issues",
            )
            issues = list(page.get("issues") or [])
            out += issues
            if not issues or len(out) >= int(page.get("total", 0)):
                break
        return out[:limit]

    @staticmethod
    def _search_page(jira: JIRA, *, jql: str, start: int, size: int, fields: Sequence[str]) -> dict[str, Any]:
        return dict(jira.search_issues(jql, startAt=start, maxResults=size, fields=list(fields), json_result=True))

    def add_comment(self, key: str, body: Any) -> dict[str, Any]:
        return self._call(lambda j: dict(j.add_comment(key, body).raw), what=f"comment on {key}", resend_safe=False)

    def comments(self, key: str) -> list[dict[str, Any]]:
        return self._call(lambda j: [dict(c.raw) for c in j.comments(key)], what=f"read comments of {key}")

    def transitions(self, key: str) -> list[dict[str, Any]]:
        return self._call(lambda j: list(j.transitions(key)), what=f"read transitions of {key}")

    def do_transition(self, key: str, transition_id: str) -> None:
        self._call(lambda j: j.transition_issue(key, transition_id), what=f"transition {key}", resend_safe=False)

    def link_types(self) -> list[dict[str, Any]]:
        return self._call(lambda j: [dict(t.raw) for t in j.issue_link_types()], what="read issue link types")

    def add_link(self, type_name: str, inward: str, outward: str) -> None:
        self._call(lambda j: j.create_issue_link(type_name, inward, outward), what=f"link {inward} to {outward}")

    def edit(self, key: str, fields: dict[str, Any]) -> None:
        self._call(lambda j: j.issue(key, fields="labels").update(fields=fields), what=f"edit {key}")
