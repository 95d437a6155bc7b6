"""The ChunkIndex contract, run against every adapter: in memory, SQLite (FTS5 + flat matrix), PostgreSQL."""

from __future__ import annotations

import hashlib
import itertools
import math
from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime

import numpy as np
import pytest

from service.domain.knowledge import (
    ChunkFilters,
    IndexedChunk,
    IndexedFile,
    Repository,
    SkippedFile,
    content_without_path,
    file_line,
)
from service.domain.lexical import query_terms, search_terms
from service.errors import Conflict, InvalidInput, NotFound
from service.ports.chunk_index import ChunkIndex

MODEL = "test:model-16"
FILLER = [
    "def add_numbers(left, right): return left + right",
    "class Colour: red green blue",
    "import logging; logger = logging.getLogger(__name__)",
    "SELECT name FROM users WHERE active",
    "async def fetch_page(session, url): await session.get(url)",
    "def render_template(name, context): pass",
    "const router = express.Router()",
    "func main() { fmt.Println(message) }",
    "public static void main(String[] args) {}",
    "README: how to install and configure things",
]


@pytest.fixture
def index(chunk_index: ChunkIndex) -> ChunkIndex:
    """A fresh, empty index on each backend."""
    return chunk_index


def repo(name: str = "demo", commit: str = "c1") -> Repository:
    return Repository(
        name=name,
        source=f"/src/{name}",
        path=f"/src/{name}",
        ref="main",
        commit=commit,
        indexed_at=datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC),
    )


def chunk(
    path: str,
    n: int,
    text: str,
    *,
    repository: str = "demo",
    language: str = "python",
    kind: str = "function",
    symbol: str = "",
    commit: str = "c1",
    chunk_id: str | None = None,
) -> IndexedChunk:
    header = file_line(path)
    return IndexedChunk(
        chunk_id=chunk_id or f"{repository}:{path}:{n}",
        repository=repository,
        path=path,
        language=language,
        kind=kind,
        symbol=symbol,
        start_line=10 * n + 1,
        end_line=10 * n + 9,
        header=header,
        text=text,
        embedding_key=hashlib.sha256(content_without_path(path, header, text).encode()).hexdigest(),
        blob_sha=hashlib.sha1(path.encode()).hexdigest(),
        commit=commit,
    )


def files_of(chunks: Sequence[IndexedChunk], extra_paths: Sequence[str] = ()) -> list[IndexedFile]:
    paths: dict[str, IndexedFile] = {}
    for c in chunks:
        count = sum(1 for other in chunks if other.path == c.path)
        paths[c.path] = IndexedFile(path=c.path, blob_sha=c.blob_sha, language=c.language, chunk_count=count)
    for path in extra_paths:
        paths.setdefault(path, IndexedFile(path=path, blob_sha="0" * 40, language="text", chunk_count=0))
    return list(paths.values())


def apply(
    index: ChunkIndex,
    chunks: Sequence[IndexedChunk],
    *,
    repository: Repository | None = None,
    removed: Sequence[str] = (),
    skipped: Sequence[SkippedFile] = (),
) -> None:
    index.apply_changes(
        repository=repository or repo(),
        removed_paths=removed,
        files=files_of(chunks),
        chunks=chunks,
        skipped=skipped,
    )


def with_filler(chunks: Sequence[IndexedChunk], repository: str = "demo") -> list[IndexedChunk]:
    """``chunks`` plus unrelated ones, so that BM25's inverse document frequencies are meaningful."""
    filler = [chunk(f"filler/f{i}.py", 0, text, repository=repository) for i, text in enumerate(FILLER)]
    return [*chunks, *filler]


def lexical_ids(index: ChunkIndex, query: str, *, k: int = 10, filters: ChunkFilters | None = None) -> list[str]:
    hits = index.search_lexical(repository="demo", terms=query_terms(query), k=k, filters=filters)
    return [hit.chunk.chunk_id for hit in hits]


