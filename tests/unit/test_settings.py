"""The settings tree: environment names, defaults, and .env.example kept in step with it."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import BaseModel

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
