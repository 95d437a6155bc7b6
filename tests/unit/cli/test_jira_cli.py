"""`ticketsmith jira check` and `ticketsmith tickets list|show` in local dry-run mode."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from service.cli import app
from service.container import build_container
from service.domain.tickets import TicketDraft
from service.settings import Settings
from tests.fakes.jira_server import FakeJira

runner = CliRunner()


@pytest.fixture(autouse=True)
def _isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    for name in ("TICKETSMITH_API_KEYS", "TICKETSMITH_JIRA__URL", "TICKETSMITH_DATABASE_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("TICKETSMITH_DATA_DIR", str(tmp_path / "data"))


def test_jira_check_without_jira_is_dry_run_and_succeeds() -> None:
    result = runner.invoke(app, ["jira", "check"])
    assert result.exit_code == 0, result.output
    assert "local dry-run mode" in result.output
    assert "nothing is sent" in result.output
    data = json.loads(runner.invoke(app, ["jira", "check", "--json"]).output)
    assert (data["tracker"], data["mode"], data["sends"], data["ok"], data["problems"]) == (
        "local",
        "dry-run",
        False,
        True,
        [],
    )
    assert data["projectKey"] == "LOCAL"


def test_tickets_list_and_show_read_the_local_store() -> None:
    assert "no tickets" in runner.invoke(app, ["tickets", "list"]).output
    container = build_container(Settings())
    try:
        outcome = container.ticket_filer.file(
            TicketDraft(
                project_key="LOCAL",
                summary="Hard-coded password in settings.py",
                description="## Finding\n\n`PASSWORD = 'hunter2'` in *settings.py*.",
                fingerprint="ab" * 16,
            )
        )
        container.issue_tracker.comment(key=str(outcome.ticket_key), body="Still there in `main`.")
    finally:
        container.close()
    listed = runner.invoke(app, ["tickets", "list", "--json"])
    assert listed.exit_code == 0, listed.output
    tickets = json.loads(listed.output)["tickets"]
    assert [(t["key"], t["status"]) for t in tickets] == [("LOCAL-1", "To Do")]
    assert "ts-fp-" + "ab" * 16 in tickets[0]["labels"]
    assert "LOCAL-1" in runner.invoke(app, ["tickets", "list"]).output
    shown = runner.invoke(app, ["tickets", "show", "local-1"])
    assert shown.exit_code == 0, shown.output
    assert "PASSWORD = '[REDACTED:assigned_secret]'" in shown.output  # the redaction gate
    assert "hunter2" not in shown.output
    assert "Still there in `main`." in shown.output
    data = json.loads(runner.invoke(app, ["tickets", "show", "LOCAL-1", "--json"]).output)
    assert data["comments"][0]["author"] == "ticketsmith"
    missing = runner.invoke(app, ["tickets", "show", "LOCAL-9"])
    assert missing.exit_code == 1
    assert "does not exist" in missing.output


def test_jira_check_against_a_site_prints_each_problem_and_its_fix(
    fake_jira_cloud: FakeJira, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TICKETSMITH_JIRA__URL", fake_jira_cloud.base_url)
    monkeypatch.setenv("TICKETSMITH_JIRA__DEPLOYMENT", "cloud")
    monkeypatch.setenv("TICKETSMITH_JIRA__EMAIL", fake_jira_cloud.email)
    monkeypatch.setenv("TICKETSMITH_JIRA__API_TOKEN", fake_jira_cloud.api_token)
    monkeypatch.setenv("TICKETSMITH_JIRA__PROJECT_KEY", "OPS")
    good = runner.invoke(app, ["jira", "check", "--json"])
    assert good.exit_code == 0, good.output
    data = json.loads(good.output)
    assert (data["tracker"], data["mode"], data["ok"]) == ("jira-cloud", "jira", True)
    monkeypatch.setenv("TICKETSMITH_JIRA__PROJECT_KEY", "NOPE")
    bad = runner.invoke(app, ["jira", "check"])
    assert bad.exit_code == 1
    assert "problem:" in bad.output
    assert "NOPE" in bad.output
    assert "fix:" in bad.output
    listed = runner.invoke(app, ["tickets", "list"])
    assert listed.exit_code == 2
    assert "not in the local store" in listed.output
