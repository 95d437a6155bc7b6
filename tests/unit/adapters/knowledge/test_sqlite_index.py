"""What only the embedded SQLite index does: share one file between instances, refuse newer schemas, upgrade older
ones in place, and keep searches consistent while another thread writes."""

from __future__ import annotations

import hashlib
import sqlite3
import threading
from contextlib import closing
from pathlib import Path

import numpy as np
import pytest

from service.adapters.knowledge.sqlite import SqliteChunkIndex
from service.domain.knowledge import IndexedChunk, IndexedFile, Repository
from service.errors import ConfigurationError

MODEL = "test:model-8"


def chunk(path: str, text: str, commit: str) -> IndexedChunk:
    header = f"# {path}"
    return IndexedChunk(
        chunk_id=f"demo:{path}", repository="demo", path=path, language="python", kind="function", symbol="",
        start_line=1, end_line=5, header=header, text=text,
        embedding_key=hashlib.sha256(f"{header}\n{text}".encode()).hexdigest(), blob_sha=commit * 5, commit=commit,
    )  # fmt: skip


def apply(index: SqliteChunkIndex, chunks: list[IndexedChunk], commit: str) -> None:
    files = [IndexedFile(path=c.path, blob_sha=c.blob_sha, language="python", chunk_count=1) for c in chunks]
    repository = Repository("demo", "/src", "/src", None, commit, None)
    index.apply_changes(repository=repository, removed_paths=[], files=files, chunks=chunks, skipped=[])


def vectors_for(chunks: list[IndexedChunk], seed: int = 1) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {c.embedding_key: rng.standard_normal(8).astype(np.float32) for c in chunks}


def test_two_instances_on_one_file_see_each_others_changes(tmp_path: Path) -> None:
    path = tmp_path / "knowledge.db"
    writer, reader = SqliteChunkIndex(path), SqliteChunkIndex(path)
    try:
        first = [chunk(f"m{i}.py", f"first body {i}", "c1") for i in range(5)]
        apply(writer, first, "c1")
        writer.store_embeddings(model_id=MODEL, vectors=vectors_for(first))
        query = np.ones(8, np.float32)
        assert len(reader.search_dense(repository="demo", model_id=MODEL, vector=query, k=10)) == 5
        assert reader.dense_coverage(repository="demo", model_id=MODEL) == (5, 5)

        second = [chunk("m0.py", "second body", "c2")]
        apply(writer, second, "c2")
        hits = reader.search_dense(repository="demo", model_id=MODEL, vector=query, k=10)
        assert {h.chunk.path for h in hits} == {"m1.py", "m2.py", "m3.py", "m4.py"}
        assert reader.dense_coverage(repository="demo", model_id=MODEL) == (4, 5)
        writer.store_embeddings(model_id=MODEL, vectors=vectors_for(second, seed=2))
        assert len(reader.search_dense(repository="demo", model_id=MODEL, vector=query, k=10)) == 5
        assert reader.dense_coverage(repository="demo", model_id=MODEL) == (5, 5)
        assert reader.search_lexical(repository="demo", terms=["second"], k=3)[0].chunk.commit == "c2"
    finally:
        writer.close()
        reader.close()
        reader.close()


def test_an_index_written_by_a_newer_schema_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "knowledge.db"
    SqliteChunkIndex(path).close()
    with closing(sqlite3.connect(path)) as connection:
        connection.execute("PRAGMA user_version = 99")
    with pytest.raises(ConfigurationError) as raised:
        SqliteChunkIndex(path)
    assert "index again" in (raised.value.hint or "")


def test_an_index_of_schema_1_is_upgraded_in_place_and_keeps_its_vectors(tmp_path: Path) -> None:
    path = tmp_path / "knowledge.db"
    index = SqliteChunkIndex(path)
    old = [chunk("m0.py", "old body", "c1")]  # keyed by the hash of its header and text, as schema 1 keyed it
    apply(index, old, "c1")
    vectors = vectors_for(old)
    index.store_embeddings(model_id=MODEL, vectors=vectors)
    index.close()
    with closing(sqlite3.connect(path)) as connection:  # back to what schema 1 wrote: keys named content_hash
        for statement in (
            "ALTER TABLE chunks RENAME COLUMN embedding_key TO content_hash",
            "ALTER TABLE embeddings RENAME COLUMN embedding_key TO content_hash",
            "DROP INDEX chunks_by_embedding",
            "CREATE INDEX chunks_by_content ON chunks (repo_id, content_hash)",
            "PRAGMA user_version = 1",
        ):
            connection.execute(statement)
        connection.commit()

    upgraded = SqliteChunkIndex(path)
    try:
        with closing(sqlite3.connect(path)) as connection:
            assert connection.execute("PRAGMA user_version").fetchone()[0] == 2
            names = {row[0] for row in connection.execute("SELECT name FROM sqlite_master WHERE type = 'index'")}
            assert "chunks_by_embedding" in names
            assert "chunks_by_content" not in names
        assert upgraded.get_chunks(chunk_ids=[old[0].chunk_id]) == old
        assert upgraded.dense_coverage(repository="demo", model_id=MODEL) == (1, 1)  # nothing to embed again
        assert upgraded.pending_embeddings(repository="demo", model_id=MODEL, limit=10) == []
        hits = upgraded.search_dense(repository="demo", model_id=MODEL, vector=vectors[old[0].embedding_key], k=1)
        assert [h.chunk for h in hits] == old
        new = [chunk("m1.py", "new body", "c2")]
        apply(upgraded, new, "c2")
        assert upgraded.pending_embeddings(repository="demo", model_id=MODEL, limit=10) == [
            (new[0].embedding_key, new[0].content)
        ]
    finally:
        upgraded.close()


def test_an_unusable_path_is_a_configuration_error(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("not a directory")
    with pytest.raises(ConfigurationError):
        SqliteChunkIndex(tmp_path / "file" / "knowledge.db")


def test_searches_see_one_whole_commit_while_another_thread_writes(tmp_path: Path) -> None:
    index = SqliteChunkIndex(tmp_path / "knowledge.db")
    paths = [f"m{i}.py" for i in range(20)]
    apply(index, [chunk(p, f"shared words {p}", "c0") for p in paths], "c0")
    problems: list[str] = []
    stop = threading.Event()

    def search() -> None:
        while not stop.is_set():
            hits = index.search_lexical(repository="demo", terms=["shared"], k=50)
            commits = {h.chunk.commit for h in hits}
            if len(hits) != len(paths) or len(commits) != 1:
                problems.append(f"{len(hits)} hits from commits {sorted(commits)}")

    readers = [threading.Thread(target=search) for _ in range(3)]
    for thread in readers:
        thread.start()
    try:
        for n in range(1, 15):
            commit = f"c{n}"
            apply(index, [chunk(p, f"shared words {p} {commit}", commit) for p in paths], commit)
    finally:
        stop.set()
        for thread in readers:
            thread.join()
        index.close()
    assert problems == []