def unit(rng: np.random.Generator, dimensions: int = 16) -> np.ndarray:
    vector = rng.standard_normal(dimensions).astype(np.float32)
    return vector / np.linalg.norm(vector)


def embed_all(index: ChunkIndex, chunks: Sequence[IndexedChunk], seed: int = 7) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    vectors = {c.embedding_key: unit(rng) for c in chunks}
    index.store_embeddings(model_id=MODEL, vectors=vectors)
    return vectors


# Repositories


def test_repositories_are_saved_replaced_and_listed_by_name(index: ChunkIndex) -> None:
    index.save_repository(repository=repo("zeta"))
    index.save_repository(repository=repo("alpha"))
    index.save_repository(repository=repo("alpha", commit="c2"))
    assert [r.name for r in index.list_repositories()] == ["alpha", "zeta"]
    assert index.get_repository(name="alpha") == repo("alpha", commit="c2")
    with pytest.raises(NotFound):
        index.get_repository(name="missing")


def test_a_new_repository_record_without_a_commit_round_trips(index: ChunkIndex) -> None:
    fresh = Repository(name="new", source="https://x/y.git", path="/data/y", ref=None, commit=None, indexed_at=None)
    index.save_repository(repository=fresh)
    assert index.get_repository(name="new") == fresh


def test_lookups_of_an_unknown_repository_are_empty(index: ChunkIndex) -> None:
    assert index.file_blobs(repository="nope") == {}
    assert index.list_files(repository="nope") == []
    assert index.skipped_files(repository="nope") == []
    assert index.chunks_for_path(repository="nope", path="a.py") == []
    assert index.find_symbols(repository="nope", name="x") == []
    assert index.search_lexical(repository="nope", terms=["x"], k=5) == []
    assert index.search_dense(repository="nope", model_id=MODEL, vector=np.ones(16, np.float32), k=5) == []
    assert index.pending_embeddings(repository="nope", model_id=MODEL, limit=5) == []
    assert index.dense_coverage(repository="nope", model_id=MODEL) == (0, 0)


# Applying changes


def test_apply_changes_stores_files_chunks_and_the_new_commit(index: ChunkIndex) -> None:
    chunks = [chunk("src/b.py", 1, "beta one"), chunk("src/b.py", 0, "beta zero"), chunk("src/a.py", 0, "alpha")]
    apply(index, chunks, repository=repo(commit="c9"))
    assert index.get_repository(name="demo").commit == "c9"
    assert index.file_blobs(repository="demo") == {c.path: c.blob_sha for c in chunks}
    assert [f.path for f in index.list_files(repository="demo")] == ["src/a.py", "src/b.py"]
    assert index.list_files(repository="demo", prefix="src/b")[0] == IndexedFile(
        path="src/b.py", blob_sha=chunks[0].blob_sha, language="python", chunk_count=2
    )
    assert [f.path for f in index.list_files(repository="demo", limit=1)] == ["src/a.py"]
    assert index.chunks_for_path(repository="demo", path="src/b.py") == [chunks[1], chunks[0]]


def test_get_chunks_keeps_the_order_asked_and_leaves_out_unknown_ids(index: ChunkIndex) -> None:
    chunks = [chunk("a.py", i, f"text {i}") for i in range(3)]
    apply(index, chunks)
    asked = [chunks[2].chunk_id, "unknown", chunks[0].chunk_id]
    assert index.get_chunks(chunk_ids=asked) == [chunks[2], chunks[0]]
    assert index.get_chunks(chunk_ids=[]) == []


def test_a_changed_file_replaces_all_its_chunks(index: ChunkIndex) -> None:
    apply(index, with_filler([chunk("a.py", 0, "obsolete_zebra here"), chunk("a.py", 1, "obsolete_zebra again")]))
    apply(index, [chunk("a.py", 0, "fresh_walrus here")], repository=repo(commit="c2"))
    assert [c.text for c in index.chunks_for_path(repository="demo", path="a.py")] == ["fresh_walrus here"]
    assert lexical_ids(index, "obsolete_zebra") == []
    assert lexical_ids(index, "fresh_walrus") == ["demo:a.py:0"]
    assert index.get_chunks(chunk_ids=["demo:a.py:1"]) == []
    assert len(index.list_files(repository="demo")) == 1 + len(FILLER)


