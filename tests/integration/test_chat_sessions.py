"""Chat sessions on the SQLite service database: a session and a paused turn survive a restart of the service,
and the confirming call -- in the new process -- resumes the turn (approve) or cancels it (refuse)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from service.adapters.llm.scripted import ScriptedLLM, ScriptedRequest
from service.app import create_app
from service.container import Container, build_container
from service.domain.llm import ModelReply, ToolResult
from service.domain.runs import RunState, SpanKind
from service.settings import JobsSettings, Settings
from tests.conftest import make_settings
from tests.llm_fakes import text_reply, tool_reply

ISSUE = {"summary": "Rotate the deploy key"}


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return make_settings(tmp_path, jobs=JobsSettings(in_process_worker=False, call_retention_days=0))


class Service:
    """The service over one data directory, built (and torn down) again on every ``start``: a restart."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.container: Container | None = None

    def start(self, llm: ScriptedLLM) -> TestClient:
        self.stop()
        self.container = build_container(self.settings, llm=llm)
        return TestClient(create_app(container=self.container), raise_server_exceptions=False)

    def stop(self) -> None:
        if self.container is not None:
            self.container.close()
            self.container = None


@pytest.fixture
def service(settings: Settings) -> Iterator[Service]:
    running = Service(settings)
    yield running
    running.stop()


def _tickets(container: Container) -> list[str]:
    project = container.settings.tickets.local_project
    return [t.summary for t in container.issue_tracker.search(jql=f"project = {project}")]


def test_a_session_survives_a_restart_and_the_model_sees_its_history(service: Service) -> None:
    with service.start(ScriptedLLM([text_reply("Tokens are parsed in lexer.py.")])) as client:
        first = client.post("/v1/chat", json={"sessionId": "s-1", "message": "Where are tokens parsed?"})
        assert first.status_code == 200, first.text
        assert first.json()["answer"] == "Tokens are parsed in lexer.py."
    later = ScriptedLLM([text_reply("By the Lexer class.")])
    with service.start(later) as client:
        history = client.get("/v1/chat/s-1").json()["messages"]
        assert [(m["role"], m["text"]) for m in history] == [
            ("user", "Where are tokens parsed?"),
            ("assistant", "Tokens are parsed in lexer.py."),
        ]
        second = client.post("/v1/chat", json={"sessionId": "s-1", "message": "By what?"})
        assert second.status_code == 200, second.text
    (request,) = later.requests
    assert [(m.role, m.text) for m in request.messages] == [
        ("user", "Where are tokens parsed?"),
        ("assistant", "Tokens are parsed in lexer.py."),
        ("user", "By what?"),
    ]


def _saw_result(request: ScriptedRequest) -> ModelReply:
    (result,) = request.last.content
    assert isinstance(result, ToolResult)
    return text_reply("Refused, so nothing was filed." if result.is_error else "Filed it.")


@pytest.mark.parametrize("approve", [True, False])
def test_a_write_pauses_the_run_and_the_confirming_call_after_a_restart_decides(
    service: Service, approve: bool
) -> None:
    asking = ScriptedLLM([tool_reply(("jira_createIssue", ISSUE), text="I will file it.")])
    with service.start(asking) as client:
        asked = client.post("/v1/chat", json={"sessionId": "s-2", "message": "File a ticket to rotate the key"})
        assert asked.status_code == 200, asked.text
        answer = asked.json()
        assert answer["state"] == "paused"
        assert answer["confirmation"]["action"] == "jira.createIssue"
        assert answer["confirmation"]["input"] == ISSUE
        assert "needs confirmation: jira.createIssue" in answer["answer"]
        run_id = answer["runId"]
        assert service.container is not None
        assert _tickets(service.container) == [], "nothing is filed before the confirmation"

    finishing = ScriptedLLM([_saw_result])
    with service.start(finishing) as client:
        assert service.container is not None
        stored = service.container.run_store.get(run_id)
        assert (stored.state, stored.workflow, stored.trigger.value) == (RunState.PAUSED, "chat", "chat")
        assert stored.checkpoint["pending_confirmation"]["action"] == "jira.createIssue"
        assert set(stored.checkpoint["pending_confirmation"]) == {"action", "input", "reason", "requested_at"}

        decided = client.post("/v1/chat", json={"sessionId": "s-2", "confirm": {"runId": run_id, "approve": approve}})
        assert decided.status_code == 200, decided.text
        body = decided.json()
        run = service.container.run_store.get(run_id)
        if approve:
            assert (body["state"], body["answer"], run.state) == (
                "succeeded",
                "I will file it.\n\nFiled it.",
                RunState.SUCCEEDED,
            )
            assert _tickets(service.container) == [ISSUE["summary"]]
            tools = [s for s in service.container.run_store.spans(run_id) if s.kind is SpanKind.TOOL]
            assert [s.name for s in tools] == ["jira.createIssue"]
        else:
            assert (body["state"], run.state) == ("cancelled", RunState.CANCELLED)
            assert "refused" in (run.error or "")
            assert _tickets(service.container) == []
        (request,) = finishing.requests
        (result,) = request.last.content
        assert isinstance(result, ToolResult)
        assert result.is_error is (not approve)
        again = client.post("/v1/chat", json={"sessionId": "s-2", "confirm": {"runId": run_id, "approve": approve}})
        assert again.status_code == 409, "a decided turn waits for nothing"
        assert len(_tickets(service.container)) == (1 if approve else 0), "never filed twice"
        trace = client.get(f"/v1/runs/{run_id}/trace")
        assert trace.status_code == 200
        assert any(s["kind"] == "guardrail" for s in trace.json()["spans"])


def test_confirm_run_resumes_a_chat_turn_too(service: Service) -> None:
    with service.start(ScriptedLLM([tool_reply(("jira_createIssue", ISSUE))])) as client:
        run_id = client.post("/v1/chat", json={"sessionId": "s-3", "message": "file it"}).json()["runId"]
    with service.start(ScriptedLLM([text_reply("Filed.")])) as client:
        shown = client.get(f"/v1/runs/{run_id}").json()
        assert shown["pendingConfirmation"]["action"] == "jira.createIssue"
        confirmed = client.post(f"/v1/runs/{run_id}/confirmation", json={"approve": True})
        assert confirmed.status_code == 200, confirmed.text
        assert confirmed.json()["state"] == "succeeded"
        assert confirmed.json()["result"]["answer"] == "Filed."
        assert service.container is not None
        assert _tickets(service.container) == [ISSUE["summary"]]
        history = client.get("/v1/chat/s-3").json()["messages"]
        assert history[-1]["text"] == "Filed."
