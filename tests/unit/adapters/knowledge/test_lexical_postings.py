"""The in-memory postings of the embedded index score exactly as FTS5's ``bm25()`` does, and stand down when the
stored text does not tokenize as FTS5 counted it."""

from __future__ import annotations

import hashlib
import sqlite3
import time
from contextlib import closing
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from service.adapters.knowledge.lexical_postings import Postings, PostingsCache
from service.adapters.knowledge.sqlite import SqliteChunkIndex
from service.adapters.knowledge.sqlite_pool import SqliteConnections
from service.adapters.knowledge.sqlite_schema import fts_statements, fts_table
from service.domain.knowledge import ChunkFilters, IndexedChunk, IndexedFile, Repository

WORDS = ["parse_url", "getValue", "HTTPServer", "retry", "cache", "alpha", "beta", "gamma", "zeta", "omega"]


def corpus(count: int, seed: int) -> list[IndexedChunk]:
    rng = np.random.default_rng(seed)
    chunks = []
    for i in range(count):
        words = rng.choice(WORDS, size=int(rng.integers(1, 40)), p=np.arange(10, 0, -1) / 55)
        path = f"{'docs' if i % 3 == 0 else 'src'}/m{i}.{'md' if i % 3 == 0 else 'py'}"
        text = " ".join(words)
        chunks.append(
            IndexedChunk(
                chunk_id=f"demo:{i}", repository="demo", path=path, language="markdown" if i % 3 == 0 else "python",
                kind="function" if i % 2 else "code", symbol="", start_line=1, end_line=2, header="", text=text,
                embedding_key=hashlib.sha256(f"{i}\n{text}".encode()).hexdigest(), blob_sha="b" * 40, commit="c",
            )
        )  # fmt: skip
    return chunks


def indexed(tmp_path: Path, chunks: list[IndexedChunk]) -> Path:
    path = tmp_path / "knowledge.db"
    index = SqliteChunkIndex(path)
    files = [IndexedFile(path=c.path, blob_sha=c.blob_sha, language=c.language, chunk_count=1) for c in chunks]
    repository = Repository("demo", "/src", "/src", None, "c", None)
    index.apply_changes(repository=repository, removed_paths=[], files=files, chunks=chunks, skipped=[])
    index.close()
    return path


def fts5_scores(connection: sqlite3.Connection, fts: str, terms: list[str], where: str = "") -> dict[int, float]:
    query = " OR ".join(f'"{t}"' for t in terms)
    rows = connection.execute(
        f"SELECT {fts}.rowid, -bm25({fts}) FROM {fts} JOIN chunks c ON c.id = {fts}.rowid WHERE {fts} MATCH ?{where}",
        (query,),
    )
    return {int(key): float(score) for key, score in rows}


@pytest.mark.parametrize(
    ("terms", "filters", "where"),
    [
        (["retry"], None, ""),
        (["parseurl", "zeta", "omega"], None, ""),
        (["gethttpresponse", "value", "http", "server"], None, ""),
        (["cache", "beta"], ChunkFilters(language="python"), " AND c.language = 'python'"),
        (["cache", "omega"], ChunkFilters(kind="function", path_glob="src/*"), " AND c.kind = 'function'"
         " AND c.path GLOB 'src/*'"),
    ],
)  # fmt: skip
def test_every_score_is_fts5s(tmp_path: Path, terms: list[str], filters: ChunkFilters | None, where: str) -> None:
    path = indexed(tmp_path, corpus(300, seed=3))
    with closing(sqlite3.connect(path)) as connection:
        repo_id = connection.execute("SELECT id FROM repositories WHERE name = 'demo'").fetchone()[0]
        fts = fts_table(repo_id)
        postings = Postings.load(connection, fts, repo_id, (repo_id, 1))
        expected = fts5_scores(connection, fts, terms, where)
    assert postings is not None
    got = dict(postings.top_k(terms, 1000, filters))
    assert got.keys() == expected.keys()
    for key, score in expected.items():
        assert got[key] == pytest.approx(score, rel=1e-6)
    best = postings.top_k(terms, 7, filters)
    assert [s for _, s in best] == sorted((s for _, s in best), reverse=True)
    assert [s for _, s in best] == pytest.approx(sorted(expected.values(), reverse=True)[:7], rel=1e-6)
    assert postings.frequency("retry") == sum(1 for c in corpus(300, seed=3) if "retry" in c.text.split())


def test_text_fts5_splits_otherwise_is_left_to_fts5(tmp_path: Path) -> None:
    """A stored text whose token count differs from FTS5's (here a hyphen, which FTS5 splits on) means the
    postings cannot stand in for FTS5."""
    path = indexed(tmp_path, corpus(5, seed=1))
    with closing(sqlite3.connect(path)) as connection:
        repo_id = connection.execute("SELECT id FROM repositories WHERE name = 'demo'").fetchone()[0]
        fts = fts_table(repo_id)
        for statement in fts_statements(repo_id):
            connection.execute(statement)
        first = connection.execute(f"SELECT min(rowid) FROM {fts}").fetchone()[0]
        connection.execute(f"UPDATE {fts} SET terms = 'retry-cache zeta' WHERE rowid = ?", (first,))
        assert Postings.load(connection, fts, repo_id, (repo_id, 2)) is None


def test_a_search_after_a_change_sees_the_change(tmp_path: Path) -> None:
    index = SqliteChunkIndex(tmp_path / "knowledge.db")
    try:
        chunks = corpus(20, seed=2)
        files = [IndexedFile(path=c.path, blob_sha=c.blob_sha, language=c.language, chunk_count=1) for c in chunks]
        repository = Repository("demo", "/src", "/src", None, "c", None)
        index.apply_changes(repository=repository, removed_paths=[], files=files, chunks=chunks, skipped=[])
        assert index.search_lexical(repository="demo", terms=["uniqueword"], k=5) == []
        changed = [replace(chunks[0], text="uniqueword here", embedding_key="f" * 64)]
        index.apply_changes(repository=repository, removed_paths=[], files=files[:1], chunks=changed, skipped=[])
        hits = index.search_lexical(repository="demo", terms=["uniqueword"], k=5)
        assert [h.chunk.chunk_id for h in hits] == [chunks[0].chunk_id]
    finally:
        index.close()


def test_a_large_repository_is_built_in_the_background(tmp_path: Path) -> None:
    """Above the inline size the first search gets ``None`` (it answers from FTS5) and a later one the postings."""
    path = indexed(tmp_path, corpus(50, seed=4))
    connections = SqliteConnections(path, busy_timeout_seconds=5)
    cache = PostingsCache(connections.read, inline_chunks=10)
    try:
        with connections.read() as connection:
            repo_id, generation = connection.execute("SELECT id, generation FROM repositories").fetchone()
        arguments = ("demo", fts_table(repo_id), repo_id, generation, 50)
        with connections.read() as connection:
            assert cache.get(connection, *arguments) is None
        deadline = time.monotonic() + 30
        built = None
        while built is None and time.monotonic() < deadline:
            time.sleep(0.02)
            with connections.read() as connection:
                built = cache.get(connection, *arguments)
        assert built is not None
        assert built.chunk_count == 50
        assert built.version == (repo_id, generation)
    finally:
        cache.close()
        connections.close()
