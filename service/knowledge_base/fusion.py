"""Fusing a lexical and a dense ranking into one: weighted reciprocal rank fusion or normalised score sums.

The two retrievers score on unrelated scales (BM25 is unbounded, cosine lies in [-1, 1]), so they are fused
either by rank (RRF, Cormack et al., SIGIR 2009: each ranking adds ``weight / (rrf_k + rank)``) or by scores
normalised per query (``minmax`` to [0, 1], or ``zscore``) and summed with weights. Which is best, and with what
weights, is measured on a labelled set (``ticketsmith eval retrieval``), never assumed.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from service.domain.knowledge import IndexedChunk, ScoredChunk
from service.errors import InvalidInput

FusionMethod = Literal["rrf", "minmax", "zscore"]
FUSION_METHODS: tuple[FusionMethod, ...] = ("rrf", "minmax", "zscore")


@dataclass(frozen=True, slots=True)
class FusedHit:
    """A chunk with its fused score and where each retriever placed it (1-based rank; None: not retrieved)."""

    chunk: IndexedChunk
    score: float
    lexical_rank: int | None
    lexical_score: float | None
    dense_rank: int | None
    dense_score: float | None


def _normalised(scores: Sequence[float], method: FusionMethod) -> list[float]:
    if not scores:
        return []
    if method == "minmax":
        low, high = min(scores), max(scores)
        return [1.0 if high == low else (s - low) / (high - low) for s in scores]
    mean = sum(scores) / len(scores)
    spread = math.sqrt(sum((s - mean) ** 2 for s in scores) / len(scores))
    return [0.0 if spread == 0 else (s - mean) / spread for s in scores]


@dataclass(frozen=True, slots=True)
class Fusion:
    """How to fuse: ``method``, the weight of each ranking, and RRF's ``rrf_k``.

    Raises :class:`InvalidInput` for an unknown method, a negative weight, both weights zero, or ``rrf_k < 1``.
    """

    method: FusionMethod = "rrf"
    lexical_weight: float = 1.0
    dense_weight: float = 1.0
    rrf_k: int = 60

    def __post_init__(self) -> None:
        if self.method not in FUSION_METHODS:
            raise InvalidInput(f"unknown fusion method {self.method!r}", hint=f"one of {', '.join(FUSION_METHODS)}")
        if self.lexical_weight < 0 or self.dense_weight < 0 or self.lexical_weight + self.dense_weight == 0:
            raise InvalidInput("fusion weights must be at least 0 and not both 0")
        if self.rrf_k < 1:
            raise InvalidInput("rrf_k must be at least 1")

    def fuse(self, lexical: Sequence[ScoredChunk], dense: Sequence[ScoredChunk], k: int) -> list[FusedHit]:
        """The ``k`` best chunks of both rankings (each best first), by fused score.

        With ``rrf`` a chunk scores the sum of ``weight / (rrf_k + rank)`` over the rankings that have it. With
        ``minmax`` or ``zscore`` each ranking's scores are normalised over the results it returned and a chunk
        scores the weighted sum; a ranking that did not return the chunk adds its lowest normalised score (0 for
        minmax), since the chunk is at best as good as the worst it did return. Ties go to the chunk with the
        better single rank, then to the chunk id, so the order is deterministic.
        """
        chunks: dict[str, IndexedChunk] = {}
        ranks: list[dict[str, int]] = [{}, {}]
        raw: list[dict[str, float]] = [{}, {}]
        for side, results in enumerate((lexical, dense)):
            for rank, hit in enumerate(results, start=1):
                chunk_id = hit.chunk.chunk_id
                if chunk_id in ranks[side]:
                    continue  # a retriever returns a chunk once; keep its best place if not
                chunks.setdefault(chunk_id, hit.chunk)
                ranks[side][chunk_id] = rank
                raw[side][chunk_id] = hit.score
        weights = (self.lexical_weight, self.dense_weight)
        fused: dict[str, float] = dict.fromkeys(chunks, 0.0)
        for side in (0, 1):
            if not ranks[side] or weights[side] == 0:
                continue
            if self.method == "rrf":
                for chunk_id, rank in ranks[side].items():
                    fused[chunk_id] += weights[side] / (self.rrf_k + rank)
            else:
                ids = list(raw[side])
                values = _normalised([raw[side][i] for i in ids], self.method)
                floor = min(values)
                normal = dict(zip(ids, values, strict=True))
                for chunk_id in chunks:
                    fused[chunk_id] += weights[side] * normal.get(chunk_id, floor)

        def order(chunk_id: str) -> tuple[float, int, str]:
            best_rank = min(ranks[0].get(chunk_id, 1 << 30), ranks[1].get(chunk_id, 1 << 30))
            return (-fused[chunk_id], best_rank, chunk_id)

        best = sorted(chunks, key=order)[:k]
        return [
            FusedHit(
                chunk=chunks[chunk_id],
                score=fused[chunk_id],
                lexical_rank=ranks[0].get(chunk_id),
                lexical_score=raw[0].get(chunk_id),
                dense_rank=ranks[1].get(chunk_id),
                dense_score=raw[1].get(chunk_id),
            )
            for chunk_id in best
        ]

    def __call__(
        self, query: str, lexical: Sequence[ScoredChunk], dense: Sequence[ScoredChunk], k: int
    ) -> list[ScoredChunk]:
        """:meth:`fuse` as a plain ranking, for callers that take a ``(query, lexical, dense, k)`` fuser."""
        return [ScoredChunk(chunk=hit.chunk, score=hit.score) for hit in self.fuse(lexical, dense, k)]
