"""A real PostgreSQL 16 with pgvector for the contract suites, started from the PyPI package ``pgserver``.

No Docker and no root needed. With ``CI=true`` a server that cannot start fails the run; elsewhere the
PostgreSQL cases are skipped with the reason.
"""

from __future__ import annotations

import os
import uuid
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import make_url

from service.adapters.storage.engine import create_database_engine


def _unavailable(reason: str) -> None:
    if os.environ.get("CI") == "true":
        pytest.fail(f"PostgreSQL is required in CI: {reason}")
    pytest.skip(f"no PostgreSQL for this run: {reason}")


@pytest.fixture(scope="session")
def postgres_server_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """URL (psycopg 3 driver, unix socket) of a session-wide server with the ``vector`` extension available."""
    try:
        with warnings.catch_warnings():
            # platformdirs warns when XDG_RUNTIME_DIR is unset (containers, CI) and falls back to /tmp: fine here.
            warnings.simplefilter("ignore")
            import pgserver
    except ImportError as exc:
        _unavailable(f"pgserver is not installed ({exc})")
    data_dir = Path(tmp_path_factory.mktemp("pgdata"))
    try:
        server: Any = pgserver.get_server(data_dir, cleanup_mode="stop")
    except Exception as exc:  # pgserver raises plain exceptions when initdb or pg_ctl fail
        _unavailable(f"pgserver could not start PostgreSQL ({type(exc).__name__}: {exc})")
    url = make_url(server.get_uri()).set(drivername="postgresql+psycopg")
    admin = create_engine(url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text("CREATE EXTENSION IF NOT EXISTS vector"))
    admin.dispose()
    yield url.render_as_string(hide_password=False)
    server.cleanup()


@pytest.fixture
def postgres_engine(postgres_server_url: str) -> Iterator[Engine]:
    """An engine on a fresh, empty database of its own, dropped afterwards."""
    name = f"test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(postgres_server_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    engine = create_database_engine(make_url(postgres_server_url).set(database=name).render_as_string(False))
    yield engine
    engine.dispose()
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE "{name}" WITH (FORCE)'))
    admin.dispose()
