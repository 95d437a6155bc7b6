"""Retrieval quality on a labelled set: recall@1/5/10 and MRR@10 for lexical, dense and hybrid search, and a
sweep of the fusion weight so a user can tune hybrid search on their own code.

Each query is searched once per retriever (``depth`` candidates each); every fusion setting of the sweep then
re-ranks those same candidates, so a sweep of many weights costs no more searches than one. A query's rank is
the 1-based position of the first chunk that is a hit (see :class:`~service.knowledge_base.labelled_sets.Target`);
recall@k is the fraction of queries with a hit in the first k, and MRR@10 the mean of 1/rank over ranks ≤ 10
(0 for a miss).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from service.domain.knowledge import IndexedChunk, ScoredChunk
from service.domain.lexical import query_terms
from service.knowledge_base.fusion import FUSION_METHODS, Fusion, FusionMethod
from service.knowledge_base.labelled_sets import LabelledQuery
from service.ports.chunk_index import ChunkIndex
from service.ports.embedder import Embedder

KS = (1, 5, 10)
MRR_DEPTH = 10
DEFAULT_DEPTH = 50
DEFAULT_WEIGHTS = tuple(round(i / 20, 2) for i in range(21))

Progress = Callable[[int, int], None]


class Candidates(Protocol):
    """The two retrievers hybrid search fuses, each returning its best ``k`` chunks for a query, best first."""

    def lexical(self, query: str, k: int) -> list[ScoredChunk]: ...

    def dense(self, query: str, k: int) -> list[ScoredChunk]: ...


class Fuser(Protocol):
    """One fusion method: the lexical and dense lists merged into one ranking, lexical weighted
    ``lexical_weight`` and dense ``1 - lexical_weight``."""

    def __call__(
        self, lexical: Sequence[ScoredChunk], dense: Sequence[ScoredChunk], *, lexical_weight: float
    ) -> list[ScoredChunk]: ...


class IndexCandidates:
    """:class:`Candidates` straight from a :class:`ChunkIndex`: BM25 over the query's search terms, and cosine
    search with the query's embedding (what hybrid search fuses)."""

    def __init__(self, index: ChunkIndex, embedder: Embedder, *, repository: str) -> None:
        self._index = index
        self._embedder = embedder
        self._repository = repository

    def lexical(self, query: str, k: int) -> list[ScoredChunk]:
        return self._index.search_lexical(repository=self._repository, terms=query_terms(query), k=k)

    def dense(self, query: str, k: int) -> list[ScoredChunk]:
        vector = self._embedder.embed_query(query)
        return self._index.search_dense(
            repository=self._repository, model_id=self._embedder.model_id, vector=vector, k=k
        )


def shared_fusions(*, rrf_k: int = 60) -> dict[str, Fuser]:
    """Every method hybrid search offers (:data:`service.knowledge_base.fusion.FUSION_METHODS`), as fusers of a
    lexical weight ``w`` (dense weight ``1 - w``): exactly the ranking search gives with those weights."""

    def fuser(method: FusionMethod) -> Fuser:
        def fuse(
            lexical: Sequence[ScoredChunk], dense: Sequence[ScoredChunk], *, lexical_weight: float
        ) -> list[ScoredChunk]:
            fusion = Fusion(method=method, lexical_weight=lexical_weight, dense_weight=1 - lexical_weight, rrf_k=rrf_k)
            return [ScoredChunk(chunk=hit.chunk, score=hit.score) for hit in fusion.fuse(lexical, dense, MRR_DEPTH)]

        return fuse

    return {method: fuser(method) for method in FUSION_METHODS}


def lexical_share(*, lexical_weight: float, dense_weight: float) -> float:
    """The lexical weight ``w`` of the sweep equivalent to a setting's two weights (fusion ranks are unchanged
    when both weights are scaled alike)."""
    return round(lexical_weight / (lexical_weight + dense_weight), 4)


@dataclass(frozen=True, slots=True)
class Scores:
    """Metrics over ``queries`` queries: ``recall[k]`` for k in :data:`KS`, and MRR@10."""

    queries: int
    recall: dict[int, float]
    mrr_at_10: float

    def as_dict(self) -> dict[str, float | int]:
        return {"queries": self.queries, **{f"recall@{k}": v for k, v in self.recall.items()}, "mrr@10": self.mrr_at_10}


@dataclass(frozen=True, slots=True)
class QueryRun:
    """One query and what each retriever returned for it."""

    query: LabelledQuery
    lexical: list[ScoredChunk]
    dense: list[ScoredChunk]


@dataclass(frozen=True, slots=True)
class SweepPoint:
    """Hybrid scores for one fusion method at one lexical weight."""

    method: str
    lexical_weight: float
    scores: Scores


