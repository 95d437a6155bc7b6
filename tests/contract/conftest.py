"""The backends every contract suite runs against: in-memory, SQLite, and a real PostgreSQL (pgserver)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine

from service.adapters.storage.engine import create_database_engine
from service.adapters.storage.migrate import upgrade_to_head


@pytest.fixture(params=["memory", "sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine | None]:
    """None for the in-memory fakes, else a migrated engine on a fresh SQLite file or PostgreSQL database."""
    if request.param == "memory":
        yield None
        return
    engine: Engine = (
        create_database_engine(f"sqlite:///{tmp_path / 'contract.db'}")
        if request.param == "sqlite"
        else request.getfixturevalue("postgres_engine")
    )
    upgrade_to_head(engine)
    yield engine
    engine.dispose()
