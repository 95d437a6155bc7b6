"""The backends every contract suite runs against: in-memory, SQLite, and a real PostgreSQL (pgserver)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine

from service.adapters.knowledge.memory import InMemoryChunkIndex
from service.adapters.knowledge.postgres import PostgresChunkIndex
from service.adapters.knowledge.sqlite import SqliteChunkIndex
from service.adapters.storage.engine import create_database_engine
from service.adapters.storage.migrate import upgrade_to_head
from service.ports.chunk_index import ChunkIndex


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


@pytest.fixture
def chunk_index(database: Engine | None, tmp_path: Path) -> Iterator[ChunkIndex]:
    """A fresh, empty ChunkIndex on the backend: in memory, the embedded SQLite file, or PostgreSQL."""
    if database is None:
        yield InMemoryChunkIndex()
        return
    if database.dialect.name == "sqlite":
        embedded = SqliteChunkIndex(tmp_path / "index" / "knowledge.db")
        yield embedded
        embedded.close()
        return
    yield PostgresChunkIndex(database)
