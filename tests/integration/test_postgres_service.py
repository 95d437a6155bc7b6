"""The service on PostgreSQL end to end: migrations at start, calls recorded, readiness checked."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from service.app import create_app
from service.container import build_container
from tests.conftest import load_fixture, make_settings, time_group


@pytest.mark.postgres
def test_service_runs_on_postgresql(postgres_engine: Engine, tmp_path: Path) -> None:
    url = postgres_engine.url.render_as_string(hide_password=False)
    container = build_container(make_settings(tmp_path, database_url=url), extra_groups=[time_group])
    with TestClient(create_app(container=container), raise_server_exceptions=False) as client:
        assert client.get("/readyz").json() == {"status": "ready", "checks": {"database": "ok"}}
        info = client.get("/v1/system/info").json()
        assert info["storage"] == "postgresql"
        envelope = client.post("/v1/bedrock/actions", json=load_fixture("bedrock/openapi_event_minimal.json")).json()
        assert envelope["response"]["httpStatusCode"] == 200
        calls = client.get("/v1/system/calls").json()["calls"]
    assert [(c["trigger"], c["operation_id"]) for c in calls] == [
        ("bedrock", "currentTime"),
        ("rest", "getServiceInfo"),
    ]
