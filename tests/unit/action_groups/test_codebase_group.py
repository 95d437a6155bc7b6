"""The codebase action group over a real indexed repository: search, read (traversal refused with 400), list,
symbols with references, the repository map, and the same operations through a Bedrock event."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from service.adapters.knowledge.memory import InMemoryChunkIndex
from service.app import create_app
from service.container import Container, build_container
from service.knowledge_base.selection import SelectionRules
from service.settings import JobsSettings
from tests.conftest import make_settings
from tests.knowledge_fakes import CountingEmbedder
from tests.knowledge_repos import MAX_FILE_BYTES, commit, make_knowledge_repo, write

CALLERS = {
    "triage/escalate.py": (
        "from triage.router import TicketRouter, parse_priority\n\n\n"
        "def escalate(ticket):\n"
        "    if parse_priority(ticket.title) == 1:\n"
        "        return TicketRouter().route(ticket)\n"
    ),
    "triage/report.py": "from triage.router import parse_priority\n\n\ndef weekly(t):\n    return parse_priority(t)\n",
}


@pytest.fixture
def container(tmp_path: Path) -> Iterator[Container]:
    root = make_knowledge_repo(tmp_path / "triage")
    write(root, CALLERS)
    commit(root, "callers")
    settings = make_settings(tmp_path, jobs=JobsSettings(in_process_worker=False))
    built = build_container(settings, in_memory=True, chunk_index=InMemoryChunkIndex(), embedder=CountingEmbedder())
    built.knowledge._rules = SelectionRules(max_file_bytes=MAX_FILE_BYTES)
    built.knowledge.sync(str(root), name="triage", ref=None)
    built.knowledge.embed("triage")
    yield built
    built.close()


@pytest.fixture
def client(container: Container) -> Iterator[TestClient]:
    with TestClient(create_app(container=container)) as test_client:
        yield test_client


BASE = "/v1/codebase/repositories"


def test_list_and_search(client: TestClient) -> None:
    repos = client.get(BASE).json()["repositories"]
    assert [(r["name"], r["denseCoverage"]) for r in repos] == [("triage", 1.0)]
    found = client.get(f"{BASE}/triage/search", params={"query": "parse priority from title", "k": 3}).json()
    assert found["mode"] == "hybrid"
    assert found["results"][0]["citation"].startswith("triage/router.py:16-19@")
    only_java = client.get(f"{BASE}/triage/search", params={"query": "escalate", "language": "java"}).json()
    assert {r["path"] for r in only_java["results"]} == {"server/EscalationPolicy.java"}
    bad = client.get(f"{BASE}/triage/search", params={"query": "x", "mode": "fuzzy"})
    assert bad.status_code == 400


def test_read_file_and_ranges(client: TestClient) -> None:
    whole = client.get(f"{BASE}/triage/file", params={"path": "triage/router.py"}).json()
    assert whole["text"].startswith('"""Ticket triage."""')
    assert (whole["startLine"], whole["endLine"], whole["truncated"]) == (1, whole["totalLines"], False)
    part = client.get(f"{BASE}/triage/file", params={"path": "triage/router.py", "startLine": 16, "endLine": 17})
    assert (
        part.json()["text"]
        == 'def parse_priority(title):\n    """The priority written in a ticket title, like [P1]."""'
    )


@pytest.mark.parametrize(
    "path", ["../triage/router.py", "/etc/passwd", "triage/../../x", "C:/Windows/win.ini", "triage\\router.py"]
)
def test_traversal_is_refused_with_400(client: TestClient, path: str) -> None:
    answer = client.get(f"{BASE}/triage/file", params={"path": path})
    assert answer.status_code == 400, answer.text
    assert answer.json()["error"]["code"] == "invalid_input"


def test_files_outside_the_index_cannot_be_read(client: TestClient) -> None:
    for path in (".env", "deploy/server.pem", "node_modules/leftpad/index.js", "debug.log", "nope.py"):
        answer = client.get(f"{BASE}/triage/file", params={"path": path})
        assert answer.status_code == 404, (path, answer.text)
    assert client.get(f"{BASE}/other/file", params={"path": "a.py"}).status_code == 404


def test_list_files_under_a_path(client: TestClient) -> None:
    files = client.get(f"{BASE}/triage/files", params={"prefix": "triage/"}).json()["files"]
    names = ["triage/__init__.py", "triage/escalate.py", "triage/report.py", "triage/router.py"]
    assert [f["path"] for f in files] == names
    assert client.get(f"{BASE}/triage/files", params={"prefix": "../"}).status_code == 400


def test_find_symbol_definitions_and_references(client: TestClient) -> None:
    found = client.get(f"{BASE}/triage/symbols/parse_priority").json()
    assert [(d["path"], d["startLine"]) for d in found["definitions"]] == [("triage/router.py", 16)]
    uses = {(r["path"], r["line"]) for r in found["references"]}
    assert ("triage/escalate.py", 5) in uses
    assert ("triage/report.py", 5) in uses
    assert ("triage/router.py", 13) in uses  # the call inside TicketRouter.route, not the definition
    assert all(not r["text"].startswith("def parse_priority") for r in found["references"])
    method = client.get(f"{BASE}/triage/symbols/TicketRouter.route").json()
    assert [d["path"] for d in method["definitions"]] == ["triage/router.py"]


def test_repo_map_ranks_the_most_used_file_first(client: TestClient) -> None:
    mapped = client.get(f"{BASE}/triage/map", params={"limit": 3}).json()
    assert len(mapped["files"]) == 3
    top = mapped["files"][0]
    assert top["path"] == "triage/router.py"
    assert top["symbols"][0]["name"] == "parse_priority"
    assert top["symbols"][0]["references"] >= 3


def _event(api_path: str, parameters: list[dict[str, str]]) -> dict[str, Any]:
    return {
        "messageVersion": "1.0",
        "actionGroup": "codebase",
        "sessionId": "s1",
        "inputText": "read it",
        "agent": {"alias": "TSTALIASID", "name": "dev", "version": "DRAFT", "id": "AGENT00001"},
        "httpMethod": "GET",
        "apiPath": api_path,
        "parameters": [{"type": "string", **p} for p in parameters],
        "sessionAttributes": {},
        "promptSessionAttributes": {},
    }


def test_through_a_bedrock_event(client: TestClient) -> None:
    path = "/v1/codebase/repositories/{repo}/file"
    ok = client.post(
        "/v1/bedrock/actions",
        json=_event(path, [{"name": "repo", "value": "triage"}, {"name": "path", "value": "README.md"}]),
    ).json()["response"]
    assert ok["httpStatusCode"] == 200
    assert json.loads(ok["responseBody"]["application/json"]["body"])["text"].startswith("# Triage")
    refused = client.post(
        "/v1/bedrock/actions",
        json=_event(path, [{"name": "repo", "value": "triage"}, {"name": "path", "value": "../../etc/passwd"}]),
    ).json()["response"]
    assert refused["httpStatusCode"] == 400


def test_reading_past_the_end_of_a_file_is_a_clear_400(client: TestClient) -> None:
    past = client.get(f"{BASE}/triage/file", params={"path": "README.md", "startLine": 10**12})
    assert past.status_code == 400, past.text
    assert "past its end" in past.json()["error"]["message"]
    last = client.get(f"{BASE}/triage/file", params={"path": "README.md", "startLine": 7}).json()
    assert (last["startLine"], last["endLine"], last["totalLines"]) == (7, 7, 7)


@pytest.mark.parametrize("name", ["triage\u202e", "-rf", "a b", "x" * 101])
def test_a_repository_name_that_cannot_exist_is_refused_before_the_lookup(client: TestClient, name: str) -> None:
    answer = client.get(f"{BASE}/{name}/search", params={"query": "x"})
    assert answer.status_code == 422, answer.text
    assert "--name" not in answer.text  # no hint to index under a name the indexer would refuse
