"""Every adapter ranks alike: the same corpus and query give the same lexical scores and dense top-k.

Fusion weights are tuned on one backend and used on another, so BM25 and cosine must not depend on where the
index lives. Random corpora over a small vocabulary (so terms repeat and frequencies vary) are indexed in memory
and in the other backend, and every query is compared.
"""

from __future__ import annotations

import hashlib
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine

from service.adapters.knowledge.memory import InMemoryChunkIndex
from service.domain.knowledge import ChunkFilters, IndexedChunk, IndexedFile, Repository
from service.domain.lexical import query_terms
from service.ports.chunk_index import ChunkIndex

WORDS = ["alpha", "beta", "gamma", "delta", "parse_url", "getValue", "HTTPServer", "retry", "cache", "zeta"]
MODEL = "test:agree-8"


@pytest.fixture
def other(database: Engine | None, chunk_index: ChunkIndex) -> ChunkIndex | None:
    """The backend compared with the in-memory reference (None for the memory case itself: nothing to compare)."""
    return None if database is None else chunk_index


corpora = st.lists(st.lists(st.sampled_from(WORDS), min_size=1, max_size=30), min_size=3, max_size=25)
queries = st.lists(st.lists(st.sampled_from(WORDS), min_size=1, max_size=4), min_size=1, max_size=4)


def load(
    index: ChunkIndex, documents: list[list[str]], run: int, *, before: int = 0, salt: str = ""
) -> list[IndexedChunk]:
    """The documents as files ``f<i>.py`` of repository ``agree<run>``, replacing a load of ``before`` documents
    (paths past the new ones are removed)."""
    name = f"agree{run}"
    chunks = []
    for i, words in enumerate(documents):
        text = " ".join(words)
        chunks.append(
            IndexedChunk(
                chunk_id=f"{name}:{i}", repository=name, path=f"f{i}.py", language="python", kind="code", symbol="",
                start_line=1, end_line=2, header="", text=text,
                embedding_key=hashlib.sha256(f"{salt} {i}\n{text}".encode()).hexdigest(), blob_sha="b" * 40,
                commit="c",
            )
        )  # fmt: skip
    files = [IndexedFile(path=c.path, blob_sha=c.blob_sha, language="python", chunk_count=1) for c in chunks]
    repository = Repository(name, "/src", "/src", None, "c", None)
    removed = [f"f{i}.py" for i in range(len(documents), before)]
    index.apply_changes(repository=repository, removed_paths=removed, files=files, chunks=chunks, skipped=[])
    return chunks


def compare(
    reference: ChunkIndex, other: ChunkIndex, name: str, asked: list[list[str]], rng: np.random.Generator
) -> None:
    for words in asked:
        terms = query_terms(" ".join(words))
        expected = {h.chunk.chunk_id: h.score for h in reference.search_lexical(repository=name, terms=terms, k=50)}
        got = {h.chunk.chunk_id: h.score for h in other.search_lexical(repository=name, terms=terms, k=50)}
        assert got.keys() == expected.keys()
        for chunk_id, score in expected.items():
            assert got[chunk_id] == pytest.approx(score, rel=1e-4, abs=1e-9)
        query = rng.standard_normal(8).astype(np.float32)
        want = [(h.chunk.chunk_id, h.score) for h in reference.search_dense(**dense_query(name, query))]
        have = [(h.chunk.chunk_id, h.score) for h in other.search_dense(**dense_query(name, query))]
        assert [i for i, _ in have] == [i for i, _ in want]
        assert [s for _, s in have] == pytest.approx([s for _, s in want], abs=1e-5)


def vector_of(key: str) -> np.ndarray:
    return np.random.default_rng(int(key[:12], 16)).standard_normal(8).astype(np.float32)


def dense_query(name: str, vector: np.ndarray) -> dict[str, Any]:
    return {"repository": name, "model_id": MODEL, "vector": vector, "k": 5}


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(documents=corpora, later=corpora, asked=queries, seed=st.integers(0, 2**16))
def test_adapters_agree_with_the_reference(
    other: ChunkIndex | None, documents: list[list[str]], later: list[list[str]], asked: list[list[str]], seed: int
) -> None:
    """Both after a first index and after a sync that changes, adds and removes files."""
    if other is None:
        return
    run, name = seed, f"agree{seed}"
    other.delete_repository(name=name)  # the backend outlives examples, which may repeat a seed
    reference = InMemoryChunkIndex()
    rng = np.random.default_rng(seed)
    before = 0
    for salt, corpus in (("first", documents), ("later", later)):
        chunks = load(reference, corpus, run, before=before, salt=salt)
        load(other, corpus, run, before=before, salt=salt)
        before = len(corpus)
        # A vector is a function of the content, as with a real model: examples share the backend and its vectors.
        vectors = {c.embedding_key: vector_of(c.embedding_key) for c in chunks}
        for index in (reference, other):
            index.store_embeddings(model_id=MODEL, vectors=vectors)
        compare(reference, other, name, asked, rng)


ZIPF = [f"w{i}" for i in range(60)]


@pytest.mark.parametrize("k", [1, 5, 20])
def test_top_k_scores_agree_on_a_larger_corpus(other: ChunkIndex | None, k: int) -> None:
    """Enough chunks, common and rare words, and small k: the cases where a backend may skip scoring chunks
    that cannot make the top k. Scores at each rank must still be the reference's (ids may differ on ties)."""
    if other is None:
        return
    rng = np.random.default_rng(k)
    weights = 1.0 / np.arange(1, len(ZIPF) + 1)
    documents = [list(rng.choice(ZIPF, size=int(rng.integers(3, 40)), p=weights / weights.sum())) for _ in range(400)]
    reference = InMemoryChunkIndex()
    load(reference, documents, 7)
    load(other, documents, 7)
    filters = [None, ChunkFilters(path_glob="f1*")]
    for query in ["w0 w1 w45", "w2 w3 w30 w50", "w1 w5 w9 w13 w40", "w59", "w0 w1 w2", "w12 w33 w34 w57 w58"]:
        terms = query_terms(query)
        for chosen in filters:
            want = [h.score for h in reference.search_lexical(repository="agree7", terms=terms, k=k, filters=chosen)]
            have = [h.score for h in other.search_lexical(repository="agree7", terms=terms, k=k, filters=chosen)]
            assert have == pytest.approx(want, rel=1e-4), (query, chosen)