def test_removed_paths_vanish_from_files_chunks_and_search(index: ChunkIndex) -> None:
    apply(index, with_filler([chunk("gone.py", 0, "vanishing_symbol"), chunk("stay.py", 0, "staying")]))
    index.apply_changes(repository=repo(commit="c2"), removed_paths=["gone.py"], files=[], chunks=[], skipped=[])
    assert "gone.py" not in index.file_blobs(repository="demo")
    assert "stay.py" in index.file_blobs(repository="demo")
    assert index.chunks_for_path(repository="demo", path="gone.py") == []
    assert lexical_ids(index, "vanishing_symbol") == []
    assert index.get_repository(name="demo").commit == "c2"


def test_a_renamed_file_is_found_under_its_new_path_only(index: ChunkIndex) -> None:
    apply(index, with_filler([chunk("old/place.py", 0, "renamed_thing body")]))
    moved = chunk("new/place.py", 0, "renamed_thing body")
    apply(index, [moved], repository=repo(commit="c2"), removed=["old/place.py"])
    assert lexical_ids(index, "renamed_thing") == [moved.chunk_id]
    assert "old/place.py" not in index.file_blobs(repository="demo")
    assert index.chunks_for_path(repository="demo", path="new/place.py") == [moved]


def test_the_skipped_list_is_replaced_for_the_paths_changed(index: ChunkIndex) -> None:
    apply(index, [chunk("a.py", 0, "x y")], skipped=[SkippedFile("big.bin", "binary"), SkippedFile("z.py", "parse")])
    apply(index, [chunk("z.py", 0, "parsed now")], skipped=[SkippedFile("a.py", "too large")])
    assert index.skipped_files(repository="demo") == [
        SkippedFile("a.py", "too large"),
        SkippedFile("big.bin", "binary"),
    ]
    # A path is either indexed or skipped: a.py left the index when it was skipped.
    assert sorted(index.file_blobs(repository="demo")) == ["z.py"]
    index.apply_changes(repository=repo(), removed_paths=["big.bin"], files=[], chunks=[], skipped=[])
    assert index.skipped_files(repository="demo") == [SkippedFile("a.py", "too large")]


def test_a_file_with_no_chunks_is_still_indexed(index: ChunkIndex) -> None:
    index.apply_changes(
        repository=repo(), removed_paths=[], files=files_of([], extra_paths=["empty.txt"]), chunks=[], skipped=[]
    )
    assert index.file_blobs(repository="demo") == {"empty.txt": "0" * 40}


def test_chunk_ids_of_a_replaced_file_can_be_reused(index: ChunkIndex) -> None:
    first = chunk("a.py", 0, "first version")
    apply(index, [first])
    second = replace(chunk("a.py", 0, "second version"), chunk_id=first.chunk_id)
    apply(index, [second])
    assert index.get_chunks(chunk_ids=[first.chunk_id]) == [second]


def _assert_old_index_intact(index: ChunkIndex, before: list[IndexedChunk]) -> None:
    assert index.get_repository(name="demo").commit == "c1"
    assert index.chunks_for_path(repository="demo", path="a.py") == [c for c in before if c.path == "a.py"]
    assert lexical_ids(index, "original_marker") == ["demo:a.py:0"]
    assert sorted(index.file_blobs(repository="demo")) == sorted({c.path for c in before})
    assert index.skipped_files(repository="demo") == [SkippedFile("skipped.bin", "binary")]


