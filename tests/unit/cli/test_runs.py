"""`ticketsmith runs list` and `runs show ID`: the runs in the service database and their traces."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from service.cli import app
from service.container import build_container
from service.settings import Settings
from tests.run_samples import RUN_ID, new_run, record_sample

runner = CliRunner()


@pytest.fixture(autouse=True)
def _stored_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("TICKETSMITH_API_KEYS", raising=False)
    monkeypatch.setenv("TICKETSMITH_DATA_DIR", str(tmp_path / "data"))
    container = build_container(Settings())  # the SQLite service database the commands open
    try:
        record_sample(container.run_store)
        container.run_store.create(new_run("queued-suggest", workflow="suggest", minutes=1))
    finally:
        container.close()


def test_list_newest_first_with_filters() -> None:
    result = runner.invoke(app, ["runs", "list", "--json"])
    assert result.exit_code == 0, result.output
    runs = json.loads(result.output)["runs"]
    assert [run["id"] for run in runs] == ["queued-suggest", RUN_ID]
    assert runs[1]["usage"]["input_tokens"] == 692
    only = runner.invoke(app, ["runs", "list", "--state", "succeeded", "--workflow", "scan", "--limit", "5", "--json"])
    assert [run["id"] for run in json.loads(only.output)["runs"]] == [RUN_ID]
    table = runner.invoke(app, ["runs", "list"])
    assert table.exit_code == 0
    assert "queued-suggest" in table.output
    assert "no runs" in runner.invoke(app, ["runs", "list", "--workflow", "nothing"]).output


def test_list_refuses_an_unknown_state() -> None:
    result = runner.invoke(app, ["runs", "list", "--state", "sleeping"])
    assert result.exit_code == 2
    assert "unknown state 'sleeping'" in result.output
    assert runner.invoke(app, ["runs", "list", "--limit", "0"]).exit_code == 2


def test_show_prints_the_timeline() -> None:
    result = runner.invoke(app, ["runs", "show", RUN_ID])
    assert result.exit_code == 0, result.output
    assert result.output.startswith(f"run {RUN_ID}  scan  succeeded")
    assert "execute" not in result.output
    assert "quality.runChecks(root=ticketsmith" in result.output
    assert "! " in result.output  # the denial and the failure are marked
    assert '{"created": true, "key": "TS-12"}' in result.output


def test_show_json_and_bedrock() -> None:
    ours = json.loads(runner.invoke(app, ["runs", "show", RUN_ID, "--json"]).output)
    assert ours["run"]["id"] == RUN_ID
    assert ours["spans"][1]["attributes"]["action"] == "quality.runChecks"
    events = json.loads(runner.invoke(app, ["runs", "show", RUN_ID, "--format", "bedrock"]).output)["events"]
    assert events[-1]["trace"]["trace"]["orchestrationTrace"]["observation"]["type"] == "FINISH"


def test_show_unknown_run_and_format() -> None:
    missing = runner.invoke(app, ["runs", "show", "nope"])
    assert missing.exit_code == 1
    assert "no run 'nope'" in missing.output
    assert "ticketsmith runs list" in missing.output
    bad = runner.invoke(app, ["runs", "show", RUN_ID, "--format", "xml"])
    assert bad.exit_code == 2
    assert json.loads(bad.output)["error"]["code"] == "invalid_input"
