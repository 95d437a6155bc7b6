"""Hybrid retrieval over the in-memory index: modes, fallbacks, coverage, citations and filters."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from service.adapters.knowledge.memory import InMemoryChunkIndex
from service.domain.knowledge import ChunkFilters, IndexedChunk, IndexedFile, Repository
from service.domain.lexical import search_terms
from service.errors import InvalidInput, NotFound, UpstreamFailed
from service.knowledge_base.fusion import Fusion
from service.knowledge_base.retrieval import HybridRetriever

DIMENSIONS = 64


class BagOfWordsEmbedder:
    """Hashes each search term into a bucket: texts sharing words are near, as a real model's would be."""

    model_id = "test:bag-of-words"
    dimensions = DIMENSIONS

    def __init__(self, *, broken: bool = False) -> None:
        self.broken = broken
        self.queries: list[str] = []

    def _vector(self, text: str) -> np.ndarray:
        vector = np.zeros(DIMENSIONS, dtype=np.float32)
        for term in search_terms(text):
            vector[int(hashlib.md5(term.encode()).hexdigest(), 16) % DIMENSIONS] += 1.0
        norm = np.linalg.norm(vector)
        return vector / norm if norm else vector

    def embed_documents(self, texts: Sequence[str]) -> np.ndarray:
        return np.stack([self._vector(t) for t in texts])

    def embed_query(self, text: str) -> np.ndarray:
        if self.broken:
            raise UpstreamFailed("the embedding endpoint answered 503", hint="try again later")
        self.queries.append(text)
        return self._vector(text)


TEXTS = {
    "net/http.py": ("python", "function", "fetch", "def fetch(url): return http_get(url).json()"),
    "net/retry.py": ("python", "function", "retry", "def retry(call, attempts): backoff and try the call again"),
    "db/store.py": ("python", "class", "Store", "class Store: save rows to the database table"),
    "web/app.go": ("go", "function", "main", "func main() { serve http requests on a port }"),
    "docs/guide.md": ("markdown", "section", "Guide", "How to configure the database connection"),
}


def build(embedded: Sequence[str] | None = None) -> InMemoryChunkIndex:
    index = InMemoryChunkIndex()
    chunks = []
    for path, (language, kind, symbol, text) in TEXTS.items():
        header = f"# {path}"
        chunks.append(
            IndexedChunk(
                chunk_id=f"demo:{path}", repository="demo", path=path, language=language, kind=kind, symbol=symbol,
                start_line=3, end_line=9, header=header, text=text,
                embedding_key=hashlib.sha256(f"{header}\n{text}".encode()).hexdigest(), blob_sha="b" * 40,
                commit="abc123",
            )
        )  # fmt: skip
    files = [IndexedFile(path=c.path, blob_sha=c.blob_sha, language=c.language, chunk_count=1) for c in chunks]
    repository = Repository("demo", "/src/demo", "/src/demo", "main", "abc123", None)
    index.apply_changes(repository=repository, removed_paths=[], files=files, chunks=chunks, skipped=[])
    embedder = BagOfWordsEmbedder()
    chosen = [c for c in chunks if embedded is None or c.path in embedded]
    if chosen:
        vectors = embedder.embed_documents([c.content for c in chosen])
        by_hash = {c.embedding_key: v for c, v in zip(chosen, vectors, strict=True)}
        index.store_embeddings(model_id=embedder.model_id, vectors=by_hash)
    return index


def test_hybrid_fuses_both_rankings_and_cites_every_hit() -> None:
    retriever = HybridRetriever(build(), BagOfWordsEmbedder())
    result = retriever.search("demo", "database table rows", k=3)
    assert result.mode == result.requested_mode == "hybrid"
    assert result.dense_coverage == 1.0
    assert result.notes == []
    top = result.hits[0]
    assert top.chunk.path == "db/store.py"
    assert top.lexical_rank == 1
    assert top.dense_rank == 1
    assert top.score == pytest.approx(2 / 61)
    citation = top.citation
    assert (citation.path, citation.start_line, citation.end_line, citation.symbol, citation.commit) == (
        "db/store.py", 3, 9, "Store", "abc123",
    )  # fmt: skip
    assert len(result.hits) == 3


def test_lexical_and_dense_modes_score_with_their_own_retriever() -> None:
    retriever = HybridRetriever(build(), BagOfWordsEmbedder())
    lexical = retriever.search("demo", "retry attempts", mode="lexical")
    assert lexical.mode == "lexical"
    assert lexical.hits[0].chunk.path == "net/retry.py"
    assert lexical.hits[0].score == lexical.hits[0].lexical_score
    assert lexical.hits[0].dense_rank is None
    dense = retriever.search("demo", "retry attempts", mode="dense", k=2)
    assert dense.mode == "dense"
    assert dense.hits[0].chunk.path == "net/retry.py"
    assert dense.hits[0].lexical_rank is None
    assert dense.hits[0].dense_rank == 1
    assert len(dense.hits) == 2