def test_a_duplicate_chunk_id_in_the_batch_changes_nothing(index: ChunkIndex) -> None:
    before = with_filler([chunk("a.py", 0, "original_marker"), chunk("b.py", 0, "other")])
    apply(index, before, skipped=[SkippedFile("skipped.bin", "binary")])
    bad = [chunk("a.py", 0, "replacement"), chunk("c.py", 0, "clash", chunk_id="demo:a.py:0")]
    with pytest.raises(Conflict):
        apply(index, bad, repository=repo(commit="c2"), removed=["b.py"], skipped=[SkippedFile("skipped.bin", "x")])
    _assert_old_index_intact(index, before)


def test_a_chunk_id_already_used_by_a_file_that_stays_changes_nothing(index: ChunkIndex) -> None:
    before = with_filler([chunk("a.py", 0, "original_marker"), chunk("b.py", 0, "other")])
    apply(index, before, skipped=[SkippedFile("skipped.bin", "binary")])
    bad = [chunk("c.py", 0, "steals an id", chunk_id="demo:b.py:0")]
    with pytest.raises(Conflict):
        apply(index, bad, repository=repo(commit="c2"), removed=["a.py"])
    _assert_old_index_intact(index, before)


def test_a_chunk_outside_the_files_given_is_refused(index: ChunkIndex) -> None:
    before = with_filler([chunk("a.py", 0, "original_marker")])
    apply(index, before, skipped=[SkippedFile("skipped.bin", "binary")])
    with pytest.raises(InvalidInput):
        index.apply_changes(
            repository=repo(commit="c2"),
            removed_paths=["a.py"],
            files=[],
            chunks=[chunk("orphan.py", 0, "no file")],
            skipped=[],
        )
    with pytest.raises(InvalidInput):
        apply(index, [chunk("a.py", 0, "other repo", repository="elsewhere")], repository=repo(commit="c2"))
    _assert_old_index_intact(index, before)


# Lexical search


def test_lexical_search_matches_split_identifiers(index: ChunkIndex) -> None:
    target = chunk("net.py", 0, "def getHTTPResponse(url): ...")
    apply(index, with_filler([target, chunk("other.py", 0, "def parse_config(path): ...")]))
    assert lexical_ids(index, "http response")[0] == target.chunk_id
    assert lexical_ids(index, "get_http_response")[0] == target.chunk_id
    assert lexical_ids(index, "nothing_matches_this") == []
    assert index.search_lexical(repository="demo", terms=[], k=5) == []


def test_a_rare_term_outranks_a_common_one(index: ChunkIndex) -> None:
    common = [chunk(f"common{i}.py", 0, f"widget helper number{i}") for i in range(6)]
    rare = chunk("rare.py", 0, "zanzibar helper")
    apply(index, with_filler([*common, rare]))
    hits = index.search_lexical(repository="demo", terms=["widget", "zanzibar"], k=10)
    assert hits[0].chunk.chunk_id == rare.chunk_id
    assert {h.chunk.chunk_id for h in hits} == {rare.chunk_id, *(c.chunk_id for c in common)}
    assert all(earlier.score >= later.score for earlier, later in itertools.pairwise(hits))


def test_term_frequency_saturates(index: ChunkIndex) -> None:
    once = chunk("once.py", 0, "alpha beta gamma delta")
    many = chunk("many.py", 0, "alpha alpha alpha alpha")
    both = chunk("both.py", 0, "alpha zeta gamma delta")
    apply(index, with_filler([once, many, both, chunk("z.py", 0, "zeta epsilon eta theta")]))
    scores = {h.chunk.chunk_id: h.score for h in index.search_lexical(repository="demo", terms=["alpha"], k=10)}
    assert scores[many.chunk_id] > scores[once.chunk_id]
    assert scores[many.chunk_id] < 4 * scores[once.chunk_id]
    # Two different query terms once each beat one of them four times.
    ranked = lexical_ids(index, "alpha beta")
    assert ranked.index(once.chunk_id) < ranked.index(many.chunk_id)


