"""Fusion of a lexical and a dense ranking: weighted RRF and normalised score sums."""

from __future__ import annotations

import pytest

from service.domain.knowledge import IndexedChunk, ScoredChunk
from service.errors import InvalidInput
from service.knowledge_base.fusion import Fusion


def chunk(name: str) -> IndexedChunk:
    return IndexedChunk(
        chunk_id=name, repository="r", path=f"{name}.py", language="python", kind="function", symbol=name,
        start_line=1, end_line=2, header=name, text=name, embedding_key=name, blob_sha="b", commit="c",
    )  # fmt: skip


def ranking(*pairs: tuple[str, float]) -> list[ScoredChunk]:
    return [ScoredChunk(chunk=chunk(name), score=score) for name, score in pairs]


LEXICAL = ranking(("a", 12.0), ("b", 6.0), ("c", 5.5))
DENSE = ranking(("c", 0.9), ("d", 0.8), ("a", 0.2))


def ids(hits: list) -> list[str]:  # type: ignore[type-arg]
    return [h.chunk.chunk_id for h in hits]


def test_rrf_sums_weighted_reciprocal_ranks() -> None:
    hits = Fusion(method="rrf", rrf_k=60).fuse(LEXICAL, DENSE, 10)
    scores = {h.chunk.chunk_id: h.score for h in hits}
    assert scores["a"] == pytest.approx(1 / 61 + 1 / 63)
    assert scores["c"] == pytest.approx(1 / 63 + 1 / 61)
    assert scores["b"] == pytest.approx(1 / 62)
    assert scores["d"] == pytest.approx(1 / 62)
    # a and c tie on score; both have a best rank of 1, so the chunk id decides.
    assert ids(hits) == ["a", "c", "b", "d"]


def test_rrf_weights_move_the_order() -> None:
    assert ids(Fusion(method="rrf", lexical_weight=0.0, dense_weight=1.0).fuse(LEXICAL, DENSE, 2)) == ["c", "d"]
    assert ids(Fusion(method="rrf", lexical_weight=1.0, dense_weight=0.0).fuse(LEXICAL, DENSE, 2)) == ["a", "b"]
    # Even a small lexical weight lifts a (lexical 1st, dense 3rd) above d (dense 2nd only).
    assert ids(Fusion(method="rrf", lexical_weight=0.2, dense_weight=1.0).fuse(LEXICAL, DENSE, 3)) == ["c", "a", "d"]


def test_hits_keep_each_retrievers_rank_and_score() -> None:
    hits = {h.chunk.chunk_id: h for h in Fusion().fuse(LEXICAL, DENSE, 10)}
    assert (hits["a"].lexical_rank, hits["a"].lexical_score, hits["a"].dense_rank, hits["a"].dense_score) == (
        1, 12.0, 3, 0.2,
    )  # fmt: skip
    assert (hits["d"].lexical_rank, hits["d"].lexical_score, hits["d"].dense_rank) == (None, None, 2)


def test_minmax_normalises_each_ranking_to_unit_range() -> None:
    hits = Fusion(method="minmax").fuse(LEXICAL, DENSE, 10)
    scores = {h.chunk.chunk_id: h.score for h in hits}
    # lexical: a 1, b (6 - 5.5) / 6.5, c 0; dense: c 1, d 6/7, a 0; missing ones add 0.
    assert scores["a"] == pytest.approx(1.0)
    assert scores["c"] == pytest.approx(1.0)
    assert scores["d"] == pytest.approx(0.6 / 0.7)
    assert scores["b"] == pytest.approx(0.5 / 6.5)
    assert ids(hits)[2:] == ["d", "b"]


def test_zscore_fills_a_missing_score_with_the_rankings_lowest() -> None:
    hits = Fusion(method="zscore", lexical_weight=1.0, dense_weight=0.0).fuse(LEXICAL, DENSE, 10)
    scores = {h.chunk.chunk_id: h.score for h in hits}
    mean = (12 + 6 + 5.5) / 3
    spread = (((12 - mean) ** 2 + (6 - mean) ** 2 + (5.5 - mean) ** 2) / 3) ** 0.5
    assert scores["a"] == pytest.approx((12 - mean) / spread)
    assert scores["d"] == pytest.approx((5.5 - mean) / spread)  # not retrieved lexically: the lowest z
    assert ids(hits)[0] == "a"


@pytest.mark.parametrize("method", ["rrf", "minmax", "zscore"])
def test_one_empty_ranking_gives_the_other_in_its_order(method: str) -> None:
    assert ids(Fusion(method=method).fuse(LEXICAL, [], 10)) == ["a", "b", "c"]  # type: ignore[arg-type]
    assert ids(Fusion(method=method).fuse([], DENSE, 2)) == ["c", "d"]  # type: ignore[arg-type]
    assert Fusion(method=method).fuse([], [], 5) == []  # type: ignore[arg-type]


def test_equal_scores_normalise_without_dividing_by_zero() -> None:
    flat = ranking(("a", 3.0), ("b", 3.0))
    assert [h.score for h in Fusion(method="minmax", dense_weight=0).fuse(flat, [], 5)] == [1.0, 1.0]
    assert [h.score for h in Fusion(method="zscore", dense_weight=0).fuse(flat, [], 5)] == [0.0, 0.0]


def test_the_fuser_call_shape_returns_scored_chunks() -> None:
    fused = Fusion()("query", LEXICAL, DENSE, 2)
    assert [(s.chunk.chunk_id, round(s.score, 6)) for s in fused] == [
        ("a", round(1 / 61 + 1 / 63, 6)),
        ("c", round(1 / 61 + 1 / 63, 6)),
    ]


@pytest.mark.parametrize(
    "kwargs",
    [{"method": "borda"}, {"lexical_weight": -1.0}, {"lexical_weight": 0.0, "dense_weight": 0.0}, {"rrf_k": 0}],
)
def test_bad_fusion_settings_are_refused(kwargs: dict) -> None:  # type: ignore[type-arg]
    with pytest.raises(InvalidInput):
        Fusion(**kwargs)
