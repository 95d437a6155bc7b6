"""Dockerfile and docker-compose.yml, checked without a Docker engine: linters, and settings names."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from service.settings import Settings
from tests.unit.test_settings import setting_names

REPO = Path(__file__).resolve().parents[2]
KEYS = '[{"name":"ci","key":"0123456789abcdef0123"}]'


def _tool(name: str) -> str:
    found = shutil.which(name) or shutil.which(name, path=str(Path(sys.executable).parent))
    if found is None:
        reason = f"{name} is not installed (make test installs it)"
        if os.environ.get("CI") == "true":
            pytest.fail(reason)
        pytest.skip(reason)
    return found


def _compose() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((REPO / "docker-compose.yml").read_text())
    return loaded


def _environment(service: dict[str, Any]) -> dict[str, str]:
    env = service.get("environment") or {}
    if isinstance(env, list):
        return dict(item.split("=", 1) for item in env)
    return {str(k): str(v) for k, v in env.items()}


def _final_stage(dockerfile: str) -> str:
    return re.split(r"^FROM ", dockerfile, flags=re.MULTILINE)[-1]


@pytest.mark.tools
def test_hadolint_finds_nothing() -> None:
    result = subprocess.run([_tool("hadolint"), str(REPO / "Dockerfile")], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip() == ""


def _compose_config(tmp_path: Path, api_keys: str | None) -> subprocess.CompletedProcess[str]:
    """`docker-compose config -q` with TICKETSMITH_API_KEYS set or unset.

    An empty ``--env-file`` stands in for a developer's ``.env`` beside the compose file (``cp .env.example .env``
    sets ``TICKETSMITH_API_KEYS=[]``), which compose would otherwise read for interpolation.
    """
    env = {k: v for k, v in os.environ.items() if k != "TICKETSMITH_API_KEYS"}
    if api_keys is not None:
        env["TICKETSMITH_API_KEYS"] = api_keys
    empty_env_file = tmp_path / "empty.env"
    empty_env_file.write_text("")
    return subprocess.run(
        [
            _tool("docker-compose"),
            "--env-file",
            str(empty_env_file),
            "-f",
            str(REPO / "docker-compose.yml"),
            "config",
            "-q",
        ],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )


@pytest.mark.tools
def test_compose_file_validates_offline(tmp_path: Path) -> None:
    result = _compose_config(tmp_path, api_keys=KEYS)
    assert result.returncode == 0, result.stderr


@pytest.mark.tools
def test_compose_refuses_to_start_without_api_keys(tmp_path: Path) -> None:
    result = _compose_config(tmp_path, api_keys=None)
    assert result.returncode != 0
    assert "set TICKETSMITH_API_KEYS" in result.stderr


def test_compose_and_dockerfile_use_only_real_settings() -> None:
    known = setting_names()
    compose_names = {
        name
        for service in _compose()["services"].values()
        for name in _environment(service)
        if name.startswith("TICKETSMITH_")
    }
    docker_names = set(re.findall(r"\b(TICKETSMITH_[A-Z0-9_]+)=", (REPO / "Dockerfile").read_text()))
    assert compose_names, "the api service is configured through TICKETSMITH_ settings"
    assert compose_names <= known, compose_names - known
    assert docker_names <= known, docker_names - known


@pytest.mark.parametrize("service", ["api", "worker"])
def test_compose_environment_builds_valid_settings(
    service: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    for name in setting_names():
        monkeypatch.delenv(name, raising=False)
    for name, value in _environment(_compose()["services"][service]).items():
        monkeypatch.setenv(name, KEYS if value.startswith("${TICKETSMITH_API_KEYS") else value)
    settings = Settings()
    assert settings.resolved_database_url.startswith("postgresql+psycopg://")
    if service == "api":
        assert settings.auth_enabled
        assert settings.jobs.in_process_worker is False, "the worker service runs the jobs"


def test_compose_runs_a_worker_beside_the_api() -> None:
    services = _compose()["services"]
    assert services["worker"]["command"] == ["worker"]
    assert set(services) == {"postgres", "api", "worker"}


def test_final_image_stage_is_non_root_with_healthcheck_and_no_dev_tools() -> None:
    dockerfile = (REPO / "Dockerfile").read_text()
    final = _final_stage(dockerfile)
    user = re.search(r"^USER (\S+)", final, flags=re.MULTILINE)
    assert user is not None
    assert user.group(1) not in {"root", "0"}
    assert "HEALTHCHECK" in final
    assert "[dev]" not in dockerfile
    assert "/healthz" in final