def test_lexical_k_is_respected_and_checked(index: ChunkIndex) -> None:
    apply(index, with_filler([chunk(f"m{i}.py", 0, f"shared word{i}") for i in range(8)]))
    assert len(lexical_ids(index, "shared", k=3)) == 3
    with pytest.raises(InvalidInput):
        index.search_lexical(repository="demo", terms=["shared"], k=0)


FILTER_CASES = [
    (ChunkFilters(language="go"), {"demo:src/server.go:0"}),
    (ChunkFilters(kind="class"), {"demo:src/model.py:0"}),
    (ChunkFilters(path_glob="src/*.py"), {"demo:src/model.py:0", "demo:src/util.py:0"}),
    (ChunkFilters(path_glob="*/test_*"), {"demo:tests/test_model.py:0"}),
    (ChunkFilters(path_glob="[!s]*"), {"demo:tests/test_model.py:0", "demo:docs/guide.md:0"}),
    (ChunkFilters(path_glob="src/util.p?"), {"demo:src/util.py:0"}),
    (ChunkFilters(language="python", kind="function"), {"demo:src/util.py:0", "demo:tests/test_model.py:0"}),
    (ChunkFilters(language="python", path_glob="docs/*"), set()),
]


def _filter_corpus() -> list[IndexedChunk]:
    return [
        chunk("src/model.py", 0, "searchable model", kind="class"),
        chunk("src/util.py", 0, "searchable util"),
        chunk("src/server.go", 0, "searchable server", language="go"),
        chunk("tests/test_model.py", 0, "searchable test"),
        chunk("docs/guide.md", 0, "searchable guide", language="markdown", kind="section"),
    ]


@pytest.mark.parametrize(("filters", "expected"), FILTER_CASES)
def test_filters_restrict_lexical_search(index: ChunkIndex, filters: ChunkFilters, expected: set[str]) -> None:
    apply(index, _filter_corpus())
    assert set(lexical_ids(index, "searchable", filters=filters)) == expected


@pytest.mark.parametrize(("filters", "expected"), FILTER_CASES)
def test_filters_restrict_dense_search(index: ChunkIndex, filters: ChunkFilters, expected: set[str]) -> None:
    corpus = _filter_corpus()
    apply(index, corpus)
    embed_all(index, corpus)
    query = np.ones(16, np.float32) / 4.0
    hits = index.search_dense(repository="demo", model_id=MODEL, vector=query, k=50, filters=filters)
    assert {h.chunk.chunk_id for h in hits} == expected


def test_search_stays_inside_its_repository(index: ChunkIndex) -> None:
    apply(index, with_filler([chunk("a.py", 0, "common_marker")]))
    theirs = [chunk("a.py", 0, "common_marker", repository="other")]
    apply(index, with_filler(theirs, repository="other"), repository=repo("other"))
    assert lexical_ids(index, "common_marker") == ["demo:a.py:0"]
    embed_all(index, with_filler([chunk("a.py", 0, "common_marker")]))
    hits = index.search_dense(repository="demo", model_id=MODEL, vector=np.ones(16, np.float32), k=50)
    assert all(h.chunk.repository == "demo" for h in hits)
    assert len(hits) == 1 + len(FILLER)


# Dense search


def test_dense_top_k_is_exact(index: ChunkIndex) -> None:
    corpus = [chunk(f"pkg/m{i // 10}.py", i % 10, f"body number {i}") for i in range(300)]
    apply(index, corpus)
    vectors = embed_all(index, corpus)
    rng = np.random.default_rng(99)
    for _ in range(5):
        query = unit(rng)
        hits = index.search_dense(repository="demo", model_id=MODEL, vector=query, k=10)
        brute = sorted(corpus, key=lambda c: -float(vectors[c.embedding_key] @ query))[:10]
        assert [h.chunk.chunk_id for h in hits] == [c.chunk_id for c in brute]
        for hit in hits:
            assert hit.score == pytest.approx(float(vectors[hit.chunk.embedding_key] @ query), abs=1e-5)


