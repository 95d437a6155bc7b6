"""``POST /v1/chat``: answers with and without a model, streamed as server-sent events, and clear 4xx errors."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from fastapi.testclient import TestClient

from service.adapters.llm.scripted import ScriptedLLM, ScriptedRequest
from service.app import create_app
from service.container import Container, build_container
from service.domain.llm import ModelReply
from service.domain.runs import RunState, SpanKind
from service.settings import ApiKeySettings, JobsSettings
from tests.conftest import make_settings
from tests.llm_fakes import text_reply, tool_reply
from tests.quality_repos import make_repo

ADMIN_KEY = "admin-0123456789abcdef"
OTHER_KEY = "other-0123456789abcdef"
QUALITY_KEY = "quality-0123456789abcdef"
LONG_ANSWER = (
    "The lexer reads the source one character at a time and groups the characters into tokens; "
    "see lexer.py lines 1 to 4 for the loop and the token table it fills."
)


def _container(tmp_path: Path, llm: ScriptedLLM | None = None) -> Container:
    settings = make_settings(
        tmp_path,
        jobs=JobsSettings(in_process_worker=False, call_retention_days=0),
        api_keys=[
            ApiKeySettings(name="admin", key=ADMIN_KEY),  # type: ignore[arg-type]
            ApiKeySettings(name="other", key=OTHER_KEY),  # type: ignore[arg-type]
            ApiKeySettings(name="quality", key=QUALITY_KEY, action_groups=["quality"]),  # type: ignore[arg-type]
        ],
    )
    return build_container(settings, in_memory=True, llm=llm)


@pytest.fixture
def offline(tmp_path: Path) -> Iterator[tuple[Container, TestClient]]:
    """No model configured; one small repository indexed."""
    container = _container(tmp_path)
    repo = make_repo(
        tmp_path / "repos" / "demo",
        {"lexer.py": "def tokenize(source):\n    # split the source into tokens\n    return source.split()\n"},
    )
    container.knowledge.sync(str(repo), name=None, ref=None)
    with TestClient(create_app(container=container), headers={"X-Api-Key": ADMIN_KEY}) as client:
        yield container, client


def _events(lines: Iterator[str]) -> Iterator[tuple[str, dict[str, Any]]]:
    event = ""
    for line in lines:
        if line.startswith("event: "):
            event = line.removeprefix("event: ")
        elif line.startswith("data: "):
            yield event, json.loads(line.removeprefix("data: "))


def test_without_a_model_the_answer_is_the_search_hits_with_citations(
    offline: tuple[Container, TestClient],
) -> None:
    container, client = offline
    answered = client.post("/v1/chat", json={"sessionId": "s1", "message": "tokenize source tokens"})
    assert answered.status_code == 200, answered.text
    body = answered.json()
    assert body["answer"].startswith("No model is configured, so no model wrote this answer.")
    assert body["model"] is None
    assert body["state"] == "succeeded"
    (citation, *_) = body["citations"]
    assert citation["path"] == "lexer.py"
    assert citation["start_line"] == 1
    assert len(citation["commit"]) == 40
    assert "lexer.py:1-" in body["answer"]
    run = container.run_store.get(body["runId"])
    assert (run.workflow, run.trigger.value, run.planner) == ("chat", "chat", "deterministic")
    assert [s.kind for s in container.run_store.spans(run.id)] == [SpanKind.RETRIEVAL]


def test_without_a_model_a_write_in_so_many_words_waits_for_its_confirmation(
    offline: tuple[Container, TestClient],
) -> None:
    container, client = offline
    asked = client.post("/v1/chat", json={"sessionId": "s1", "message": "create a ticket: Rename tokenize"}).json()
    assert asked["state"] == "paused"
    assert asked["confirmation"]["action"] == "jira.createIssue"
    assert asked["confirmation"]["input"] == {"summary": "Rename tokenize"}
    project = container.settings.tickets.local_project
    assert container.issue_tracker.search(jql=f"project = {project}") == []
    done = client.post("/v1/chat", json={"sessionId": "s1", "confirm": {"runId": asked["runId"], "approve": True}})
    assert done.status_code == 200, done.text
    assert done.json()["state"] == "succeeded"
    assert "jira.createIssue answered" in done.json()["answer"]
    assert [t.summary for t in container.issue_tracker.search(jql=f"project = {project}")] == ["Rename tokenize"]


def test_bad_input_is_a_clear_4xx(offline: tuple[Container, TestClient]) -> None:
    container, client = offline
    cases: list[tuple[dict[str, Any], int, str]] = [
        ({"sessionId": "s1"}, 400, "either a message or a confirm"),
        ({"sessionId": "s1", "message": "hi", "confirm": {"runId": "r", "approve": True}}, 400, "not both"),
        ({"sessionId": "s1", "message": "   "}, 400, "empty"),
        ({"message": "hi"}, 422, "sessionId"),
        ({"sessionId": "../etc", "message": "hi"}, 422, "sessionId"),
        ({"sessionId": "s1", "message": "hi", "extra": 1}, 422, "extra"),
        ({"sessionId": "s1", "confirm": {"runId": "r"}}, 422, "approve"),
        ({"sessionId": "nobody", "confirm": {"runId": "r", "approve": True}}, 404, "no chat session"),
    ]
    for payload, status, words in cases:
        answer = client.post("/v1/chat", json=payload)
        assert answer.status_code == status, (payload, answer.text)
        assert words in answer.text, (payload, answer.text)
    assert (
        client.post("/v1/chat", content=b"{not json", headers={"content-type": "application/json"}).status_code == 422
    )
    finished = client.post("/v1/chat", json={"sessionId": "s1", "message": "tokenize"}).json()
    unknown = client.post("/v1/chat", json={"sessionId": "s1", "confirm": {"runId": "nope", "approve": True}})
    assert unknown.status_code == 404
    assert "no run 'nope'" in unknown.text
    not_paused = client.post(
        "/v1/chat", json={"sessionId": "s1", "confirm": {"runId": finished["runId"], "approve": True}}
    )
    assert not_paused.status_code == 409
    assert "waits for no confirmation" in not_paused.text
    client.post("/v1/chat", json={"sessionId": "s2", "message": "tokenize"})
    elsewhere = client.post(
        "/v1/chat", json={"sessionId": "s2", "confirm": {"runId": finished["runId"], "approve": True}}
    )
    assert elsewhere.status_code == 404
    assert "not a turn of chat session 's2'" in elsewhere.text
    assert client.get("/v1/chat/nobody").status_code == 404
    other = {"X-Api-Key": OTHER_KEY}
    assert client.post("/v1/chat", json={"sessionId": "s1", "message": "hi"}, headers=other).status_code == 403
    assert client.get("/v1/chat/s1", headers=other).status_code == 403
    quality = {"X-Api-Key": QUALITY_KEY}
    assert client.post("/v1/chat", json={"sessionId": "q", "message": "hi"}, headers=quality).status_code == 403
    assert container.run_store.get(finished["runId"]).state is RunState.SUCCEEDED


def test_a_model_failure_ends_the_stream_with_an_error_event_and_fails_the_run(tmp_path: Path) -> None:
    container = _container(tmp_path, ScriptedLLM([]))  # nothing to say: fails like a provider
    with TestClient(create_app(container=container), headers={"X-Api-Key": ADMIN_KEY}) as client:
        with client.stream("POST", "/v1/chat?stream=true", json={"sessionId": "s", "message": "hi"}) as answer:
            assert answer.status_code == 200
            events = list(_events(answer.iter_lines()))
        assert [name for name, _ in events] == ["error"]
        assert events[0][1]["error"]["code"] == "upstream_failed"
        (run,) = container.run_store.list(workflow="chat")
        assert run.state is RunState.FAILED
        plain = client.post("/v1/chat", json={"sessionId": "s", "message": "hi"})
        assert plain.status_code == 502
        assert "no reply left" in plain.text


class _Server:
    """The service on 127.0.0.1:<free port> (uvicorn in a thread), so a stream is read as it is written."""

    def __init__(self, container: Container) -> None:
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.bind(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self._sock.getsockname()[1]}"
        config = uvicorn.Config(
            create_app(container=container), log_level="critical", lifespan="off", http="h11", access_log=False
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, kwargs={"sockets": [self._sock]}, daemon=True)

    def __enter__(self) -> _Server:
        self._thread.start()
        for _ in range(500):
            if self._server.started:
                return self
            threading.Event().wait(0.01)
        raise RuntimeError("the service did not start")

    def __exit__(self, *_: object) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=5)
        self._sock.close()


def test_streaming_delivers_partial_output_while_the_turn_is_still_running(tmp_path: Path) -> None:
    first_delta_read = threading.Event()
    waited: list[bool] = []

    def answer_once_the_client_has_read_the_start(request: ScriptedRequest) -> ModelReply:
        # The turn is still running here: the client must already hold the first model call's text.
        waited.append(first_delta_read.wait(timeout=10))
        return text_reply(LONG_ANSWER)

    llm = ScriptedLLM(
        [
            tool_reply(("codebase_listRepositories", {}), text="Let me look at what is indexed first."),
            answer_once_the_client_has_read_the_start,
        ]
    )
    container = _container(tmp_path, llm)
    try:
        with _Server(container) as server, httpx.Client(base_url=server.url, timeout=20) as client:
            request = {"sessionId": "live", "message": "How does the lexer work?"}
            headers = {"X-Api-Key": ADMIN_KEY, "Accept": "text/event-stream"}
            events: list[tuple[str, dict[str, Any]]] = []
            with client.stream("POST", "/v1/chat", json=request, headers=headers) as answer:
                assert answer.status_code == 200
                assert answer.headers["content-type"].startswith("text/event-stream")
                for event in _events(answer.iter_lines()):
                    events.append(event)
                    if event[0] == "delta":
                        first_delta_read.set()
    finally:
        container.close()
    assert waited == [True], "the first delta reached the client before the turn went on"
    names = [name for name, _ in events]
    assert names[-1] == "done"
    assert names.count("delta") >= 2
    assert "tool" in names
    done = events[-1][1]
    streamed = "".join(data["text"] for name, data in events if name == "delta")
    assert streamed == done["answer"] == "Let me look at what is indexed first.\n\n" + LONG_ANSWER
    assert done["state"] == "succeeded"
    assert done["model"] == "scripted"
