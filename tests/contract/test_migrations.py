"""Migrations and the SQLAlchemy metadata agree, on SQLite and on PostgreSQL; upgrading twice is a no-op."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, MetaData

from service.adapters.knowledge.pg_schema import knowledge_metadata
from service.adapters.storage.engine import create_database_engine
from service.adapters.storage.migrate import MIGRATIONS, current_revision, upgrade_to_head
from service.adapters.storage.schema import metadata
from service.errors import ConfigurationError


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    if request.param == "sqlite":
        built = create_database_engine(f"sqlite:///{tmp_path / 'nested' / 'dir' / 'store.db'}")
        yield built
        built.dispose()
    else:
        yield request.getfixturevalue("postgres_engine")


def _head() -> str | None:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    return ScriptDirectory.from_config(config).get_current_head()


def _expected_metadata(dialect: str) -> MetaData:
    """The service tables everywhere; the knowledge index tables too on PostgreSQL (SQLite keeps them elsewhere)."""
    if dialect != "postgresql":
        return metadata
    combined = MetaData()
    for source in (metadata, knowledge_metadata):
        for table in source.tables.values():
            table.to_metadata(combined)
    return combined


def test_migrated_schema_matches_the_metadata(engine: Engine) -> None:
    assert current_revision(engine) is None
    upgrade_to_head(engine)
    upgrade_to_head(engine)
    assert current_revision(engine) == _head()
    expected = _expected_metadata(engine.dialect.name)
    with engine.connect() as connection:
        diff = compare_metadata(MigrationContext.configure(connection, opts={"compare_type": True}), expected)
    assert diff == []


def test_sqlite_directory_is_created(tmp_path: Path) -> None:
    engine = create_database_engine(f"sqlite:///{tmp_path / 'a' / 'b' / 'store.db'}")
    engine.dispose()
    assert (tmp_path / "a" / "b").is_dir()


@pytest.mark.parametrize("url", ["not a url", "mysql://u:p@host/db", "postgresql+nodriver://h/db"])
def test_bad_database_urls_are_configuration_errors(url: str) -> None:
    with pytest.raises(ConfigurationError) as raised:
        create_database_engine(url)
    assert "TICKETSMITH_DATABASE_URL" in (raised.value.hint or "")