def test_dense_search_returns_only_embedded_chunks_of_that_model(index: ChunkIndex) -> None:
    corpus = [chunk("a.py", i, f"text {i}") for i in range(4)]
    apply(index, corpus)
    vectors = embed_all(index, corpus[:2])
    query = vectors[corpus[0].embedding_key]
    hits = index.search_dense(repository="demo", model_id=MODEL, vector=query, k=10)
    assert hits[0].chunk.chunk_id == corpus[0].chunk_id
    assert {h.chunk.chunk_id for h in hits} == {corpus[0].chunk_id, corpus[1].chunk_id}
    assert hits[0].score == pytest.approx(1.0, abs=1e-5)
    assert index.search_dense(repository="demo", model_id="other-model", vector=query, k=10) == []


def test_dense_search_sees_changes_to_the_index(index: ChunkIndex) -> None:
    first = chunk("a.py", 0, "first")
    apply(index, [first])
    vectors = embed_all(index, [first])
    query = vectors[first.embedding_key]
    assert [h.chunk for h in index.search_dense(repository="demo", model_id=MODEL, vector=query, k=3)] == [first]
    second = chunk("a.py", 0, "second")
    apply(index, [second])
    assert index.search_dense(repository="demo", model_id=MODEL, vector=query, k=3) == []
    embed_all(index, [second], seed=3)
    assert [h.chunk for h in index.search_dense(repository="demo", model_id=MODEL, vector=query, k=3)] == [second]


# Embeddings


def test_pending_embeddings_dedup_by_content_across_repositories_and_paths(index: ChunkIndex) -> None:
    shared_a = chunk("lib/shared.py", 0, "shared body", repository="demo")
    twin = chunk("lib/copy.py", 0, "shared body")  # same content, other path: its header names lib/copy.py
    own = chunk("lib/own.py", 0, "own body")
    apply(index, [shared_a, twin, own])
    shared_b = chunk("moved/shared.py", 0, "shared body", repository="other")
    apply(index, [shared_b], repository=repo("other"))
    assert shared_a.embedding_key == shared_b.embedding_key == twin.embedding_key
    assert shared_a.header != twin.header

    pending = dict(index.pending_embeddings(repository="demo", model_id=MODEL, limit=10))
    # One key for the content at both paths; what is embedded is the whole content of one of its chunks.
    assert set(pending) == {shared_a.embedding_key, own.embedding_key}
    assert pending[shared_a.embedding_key] in {shared_a.content, twin.content}
    assert pending[own.embedding_key] == own.content
    assert len(index.pending_embeddings(repository="demo", model_id=MODEL, limit=1)) == 1
    assert index.dense_coverage(repository="demo", model_id=MODEL) == (0, 3)

    embed_all(index, [shared_a])
    assert index.pending_embeddings(repository="other", model_id=MODEL, limit=10) == []
    assert index.pending_embeddings(repository="demo", model_id=MODEL, limit=10) == [(own.embedding_key, own.content)]
    assert index.dense_coverage(repository="demo", model_id=MODEL) == (2, 3)
    assert index.dense_coverage(repository="other", model_id=MODEL) == (1, 1)
    assert len(index.pending_embeddings(repository="demo", model_id="another-model", limit=10)) == 2

    embed_all(index, [own])
    assert index.pending_embeddings(repository="demo", model_id=MODEL, limit=10) == []
    assert index.dense_coverage(repository="demo", model_id=MODEL) == (3, 3)


def test_store_embeddings_is_idempotent_and_checks_dimensions(index: ChunkIndex) -> None:
    c = chunk("a.py", 0, "text")
    apply(index, [c])
    vectors = embed_all(index, [c])
    embed_all(index, [c])
    assert index.dense_coverage(repository="demo", model_id=MODEL) == (1, 1)
    with pytest.raises(InvalidInput):
        index.store_embeddings(model_id=MODEL, vectors={"f" * 64: np.ones(8, np.float32)})
    with pytest.raises(InvalidInput):
        index.store_embeddings(model_id="mixed", vectors={"a" * 64: np.ones(8, np.float32), "b" * 64: np.ones(9)})
    hits = index.search_dense(repository="demo", model_id=MODEL, vector=vectors[c.embedding_key], k=1)
    assert [h.chunk for h in hits] == [c]


