"""`ticketsmith jira check` against the fake Jira: Cloud and Data Center, good and broken set-ups."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from service.cli import app
from tests.fakes.jira_server import FakeJira

runner = CliRunner()


@pytest.fixture(autouse=True)
def _isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("TICKETSMITH_DATABASE_URL", raising=False)
    monkeypatch.setenv("TICKETSMITH_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("TICKETSMITH_JIRA__MAX_RETRIES", "0")


def configure(monkeypatch: pytest.MonkeyPatch, site: FakeJira, **values: str) -> None:
    env = {"URL": site.base_url, "DEPLOYMENT": site.deployment, "PROJECT_KEY": "OPS"}
    env |= {"EMAIL": site.email, "API_TOKEN": site.api_token} if site.deployment == "cloud" else {"PAT": site.pat}
    for name, value in (env | values).items():
        monkeypatch.setenv(f"TICKETSMITH_JIRA__{name}", value)


def test_cloud_site_checks_out(monkeypatch: pytest.MonkeyPatch, fake_jira_cloud: FakeJira) -> None:
    configure(monkeypatch, fake_jira_cloud)
    result = runner.invoke(app, ["jira", "check"])
    assert result.exit_code == 0, result.output
    assert f"tracker: jira-cloud at {fake_jira_cloud.base_url}" in result.output
    assert f"account: {fake_jira_cloud.email}" in result.output
    assert "ok: no problems found" in result.output


def test_wrong_token_says_what_to_set(monkeypatch: pytest.MonkeyPatch, fake_jira_cloud: FakeJira) -> None:
    configure(monkeypatch, fake_jira_cloud, API_TOKEN="revoked")
    result = runner.invoke(app, ["jira", "check", "--json"])
    assert result.exit_code == 1
    report = json.loads(result.output)
    assert (report["tracker"], report["mode"], report["ok"]) == ("jira-cloud", "jira", False)
    assert "TICKETSMITH_JIRA__API_TOKEN" in report["problems"][0]["fix"]


def test_datacenter_required_field_is_named(monkeypatch: pytest.MonkeyPatch, fake_jira_dc: FakeJira) -> None:
    configure(monkeypatch, fake_jira_dc, PROJECT_KEY="ENG", ISSUE_TYPE="Bug")
    result = runner.invoke(app, ["jira", "check"])
    assert result.exit_code == 1
    assert "tracker: jira-dc" in result.output
    assert "Team (customfield_10050" in result.output
    assert "TICKETSMITH_JIRA__ISSUE_TYPE" in result.output
