"""The settings tree: environment names, defaults, and .env.example kept in step with it."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from pydantic import BaseModel, ValidationError

from service.settings import Settings, is_loopback

REPO = Path(__file__).resolve().parents[2]


def setting_names(model: type[BaseModel] = Settings, prefix: str = "TICKETSMITH_") -> set[str]:
    """Every environment variable name the settings tree reads."""
    names: set[str] = set()
    for name, info in model.model_fields.items():
        annotation = info.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            names |= setting_names(annotation, f"{prefix}{name.upper()}__")
        else:
            names.add(f"{prefix}{name.upper()}")
    return names


def test_env_example_lists_every_setting_and_nothing_else() -> None:
    text = (REPO / ".env.example").read_text()
    listed = {
        line.lstrip("# ").split("=", 1)[0]
        for line in text.splitlines()
        if line.lstrip("# ").startswith("TICKETSMITH_") and "=" in line
    }
    assert listed == setting_names()


def test_env_example_values_parse(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / ".env").write_text((REPO / ".env.example").read_text())
    settings = Settings()
    assert settings.server.port == 8000
    assert settings.api_keys == []
    assert settings.resolved_database_url.endswith(".ticketsmith/ticketsmith.db")


def test_nested_environment_names(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("TICKETSMITH_SERVER__PORT", "9001")
    monkeypatch.setenv("TICKETSMITH_DATABASE_URL", "postgresql+psycopg://u:p@db/ts")
    monkeypatch.setenv(
        "TICKETSMITH_API_KEYS", '[{"name":"ci","key":"0123456789abcdef0123","action_groups":["system"]}]'
    )
    settings = Settings()
    assert settings.server.port == 9001
    assert settings.resolved_database_url == "postgresql+psycopg://u:p@db/ts"
    assert settings.auth_enabled
    assert settings.api_keys[0].action_groups == ["system"]
    assert "0123456789abcdef0123" not in repr(settings)


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("127.0.0.1", True),
        ("localhost", True),
        ("::1", True),
        ("127.0.0.2", True),
        ("0.0.0.0", False),
        ("10.0.0.5", False),
        ("example.com", False),
    ],
)
def test_loopback_detection(host: str, loopback: bool) -> None:
    assert is_loopback(host) is loopback


def test_jira_unset_means_local_store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / ".env").write_text((REPO / ".env.example").read_text())
    jira = Settings().jira
    assert not jira.configured
    assert jira.api_token is None
    assert jira.issue_type == "Task"
    assert jira.reopen_status == "To Do"


def test_jira_cloud_from_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("TICKETSMITH_JIRA__URL", "https://acme.atlassian.net/")
    monkeypatch.setenv("TICKETSMITH_JIRA__EMAIL", "bot@acme.example")
    monkeypatch.setenv("TICKETSMITH_JIRA__API_TOKEN", "token-1234")
    monkeypatch.setenv("TICKETSMITH_JIRA__CLOSED_TICKET_POLICY", "link")
    settings = Settings()
    assert settings.jira.url == "https://acme.atlassian.net"
    assert settings.jira.resolved_deployment == "cloud"
    assert settings.jira.closed_ticket_policy == "link"
    assert "token-1234" not in repr(settings)


def test_jira_datacenter_by_host_or_by_setting(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("TICKETSMITH_JIRA__URL", "https://jira.acme.example/jira")
    monkeypatch.setenv("TICKETSMITH_JIRA__PAT", "pat-1234")
    assert Settings().jira.resolved_deployment == "datacenter"
    monkeypatch.setenv("TICKETSMITH_JIRA__DEPLOYMENT", "cloud")
    monkeypatch.setenv("TICKETSMITH_JIRA__EMAIL", "bot@acme.example")
    monkeypatch.setenv("TICKETSMITH_JIRA__API_TOKEN", "token-1234")
    assert Settings().jira.resolved_deployment == "cloud"


@pytest.mark.parametrize(
    ("env", "says"),
    [
        ({"TICKETSMITH_JIRA__URL": "https://acme.atlassian.net"}, "TICKETSMITH_JIRA__API_TOKEN"),
        (
            {"TICKETSMITH_JIRA__URL": "https://acme.atlassian.net", "TICKETSMITH_JIRA__PAT": "pat"},
            "TICKETSMITH_JIRA__EMAIL",
        ),
        ({"TICKETSMITH_JIRA__URL": "https://jira.acme.example"}, "TICKETSMITH_JIRA__PAT"),
        (
            {"TICKETSMITH_JIRA__URL": "https://jira.acme.example", "TICKETSMITH_JIRA__USERNAME": "bot"},
            "TICKETSMITH_JIRA__PASSWORD",
        ),
        ({"TICKETSMITH_JIRA__URL": "jira.acme.example", "TICKETSMITH_JIRA__PAT": "pat"}, "http(s) URL"),
    ],
)
def test_jira_url_without_credentials_says_what_to_set(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, env: dict[str, str], says: str
) -> None:
    monkeypatch.chdir(tmp_path)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(ValidationError, match=re.escape(says)):
        Settings()