# Symbols and deletion


def test_find_symbols_matches_whole_names_and_dotted_suffixes(index: ChunkIndex) -> None:
    chunks = [
        chunk("b.py", 0, "x", symbol="Parser.parse"),
        chunk("a.py", 1, "x", symbol="parse"),
        chunk("a.py", 0, "x", symbol="Other.parse"),
        chunk("c.py", 0, "x", symbol="parse_all"),
        chunk("c.py", 1, "x", symbol="reparse"),
        chunk("c.py", 2, "x", symbol="Parser"),
    ]
    apply(index, chunks)
    found = index.find_symbols(repository="demo", name="parse")
    assert [(c.path, c.symbol) for c in found] == [("a.py", "Other.parse"), ("a.py", "parse"), ("b.py", "Parser.parse")]
    assert [c.symbol for c in index.find_symbols(repository="demo", name="Parser.parse")] == ["Parser.parse"]
    assert len(index.find_symbols(repository="demo", name="parse", limit=2)) == 2
    assert index.find_symbols(repository="demo", name="") == []


def test_delete_repository_drops_everything_but_embeddings(index: ChunkIndex) -> None:
    mine = with_filler([chunk("a.py", 0, "doomed_marker")])
    apply(index, mine, skipped=[SkippedFile("x.bin", "binary")])
    apply(index, [chunk("a.py", 0, "survivor", repository="other")], repository=repo("other"))
    embed_all(index, mine)
    index.delete_repository(name="demo")
    index.delete_repository(name="demo")
    assert [r.name for r in index.list_repositories()] == ["other"]
    with pytest.raises(NotFound):
        index.get_repository(name="demo")
    assert index.file_blobs(repository="demo") == {}
    assert index.skipped_files(repository="demo") == []
    assert lexical_ids(index, "doomed_marker") == []
    assert index.get_chunks(chunk_ids=[mine[0].chunk_id]) == []
    assert index.dense_coverage(repository="demo", model_id=MODEL) == (0, 0)
    assert index.search_lexical(repository="other", terms=["survivor"], k=3)[0].chunk.text == "survivor"
    # Indexed again, the same content needs no new embeddings.
    apply(index, mine)
    assert index.pending_embeddings(repository="demo", model_id=MODEL, limit=100) == []
    assert lexical_ids(index, "doomed_marker") == [mine[0].chunk_id]


def test_lexical_scores_are_okapi_bm25_over_the_repository(index: ChunkIndex) -> None:
    corpus = with_filler([chunk(f"m{i}.py", 0, "widget helper " + "alpha " * i) for i in range(6)])
    apply(index, corpus)
    apply(index, [chunk("a.py", 0, "alpha " * 9, repository="other")], repository=repo("other"))
    documents = {c.chunk_id: search_terms(c.content) for c in corpus}
    average = sum(map(len, documents.values())) / len(documents)

    def bm25(terms: list[str], document: list[str]) -> float:
        score = 0.0
        for term in terms:
            n = sum(1 for d in documents.values() if term in d)
            idf = max(math.log((len(documents) - n + 0.5) / (n + 0.5)), 1e-6)
            tf = document.count(term)
            score += idf * tf * 2.2 / (tf + 1.2 * (0.25 + 0.75 * len(document) / average))
        return score

    terms = ["alpha", "helper"]
    hits = index.search_lexical(repository="demo", terms=terms, k=20)
    assert len(hits) == 6
    for hit in hits:
        assert hit.score == pytest.approx(bm25(terms, documents[hit.chunk.chunk_id]), rel=1e-4)
