"""The jira action group over REST on the local store: project scopes, confined JQL, creates without twins."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr

from service.action_groups.handlers.jira import confined_jql, split_jql
from service.app import create_app
from service.container import build_container
from service.domain.tickets import Comment, StatusCategory, Ticket
from service.errors import InvalidInput
from service.settings import ApiKeySettings
from tests.conftest import make_settings

OPS_KEY = "ops-key-0123456789abcdef"
ALL_KEY = "all-key-0123456789abcdef"
REPO = Path(__file__).resolve().parents[3]


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient]:
    settings = make_settings(
        tmp_path,
        api_keys=[
            ApiKeySettings(name="ops-bot", key=SecretStr(OPS_KEY), jira_projects=["OPS"]),
            ApiKeySettings(name="admin", key=SecretStr(ALL_KEY)),
        ],
    )
    container = build_container(settings, in_memory=True)
    with TestClient(create_app(container=container), raise_server_exceptions=False) as test_client:
        yield test_client


def call(client: TestClient, method: str, path: str, key: str = OPS_KEY, **kwargs: Any) -> tuple[int, Any]:
    response = client.request(method, f"/v1/jira{path}", headers={"Authorization": f"Bearer {key}"}, **kwargs)
    return response.status_code, response.json()


def create(client: TestClient, key: str = OPS_KEY, **body: Any) -> tuple[int, Any]:
    return call(client, "POST", "/issues", key, json={"summary": "Unused import", "projectKey": "OPS", **body})


def test_create_with_a_fingerprint_never_files_twice(client: TestClient) -> None:
    status, first = create(client, fingerprint="ab" * 16, description="`import os` is unused", labels=["lint x"])
    assert (status, first["action"], first["key"]) == (200, "created", "OPS-1")
    status, again = create(client, fingerprint="ab" * 16, description="`import os` is unused", labels=["lint x"])
    assert (status, again["action"], again["key"]) == (200, "skipped", "OPS-1")
    status, plain = create(client)
    assert (status, plain["action"]) == (200, "created")
    status, issue = call(client, "GET", "/issues/OPS-1")
    assert status == 200
    assert issue["description"] == "`import os` is unused"
    assert set(issue["labels"]) == {"lint-x", "ticketsmith", "ts-fp-" + "ab" * 16}


def test_other_projects_are_forbidden_with_a_hint(client: TestClient) -> None:
    assert create(client, key=ALL_KEY, projectKey="SEC")[0] == 200
    status, refused = create(client, projectKey="SEC")
    assert status == 403
    assert "SEC" in refused["error"]["message"]
    assert "jira_projects" in refused["error"]["hint"]
    for method, path, body in (
        ("GET", "/issues/SEC-1", None),
        ("POST", "/issues/SEC-1/comments", {"body": "hello"}),
        ("POST", "/issues/SEC-1/transitions", {"status": "Done"}),
    ):
        assert call(client, method, path, json=body)[0] == 403, path
    assert call(client, "GET", "/issues/SEC-1", ALL_KEY)[0] == 200


def test_searches_are_confined_to_the_allowed_projects(client: TestClient) -> None:
    create(client, summary="in ops", labels=["x"])
    create(client, key=ALL_KEY, projectKey="SEC", summary="in sec", labels=["x"])
    status, found = call(client, "GET", "/issues", params={"jql": "labels = x OR project = SEC ORDER BY key"})
    assert status == 200
    assert found["jql"] == "project in (OPS) AND (labels = x OR project = SEC) ORDER BY key"
    assert [i["key"] for i in found["issues"]] == ["OPS-1"]
    everything = call(client, "GET", "/issues", ALL_KEY, params={"jql": "labels = x ORDER BY key"})[1]
    assert [i["key"] for i in everything["issues"]] == ["OPS-1", "SEC-2"]
    status, escaped = call(client, "GET", "/issues", params={"jql": "labels = x) OR (project = SEC"})
    assert status == 400
    assert "unbalanced" in escaped["error"]["message"]


def test_comment_and_transition(client: TestClient) -> None:
    create(client)
    status, made = call(client, "POST", "/issues/OPS-1/comments", json={"body": "Fixed in **main**."})
    assert (status, made["key"]) == (200, "OPS-1")
    status, moved = call(client, "POST", "/issues/ops-1/transitions", json={"status": "in progress"})
    assert (status, moved["status"], moved["statusCategory"]) == (200, "In Progress", "indeterminate")
    status, refused = call(client, "POST", "/issues/OPS-1/transitions", json={"status": "Blocked"})
    assert status == 400
    assert "Done" in refused["error"]["hint"]
    assert call(client, "GET", "/issues/OPS-99")[0] == 404


def test_the_schema_asks_for_confirmation_before_creating() -> None:
    schema = json.loads((REPO / "agent_schemas" / "jira.json").read_text())
    operations = {op["operationId"]: op for path in schema["paths"].values() for op in path.values()}
    assert set(operations) == {"searchIssues", "getIssue", "createIssue", "addComment", "transitionIssue"}
    assert operations["createIssue"].get("x-requireConfirmation") == "ENABLED"
    assert "x-requireConfirmation" not in operations["searchIssues"]


@pytest.mark.parametrize(
    ("jql", "expected"),
    [
        ("", "project in (A, B)"),
        ("ORDER BY created DESC", "project in (A, B) ORDER BY created DESC"),
        ('summary ~ "order by me" order by key', 'project in (A, B) AND (summary ~ "order by me") order by key'),
        ("labels = reorder", "project in (A, B) AND (labels = reorder)"),
        ("(a = 1 OR b = 2)", "project in (A, B) AND ((a = 1 OR b = 2))"),
    ],
)
def test_confined_jql(jql: str, expected: str) -> None:
    assert confined_jql(jql, ["A", "B"]) == expected


@pytest.mark.parametrize(
    "jql",
    [
        "a = 1) OR (b = 2",
        "(a = 1",
        'summary ~ "open',
        "a = 1) OR project = X ORDER BY key (",
        # Jira reads x\" as an unquoted x": the ) after it would close the confinement and OR in project X.
        'summary ~ x\\" ) OR (project = X OR summary ~ "abc\\""',
    ],
)
def test_unbalanced_jql_is_refused(jql: str) -> None:
    with pytest.raises(InvalidInput):
        split_jql(jql)


@pytest.mark.parametrize("jql", ["(" * 900 + "key = OPS-1" + ")" * 900, "not " * 490 + "key = OPS-1"])
def test_deeply_nested_jql_gets_a_400_not_an_internal_error(client: TestClient, jql: str) -> None:
    status, body = call(client, "GET", "/issues", params={"jql": jql})
    assert status == 400, body
    assert "nests" in body["error"]["message"]


def test_an_issue_number_too_large_for_any_store_is_not_found(client: TestClient) -> None:
    create(client)
    status, body = call(client, "GET", "/issues/OPS-" + "9" * 30)
    assert status == 404, body
    assert call(client, "GET", "/issues/OPS-1")[0] == 200


def test_a_backslash_quote_cannot_close_the_confinement_over_rest(client: TestClient) -> None:
    status, body = call(client, "GET", "/issues", params={"jql": 'summary ~ x\\" ) OR (project = X OR key = "a\\""'})
    assert status == 400, body
    assert "backslash" in body["error"]["message"]


class MovedIssues:
    """A tracker whose every issue has moved to project SECRET (Jira answers the old key with the moved issue);
    it records the writes it is asked for."""

    def __init__(self) -> None:
        self.writes: list[str] = []

    def get(self, *, key: str) -> Ticket:
        return Ticket(
            key="SECRET-5",
            id="10005",
            url="https://jira.example.com/browse/SECRET-5",
            project_key="SECRET",
            summary="moved",
            description="",
            issue_type="Task",
            status="To Do",
            status_category=StatusCategory.NEW,
            labels=(),
        )

    def comment(self, *, key: str, body: str) -> Comment:
        self.writes.append(f"comment {key}")
        return Comment(id="1", body=body, author="bot")

    def transition(self, *, key: str, status: str) -> Ticket:
        self.writes.append(f"transition {key}")
        return self.get(key=key)


def test_writes_to_an_issue_moved_out_of_the_allowed_projects_are_refused(tmp_path: Path) -> None:
    tracker = MovedIssues()
    settings = make_settings(
        tmp_path, api_keys=[ApiKeySettings(name="ops-bot", key=SecretStr(OPS_KEY), jira_projects=["OPS"])]
    )
    container = build_container(settings, in_memory=True, issue_tracker=tracker)  # type: ignore[arg-type]
    with TestClient(create_app(container=container), raise_server_exceptions=False) as moved_client:
        assert call(moved_client, "GET", "/issues/OPS-1")[0] == 403
        status, body = call(moved_client, "POST", "/issues/OPS-1/comments", json={"body": "hello"})
        assert status == 403, body
        status, body = call(moved_client, "POST", "/issues/OPS-1/transitions", json={"status": "Done"})
        assert status == 403, body
    assert tracker.writes == []
