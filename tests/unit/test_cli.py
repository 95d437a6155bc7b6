"""The ``ticketsmith`` command: same handlers as the service, --json everywhere, clear failures."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from service.cli import app
from tests.conftest import FIXTURES

runner = CliRunner()


@pytest.fixture(autouse=True)
def _isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("TICKETSMITH_API_KEYS", raising=False)
    monkeypatch.setenv("TICKETSMITH_DATA_DIR", str(tmp_path / "data"))


def test_serve_refuses_a_public_bind_without_keys() -> None:
    result = runner.invoke(app, ["serve", "--host", "0.0.0.0"])
    assert result.exit_code == 2
    assert "refusing to listen on 0.0.0.0" in result.output
    assert "TICKETSMITH_API_KEYS" in result.output


def test_serve_refusal_as_json() -> None:
    result = runner.invoke(app, ["serve", "--host", "0.0.0.0", "--json"])
    assert result.exit_code == 2
    assert json.loads(result.output)["error"]["code"] == "configuration_error"


def test_invalid_settings_are_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TICKETSMITH_SERVER__PORT", "not-a-port")
    result = runner.invoke(app, ["actions", "list"])
    assert result.exit_code == 2
    assert "server.port" in result.output


def test_actions_call_runs_the_handler_and_records_the_call(tmp_path: Path) -> None:
    result = runner.invoke(app, ["actions", "call", "system", "getServiceInfo"])
    assert result.exit_code == 0, result.output
    info = json.loads(result.output)
    assert info["storage"] == "sqlite"
    listed = runner.invoke(app, ["actions", "call", "system", "listCalls", "-p", "limit=5"])
    calls = json.loads(listed.output)["calls"]
    assert calls[0]["trigger"] == "cli"
    assert calls[0]["operation_id"] == "getServiceInfo"
    assert (tmp_path / "data" / "ticketsmith.db").exists()


def test_actions_call_validation_error_exits_nonzero() -> None:
    result = runner.invoke(app, ["actions", "call", "system", "listCalls", "-p", "limit=zero", "--json"])
    assert result.exit_code == 2
    error = json.loads(result.output)["error"]
    assert error["code"] == "validation_failed"
    assert error["details"][0]["loc"] == ["parameters", "limit"]


def test_actions_call_unknown_operation() -> None:
    result = runner.invoke(app, ["actions", "call", "system", "fly"])
    assert result.exit_code == 1
    assert "getServiceInfo" in result.output


def test_actions_list_json() -> None:
    result = runner.invoke(app, ["actions", "list", "--json"])
    operations = json.loads(result.output)["operations"]
    listed = {(o["group"], o["operation"]) for o in operations}
    assert {("system", "getServiceInfo"), ("quality", "startCheck"), ("quality", "explainRule")} <= listed


def test_bedrock_replay_of_a_system_event(tmp_path: Path) -> None:
    event = json.loads((FIXTURES / "bedrock/openapi_event_minimal.json").read_text())
    event |= {"actionGroup": "system", "apiPath": "/v1/system/info"}
    path = tmp_path / "event.json"
    path.write_text(json.dumps(event))
    result = runner.invoke(app, ["bedrock", "replay", str(path)])
    assert result.exit_code == 0, result.output
    envelope = json.loads(result.output)
    assert envelope["response"]["httpStatusCode"] == 200
    assert json.loads(envelope["response"]["responseBody"]["application/json"]["body"])["name"] == "ticketsmith"


def test_bedrock_replay_of_an_unknown_group_fails_with_the_envelope() -> None:
    result = runner.invoke(app, ["bedrock", "replay", str(FIXTURES / "bedrock/openapi_event_get.json")])
    assert result.exit_code == 1
    assert json.loads(result.output)["response"]["httpStatusCode"] == 404


def test_bedrock_replay_missing_file() -> None:
    result = runner.invoke(app, ["bedrock", "replay", "nope.json"])
    assert result.exit_code == 2
    assert "cannot read nope.json" in result.output


def test_db_upgrade_reports_revision() -> None:
    result = runner.invoke(app, ["db", "upgrade", "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["revision"]


def test_worker_once_runs_the_due_housekeeping_and_jobs_list_shows_it() -> None:
    result = runner.invoke(app, ["worker", "--once", "--json"])
    assert result.exit_code == 0, result.output
    ran = json.loads(result.output)["jobs"]
    assert [(j["kind"], j["state"]) for j in ran] == [("maintenance.prune_action_calls", "succeeded")]
    again = runner.invoke(app, ["worker", "--once", "--json"])
    assert json.loads(again.output)["jobs"] == [], "the daily job is not enqueued twice in one day"
    listed = runner.invoke(app, ["jobs", "list", "--state", "succeeded", "--json"])
    assert [j["id"] for j in json.loads(listed.output)["jobs"]] == [ran[0]["id"]]


def test_jobs_list_rejects_unknown_state() -> None:
    result = runner.invoke(app, ["jobs", "list", "--state", "sleeping"])
    assert result.exit_code == 2
    assert "queued, running, succeeded or failed" in result.output


def test_check_prints_findings_and_fails_on_them(tmp_path: Path) -> None:
    from tests.quality_repos import SEEDED, make_repo

    root = make_repo(tmp_path / "seeded", SEEDED)
    result = runner.invoke(app, ["check", str(root), "--json"])
    assert result.exit_code == 1, result.output
    report = json.loads(result.output)
    assert report["files_checked"] == len(SEEDED)
    assert {f["category"] for f in report["findings"]} == {
        "lint",
        "security",
        "complexity",
        "secrets",
        "markers",
        "hygiene",
    }
    text = runner.invoke(app, ["check", str(root), "--fail-on", "critical"])
    assert text.exit_code == 1, "the committed AWS key is critical"
    assert "app/shell.py" in text.output
    assert "bandit.B602 in run" in text.output


def test_check_rejects_a_path_that_is_not_a_repository(tmp_path: Path) -> None:
    result = runner.invoke(app, ["check", str(tmp_path), "--json"])
    assert result.exit_code == 2
    assert "not a git work tree" in json.loads(result.output)["error"]["message"]


def test_check_clean_repository_exits_zero(tmp_path: Path) -> None:
    from tests.quality_repos import make_repo

    files = {"README.md": "# ok\n", "LICENSE": "MIT\n", "app.py": "def add(a, b):\n    return a + b\n"}
    result = runner.invoke(app, ["check", str(make_repo(tmp_path / "clean", files))])
    assert result.exit_code == 0, result.output
    assert "no findings in 3 files" in result.output
