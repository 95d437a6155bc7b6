"""`ticketsmith agent invoke`: the agent's returned actions run here, confirmations are asked at the terminal
(or settled by --yes / --no), and the run with Bedrock's trace is in the service database for `runs show`."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from service.cli import app
from service.container import build_container
from service.settings import Settings
from tests.bedrock_streams import HttpError, ScriptedAgent, chunk, local_agent_runtime, return_control, trace
from tests.conftest import load_fixture
from tests.unit.orchestrator.test_return_of_control import ANSWER, WeatherDesk

runner = CliRunner()
TRACE_EVENTS = "bedrock/trace_orchestration_stream_events_derived.json"
ARGS = ["agent", "invoke", "--agent-id", "AGENT12345", "--alias-id", "ALIAS12345", "--session-id", "session-1"]


@pytest.fixture(autouse=True)
def _database(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("TICKETSMITH_API_KEYS", raising=False)
    monkeypatch.setenv("TICKETSMITH_DATA_DIR", str(tmp_path / "data"))


def _obj(desk: WeatherDesk, agent: ScriptedAgent) -> dict[str, Any]:
    return {
        "container_factory": lambda settings: build_container(settings, extra_groups=[desk.group]),
        "bedrock_agent_client": local_agent_runtime(agent),
    }


def _confirming() -> dict[str, Any]:
    returned = copy.deepcopy(load_fixture("bedrock/return_control_openapi.json"))
    returned["invocationInputs"][0]["apiInvocationInput"]["actionInvocationType"] = "USER_CONFIRMATION"
    return returned


def _parts() -> list[dict[str, Any]]:
    return [event["trace"] for event in load_fixture(TRACE_EVENTS)["events"]]


def test_invoke_with_yes_runs_the_action_and_stores_the_trace() -> None:
    desk = WeatherDesk()
    agent = ScriptedAgent([[*(trace(p) for p in _parts()), return_control(_confirming())], [chunk(ANSWER)]])
    result = runner.invoke(app, [*ARGS, "--yes", "--json", "Weather in Seattle?"], obj=_obj(desk, agent))
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["answer"] == ANSWER
    assert data["sessionId"] == "session-1"
    assert data["actions"][0]["confirmationState"] == "CONFIRM"
    assert data["run"]["state"] == "succeeded"
    assert len(desk.calls) == 1
    run_id = data["run"]["id"]

    shown = runner.invoke(app, ["runs", "show", run_id, "--format", "bedrock"])
    assert shown.exit_code == 0, shown.output
    assert json.loads(shown.stdout)["events"] == [{"trace": part} for part in _parts()]
    timeline = runner.invoke(app, ["runs", "show", run_id])
    assert f"run {run_id}  agent  succeeded" in timeline.stdout
    assert "WeatherAPIs.getWeather" in timeline.stdout


def test_invoke_asks_at_the_terminal_and_a_no_declines() -> None:
    desk = WeatherDesk()
    agent = ScriptedAgent([[return_control(_confirming())], [chunk("As you wish.")]])
    result = runner.invoke(app, [*ARGS, "Weather in Seattle?"], obj=_obj(desk, agent), input="n\n")
    assert result.exit_code == 0, result.output
    assert "The agent wants to run WeatherAPIs.getWeather (GET /get-weather)" in result.stderr
    assert "As you wish." in result.stdout
    assert "declined, not run" in result.stderr
    assert desk.calls == []
    sent = agent.sent[1].body["sessionState"]["returnControlInvocationResults"][0]["apiResult"]
    assert sent["confirmationState"] == "DENY"


def test_invoke_with_no_input_declines() -> None:
    desk = WeatherDesk()
    agent = ScriptedAgent([[return_control(_confirming())], [chunk("Nothing done.")]])
    result = runner.invoke(app, [*ARGS, "--json", "Weather in Seattle?"], obj=_obj(desk, agent))
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["actions"][0]["confirmationState"] == "DENY"
    assert desk.calls == []


def test_invoke_errors_exit_non_zero_with_a_hint() -> None:
    desk = WeatherDesk()
    agent = ScriptedAgent([HttpError(403, "AccessDeniedException", "not allowed")])
    result = runner.invoke(app, [*ARGS, "Weather?"], obj=_obj(desk, agent))
    assert result.exit_code == 2
    assert "AccessDeniedException: not allowed" in result.stderr
    assert "bedrock:InvokeAgent" in result.stderr
    assert "ticketsmith runs show" in result.stderr

    both = runner.invoke(app, [*ARGS, "--yes", "--no", "Weather?"], obj=_obj(desk, ScriptedAgent([])))
    assert both.exit_code == 2
    assert "--yes and --no exclude each other" in both.stderr


def test_no_region_is_a_configuration_error(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("AWS_REGION", "AWS_DEFAULT_REGION", "AWS_PROFILE", "TICKETSMITH_LLM__REGION"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent")
    obj = {"container_factory": lambda settings: build_container(settings, in_memory=True)}
    result = runner.invoke(app, [*ARGS, "--json", "Weather?"], obj=obj)
    assert result.exit_code == 2, result.output
    error = json.loads(result.stdout)["error"]
    assert error["code"] == "configuration_error"
    assert "TICKETSMITH_LLM__REGION" in error["hint"]
    assert Settings().llm.region is None

    monkeypatch.setenv("AWS_PROFILE", "nowhere")
    missing = runner.invoke(app, [*ARGS, "--region", "us-east-1", "--json", "Weather?"], obj=obj)
    assert missing.exit_code == 2, missing.output
    assert "AWS_PROFILE" in json.loads(missing.stdout)["error"]["hint"]
