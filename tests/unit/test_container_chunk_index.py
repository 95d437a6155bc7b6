"""The container picks the knowledge index from settings: SQLite file, PostgreSQL, or in memory."""

from __future__ import annotations

import sqlite3
from contextlib import closing
from pathlib import Path

import pytest
from sqlalchemy import Engine

from service.adapters.knowledge.memory import InMemoryChunkIndex
from service.adapters.knowledge.postgres import PostgresChunkIndex
from service.adapters.knowledge.sqlite import SqliteChunkIndex
from service.container import build_container
from service.domain.knowledge import Repository
from service.errors import ConfigurationError
from service.settings import KnowledgeBaseSettings
from tests.conftest import make_settings


def test_the_default_is_an_sqlite_file_in_the_data_directory(tmp_path: Path) -> None:
    container = build_container(make_settings(tmp_path))
    try:
        assert isinstance(container.chunk_index, SqliteChunkIndex)
        container.chunk_index.save_repository(repository=Repository("demo", "/src", "/src", None, None, None))
        assert (tmp_path / "data" / "index" / "knowledge.db").is_file()
        assert not {"kb_chunks", "kb_repositories"} & _tables(tmp_path / "data" / "ticketsmith.db")
    finally:
        container.close()


def test_in_memory_containers_get_the_in_memory_index(tmp_path: Path) -> None:
    container = build_container(make_settings(tmp_path), in_memory=True)
    assert isinstance(container.chunk_index, InMemoryChunkIndex)
    container.close()


def test_a_given_index_is_used_as_is(tmp_path: Path) -> None:
    index = InMemoryChunkIndex()
    container = build_container(make_settings(tmp_path), chunk_index=index)
    assert container.chunk_index is index
    container.close()


def test_the_postgres_index_needs_postgresql(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, knowledge_base=KnowledgeBaseSettings(index_backend="postgres"))
    with pytest.raises(ConfigurationError) as raised:
        build_container(settings)
    assert "INDEX_BACKEND=sqlite" in (raised.value.hint or "")


@pytest.mark.postgres
@pytest.mark.parametrize("backend", ["auto", "postgres"])
def test_auto_and_postgres_use_the_service_database_on_postgresql(
    postgres_engine: Engine, tmp_path: Path, backend: str
) -> None:
    url = postgres_engine.url.render_as_string(hide_password=False)
    settings = make_settings(
        tmp_path,
        database_url=url,
        knowledge_base=KnowledgeBaseSettings(index_backend=backend),  # type: ignore[arg-type]
    )
    container = build_container(settings)
    try:
        assert isinstance(container.chunk_index, PostgresChunkIndex)
        assert container.chunk_index.list_repositories() == []
    finally:
        container.close()


def _tables(database: Path) -> set[str]:
    with closing(sqlite3.connect(database)) as connection:
        return {row[0] for row in connection.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