@pytest.mark.parametrize("mode", ["hybrid", "dense"])
def test_without_an_embedder_search_is_lexical_and_says_so(mode: str) -> None:
    result = HybridRetriever(build(), None).search("demo", "database", mode=mode)  # type: ignore[arg-type]
    assert result.requested_mode == mode
    assert result.mode == "lexical"
    assert result.notes == ["lexical only: no embedding model is configured"]
    assert result.dense_coverage == 0.0
    assert result.chunks == len(TEXTS)
    assert {h.chunk.path for h in result.hits} == {"db/store.py", "docs/guide.md"}


def test_with_nothing_embedded_search_is_lexical_and_says_so() -> None:
    embedder = BagOfWordsEmbedder()
    result = HybridRetriever(build(embedded=[]), embedder).search("demo", "database")
    assert result.mode == "lexical"
    assert result.notes == ["lexical only: nothing is embedded yet"]
    assert (result.embedded, result.chunks, result.dense_coverage) == (0, 5, 0.0)
    assert embedder.queries == []  # the query was not embedded for nothing


def test_partial_dense_coverage_is_reported() -> None:
    result = HybridRetriever(build(embedded=["db/store.py", "net/http.py"]), BagOfWordsEmbedder()).search(
        "demo", "database"
    )
    assert result.mode == "hybrid"
    assert result.dense_coverage == pytest.approx(0.4)
    assert result.notes == ["dense index 2 of 5 chunks complete: results may miss recent code"]


def test_a_failing_embedder_makes_hybrid_lexical_and_dense_raise() -> None:
    retriever = HybridRetriever(build(), BagOfWordsEmbedder(broken=True))
    result = retriever.search("demo", "database")
    assert result.mode == "lexical"
    assert result.notes[0].startswith("lexical only: dense retrieval failed")
    assert result.hits
    with pytest.raises(UpstreamFailed):
        retriever.search("demo", "database", mode="dense")


def test_filters_apply_to_both_retrievers() -> None:
    retriever = HybridRetriever(build(), BagOfWordsEmbedder())
    result = retriever.search("demo", "http requests serve", filters=ChunkFilters(language="go"))
    assert [h.chunk.path for h in result.hits] == ["web/app.go"]
    result = retriever.search("demo", "http", filters=ChunkFilters(path_glob="net/*"))
    assert {h.chunk.path for h in result.hits} <= {"net/http.py", "net/retry.py"}


def test_the_fusion_can_be_chosen_per_search() -> None:
    retriever = HybridRetriever(build(), BagOfWordsEmbedder(), fusion=Fusion(method="minmax"))
    default = retriever.search("demo", "database table rows", k=2)
    assert default.hits[0].score == pytest.approx(2.0)  # top of both rankings: 1 + 1
    lexical_only = retriever.search("demo", "database table rows", k=2, fusion=Fusion(dense_weight=0.0))
    assert lexical_only.hits[0].score == pytest.approx(1 / 61)


def test_a_parallel_lexical_search_gives_the_same_result() -> None:
    index = build()
    with ThreadPoolExecutor(max_workers=1) as executor:
        parallel = HybridRetriever(index, BagOfWordsEmbedder(), executor=executor).search("demo", "http url fetch")
    serial = HybridRetriever(index, BagOfWordsEmbedder()).search("demo", "http url fetch")
    assert parallel.hits == serial.hits


def test_a_query_of_stop_words_only_still_searches_densely() -> None:
    result = HybridRetriever(build(), BagOfWordsEmbedder()).search("demo", "the and of")
    assert result.mode == "hybrid"
    assert "the query has no searchable words for lexical search" in result.notes
    assert all(h.lexical_rank is None for h in result.hits)


@pytest.mark.parametrize(
    ("query", "k", "mode"), [("  ", 5, "hybrid"), ("x", 0, "hybrid"), ("x", 101, "hybrid"), ("x", 5, "fuzzy")]
)
def test_bad_searches_are_refused(query: str, k: int, mode: str) -> None:
    with pytest.raises(InvalidInput):
        HybridRetriever(build(), None).search("demo", query, k=k, mode=mode)  # type: ignore[arg-type]


def test_an_unknown_repository_is_not_found() -> None:
    with pytest.raises(NotFound):
        HybridRetriever(build(), None).search("nope", "database")