@dataclass(slots=True)
class Evaluation:
    """The measurements of one labelled set."""

    set_name: str
    lexical: Scores
    dense: Scores
    hybrid: Scores
    hybrid_method: str
    hybrid_lexical_weight: float
    sweep: list[SweepPoint] = field(default_factory=list)

    def best(self) -> dict[str, SweepPoint]:
        """The best weight of each method by MRR@10 (ties: the weight nearest an even split, then the lower)."""
        return best_points(self.sweep)

    def as_dict(self) -> dict[str, object]:
        return {
            "set": self.set_name,
            "queries": self.lexical.queries,
            "lexical": self.lexical.as_dict(),
            "dense": self.dense.as_dict(),
            "hybrid": {
                **self.hybrid.as_dict(),
                "method": self.hybrid_method,
                "lexical_weight": self.hybrid_lexical_weight,
            },
            "best": {
                method: {
                    "lexical_weight": point.lexical_weight,
                    **point.scores.as_dict(),
                    "settings": {
                        "TICKETSMITH_KNOWLEDGE_BASE__FUSION": method,
                        "TICKETSMITH_KNOWLEDGE_BASE__LEXICAL_WEIGHT": point.lexical_weight,
                        "TICKETSMITH_KNOWLEDGE_BASE__DENSE_WEIGHT": round(1 - point.lexical_weight, 4),
                    },
                }
                for method, point in self.best().items()
            },
            "sweep": [
                {"method": p.method, "lexical_weight": p.lexical_weight, **p.scores.as_dict()} for p in self.sweep
            ],
        }


def first_hit_rank(query: LabelledQuery, ranking: Iterable[IndexedChunk]) -> int | None:
    """The 1-based position of the first hit in ``ranking``, or None."""
    for position, chunk in enumerate(ranking, start=1):
        if query.is_hit(chunk):
            return position
    return None


def score_ranks(ranks: Sequence[int | None]) -> Scores:
    """recall@k and MRR@10 of the first-hit ranks of a set of queries (None: no hit)."""
    count = len(ranks)
    if count == 0:
        return Scores(0, dict.fromkeys(KS, 0.0), 0.0)
    recall = {k: round(sum(1 for r in ranks if r is not None and r <= k) / count, 4) for k in KS}
    mrr = sum(1 / r for r in ranks if r is not None and r <= MRR_DEPTH) / count
    return Scores(count, recall, round(mrr, 4))


def _chunks(scored: Sequence[ScoredChunk]) -> list[IndexedChunk]:
    return [item.chunk for item in scored]


def gather(
    queries: Sequence[LabelledQuery],
    candidates: Candidates,
    *,
    depth: int = DEFAULT_DEPTH,
    progress: Progress | None = None,
) -> list[QueryRun]:
    """Search every query with both retrievers, ``depth`` results each."""
    runs: list[QueryRun] = []
    for done, query in enumerate(queries, start=1):
        runs.append(QueryRun(query, candidates.lexical(query.query, depth), candidates.dense(query.query, depth)))
        if progress is not None:
            progress(done, len(queries))
    return runs


def fused_scores(runs: Sequence[QueryRun], fusion: Fuser, *, lexical_weight: float) -> Scores:
    return score_ranks(
        [
            first_hit_rank(run.query, _chunks(fusion(run.lexical, run.dense, lexical_weight=lexical_weight)))
            for run in runs
        ]
    )


def sweep(
    runs: Sequence[QueryRun], methods: Mapping[str, Fuser], *, weights: Sequence[float] = DEFAULT_WEIGHTS
) -> list[SweepPoint]:
    """Hybrid scores of every method at every lexical weight, on the same candidates."""
    return [
        SweepPoint(name, weight, fused_scores(runs, fusion, lexical_weight=weight))
        for name, fusion in methods.items()
        for weight in weights
    ]


def best_points(points: Iterable[SweepPoint]) -> dict[str, SweepPoint]:
    """The best point of each method by MRR@10, then recall@10; ties go to the weight nearest 0.5, then the lower."""
    best: dict[str, SweepPoint] = {}
    for point in points:
        current = best.get(point.method)
        if current is None or _rank_key(point) > _rank_key(current):
            best[point.method] = point
    return best


def _rank_key(point: SweepPoint) -> tuple[float, float, float, float]:
    return (
        point.scores.mrr_at_10,
        point.scores.recall[10],
        -abs(point.lexical_weight - 0.5),
        -point.lexical_weight,
    )


def evaluate(
    set_name: str,
    runs: Sequence[QueryRun],
    methods: Mapping[str, Fuser],
    *,
    method: str,
    lexical_weight: float,
    weights: Sequence[float] = DEFAULT_WEIGHTS,
) -> Evaluation:
    """Lexical, dense and hybrid (``method`` at ``lexical_weight``, the configured setting) scores of ``runs``,
    and the sweep of every method over ``weights``."""
    lexical = score_ranks([first_hit_rank(run.query, _chunks(run.lexical)) for run in runs])
    dense = score_ranks([first_hit_rank(run.query, _chunks(run.dense)) for run in runs])
    hybrid = fused_scores(runs, methods[method], lexical_weight=lexical_weight)
    return Evaluation(
        set_name=set_name,
        lexical=lexical,
        dense=dense,
        hybrid=hybrid,
        hybrid_method=method,
        hybrid_lexical_weight=lexical_weight,
        sweep=sweep(runs, methods, weights=weights),
    )
