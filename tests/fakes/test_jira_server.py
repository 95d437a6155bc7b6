"""The fake Jira itself: auth, shapes from the fixtures, JQL subset, paging, faults; and the real ``jira`` library."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from jira import JIRA, JIRAError

from tests.fakes.jira_server import FakeJira, fixture

ADF = {"type": "doc", "version": 1, "content": [{"type": "paragraph", "content": [{"type": "text", "text": "hi"}]}]}


@pytest.fixture
def client(fake_jira_cloud: FakeJira) -> Iterator[httpx.Client]:
    with httpx.Client(
        base_url=fake_jira_cloud.base_url, auth=(fake_jira_cloud.email, fake_jira_cloud.api_token), timeout=5
    ) as http:
        yield http


def new_issue(summary: str = "Broken", **fields: Any) -> dict[str, Any]:
    return {
        "fields": {
            "project": {"key": "OPS"},
            "issuetype": {"name": "Task"},
            "summary": summary,
            "description": ADF,
            **fields,
        }
    }


def test_auth_is_checked_but_server_info_is_public(fake_jira_cloud: FakeJira, client: httpx.Client) -> None:
    with httpx.Client(base_url=fake_jira_cloud.base_url) as anonymous:
        assert anonymous.get("/rest/api/3/serverInfo").json()["deploymentType"] == "Cloud"
        assert anonymous.get("/rest/api/3/myself").status_code == 401
    with httpx.Client(base_url=fake_jira_cloud.base_url, auth=(fake_jira_cloud.email, "nope")) as wrong:
        assert wrong.get("/rest/api/3/myself").status_code == 401
    assert client.get("/rest/api/3/myself").json()["emailAddress"] == fake_jira_cloud.email


def test_create_validates_like_cloud(fake_jira_cloud: FakeJira, client: httpx.Client) -> None:
    created = client.post("/rest/api/3/issue", json=new_issue())
    assert created.status_code == 201
    assert set(created.json()) == set(fixture("create_issue_response.json")) - {"transition"}
    plain = client.post("/rest/api/3/issue", json=new_issue(description="plain text"))
    assert plain.status_code == 400
    assert plain.json() == fixture("error_400_invalid_adf.json")
    long = client.post("/rest/api/3/issue", json=new_issue("x" * 256))
    assert long.json()["errors"] == {"summary": "Summary must be less than 255 characters."}
    missing = client.post(
        "/rest/api/3/issue",
        json={"fields": {**new_issue()["fields"], "project": {"key": "ENG"}, "issuetype": {"name": "Bug"}}},
    )
    assert missing.json()["errors"] == {"customfield_10050": "Team is required."}


def test_removed_search_answers_410_and_search_jql_pages(fake_jira_cloud: FakeJira, client: httpx.Client) -> None:
    assert client.get("/rest/api/3/search", params={"jql": "project = OPS"}).json() == fixture(
        "error_410_search_removed.json"
    )
    for n in range(5):
        client.post("/rest/api/3/issue", json=new_issue(f"n{n}", labels=["ts-fp-abc" if n % 2 else "other"]))
    fake_jira_cloud.search_page_cap = 2
    keys, token = [], None
    while True:
        page = client.get(
            "/rest/api/3/search/jql",
            params={
                "jql": "project = OPS ORDER BY created DESC",
                "fields": "summary",
                **({"nextPageToken": token} if token else {}),
            },
        ).json()
        assert "total" not in page
        keys += [i["key"] for i in page["issues"]]
        if page["isLast"]:
            break
        token = page["nextPageToken"]
    assert keys == ["OPS-5", "OPS-4", "OPS-3", "OPS-2", "OPS-1"]
    hits = client.post("/rest/api/3/search/jql", json={"jql": 'project = OPS AND labels = "ts-fp-abc"'}).json()
    assert [i["key"] for i in hits["issues"]] == ["OPS-2", "OPS-4"]
    assert hits["issues"][0]["fields"] == {}  # ids only unless fields are asked for
    unbounded = client.get("/rest/api/3/search/jql", params={"jql": "ORDER BY created DESC"})
    assert unbounded.status_code == 400


def test_jql_subset(fake_jira_cloud: FakeJira, client: httpx.Client) -> None:
    for n in range(3):
        client.post("/rest/api/3/issue", json=new_issue(f"n{n}", labels=[f"l{n}"]))
    transitions = client.get("/rest/api/3/issue/OPS-1/transitions").json()["transitions"]
    close = next(t for t in transitions if t["to"]["name"] == "Done")
    assert (
        client.post("/rest/api/3/issue/OPS-1/transitions", json={"transition": {"id": close["id"]}}).status_code == 204
    )

    def keys(jql: str) -> list[str]:
        return [i["key"] for i in client.get("/rest/api/3/search/jql", params={"jql": jql}).json()["issues"]]

    assert keys("project = OPS AND statusCategory != Done") == ["OPS-2", "OPS-3"]
    assert keys('labels in ("l0", l2) ORDER BY key DESC') == ["OPS-3", "OPS-1"]
    assert keys("key in (OPS-1, OPS-3) AND labels not in (l0)") == ["OPS-3"]
    assert client.get("/rest/api/3/search/jql", params={"jql": "project = NOPE"}).status_code == 400
    assert client.get("/rest/api/3/search/jql", params={"jql": "colour = red"}).status_code == 400


def test_transition_ids_differ_per_project(fake_jira_cloud: FakeJira, client: httpx.Client) -> None:
    client.post("/rest/api/3/issue", json=new_issue())
    client.post("/rest/api/3/issue", json={"fields": {**new_issue()["fields"], "project": {"key": "ENG"}}})
    ops = client.get("/rest/api/3/issue/OPS-1/transitions").json()["transitions"]
    eng = client.get("/rest/api/3/issue/ENG-1/transitions").json()["transitions"]
    assert [t["to"]["name"] for t in ops] == [t["to"]["name"] for t in eng]
    assert {t["id"] for t in ops}.isdisjoint({t["id"] for t in eng})


def test_bulk_partial_failure_has_the_fixture_shape(fake_jira_cloud: FakeJira, client: httpx.Client) -> None:
    bad = {"fields": {**new_issue()["fields"], "issuetype": {"name": "Sub-task"}}}
    answer = client.post("/rest/api/3/issue/bulk", json={"issueUpdates": [new_issue(), bad]})
    assert answer.status_code == 201
    assert [e["failedElementNumber"] for e in answer.json()["errors"]] == [1]
    assert set(answer.json()["errors"][0]) == set(fixture("cloud_v3_bulk_create_response_400.json")["errors"][0])
    assert client.post("/rest/api/3/issue/bulk", json={"issueUpdates": [bad]}).status_code == 400


def test_faults(fake_jira_cloud: FakeJira, client: httpx.Client) -> None:
    fake_jira_cloud.faults.throttle(2, retry_after="7")
    first = client.get("/rest/api/3/myself")
    assert (first.status_code, first.headers["Retry-After"]) == (429, "7")
    assert client.get("/rest/api/3/myself").status_code == 429
    assert client.get("/rest/api/3/myself").status_code == 200
    fake_jira_cloud.faults.created_then(1, status=503)
    assert client.post("/rest/api/3/issue", json=new_issue()).status_code == 503
    assert len(fake_jira_cloud.store.issues) == 1  # created all the same
    fake_jira_cloud.faults.drop(1, path="/issue$")
    with pytest.raises(httpx.RemoteProtocolError):
        client.post("/rest/api/3/issue", json=new_issue())
    assert len(fake_jira_cloud.store.issues) == 2


def test_real_jira_library_against_the_datacenter_site(fake_jira_dc: FakeJira, request: pytest.FixtureRequest) -> None:
    jira = JIRA(fake_jira_dc.base_url, token_auth=fake_jira_dc.pat, max_retries=0)
    request.addfinalizer(jira.close)
    assert jira.myself()["name"] == fake_jira_dc.username
    issue = jira.create_issue(
        fields={
            "project": {"key": "OPS"},
            "issuetype": {"name": "Task"},
            "summary": "From the library",
            "description": "h2. Wiki",
            "labels": ["ts-fp-0123abcd"],
        },
    )
    assert issue.key == "OPS-1"
    found = jira.search_issues('project = OPS AND labels = "ts-fp-0123abcd"')
    assert [i.key for i in found] == ["OPS-1"]
    assert found[0].fields.description == "h2. Wiki"
    jira.add_comment("OPS-1", "*bold* remark")
    assert [c.body for c in jira.comments("OPS-1")] == ["*bold* remark"]
    start = next(t for t in jira.transitions("OPS-1") if t["to"]["name"] == "In Progress")
    jira.transition_issue("OPS-1", start["id"])
    assert jira.issue("OPS-1").fields.status.name == "In Progress"
    assert [t.name for t in jira.project_issue_types("OPS")] == ["Task", "Bug"]
    wrong = JIRA(fake_jira_dc.base_url, basic_auth=("ticketsmith", "wrong"), max_retries=0)
    request.addfinalizer(wrong.close)
    with pytest.raises(JIRAError) as denied:
        wrong.myself()
    assert denied.value.status_code == 401
