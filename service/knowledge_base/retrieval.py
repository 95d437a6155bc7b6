"""Hybrid retrieval over any ChunkIndex and Embedder: lexical and dense rankings fused, with citations.

Dense retrieval needs an embedder and embedded chunks; while either is missing a hybrid (or dense) search runs
lexically and the result says so, with how complete the dense index is, so callers can tell the user.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from concurrent.futures import Executor
from dataclasses import dataclass, field
from typing import Literal

from service.domain.knowledge import ChunkFilters, IndexedChunk, ScoredChunk
from service.domain.lexical import query_terms
from service.errors import InvalidInput, TicketsmithError
from service.knowledge_base.fusion import FusedHit, Fusion
from service.ports.chunk_index import ChunkIndex
from service.ports.embedder import Embedder

log = logging.getLogger(__name__)

Mode = Literal["hybrid", "lexical", "dense"]
SEARCH_MODES: tuple[Mode, ...] = ("hybrid", "lexical", "dense")
MAX_K = 100


@dataclass(frozen=True, slots=True)
class Citation:
    """Where a hit comes from: enough to open the lines at the commit they were indexed from."""

    repository: str
    path: str
    start_line: int
    end_line: int
    symbol: str
    commit: str


@dataclass(frozen=True, slots=True)
class SearchHit:
    """One result: the chunk, its score (fused in hybrid mode, else the retriever's own), and each retriever's
    1-based rank and raw score (None where that retriever did not return it or did not run)."""

    chunk: IndexedChunk
    score: float
    lexical_rank: int | None = None
    lexical_score: float | None = None
    dense_rank: int | None = None
    dense_score: float | None = None

    @property
    def citation(self) -> Citation:
        c = self.chunk
        return Citation(c.repository, c.path, c.start_line, c.end_line, c.symbol, c.commit)


@dataclass(frozen=True, slots=True)
class SearchResult:
    """What a search returned and how: ``mode`` is what ran (``requested_mode`` what was asked; they differ when
    dense retrieval was unavailable, and ``notes`` says why). ``embedded`` of ``chunks`` have a vector of
    ``model_id``; :attr:`dense_coverage` is that fraction."""

    repository: str
    query: str
    requested_mode: Mode
    mode: Mode
    hits: list[SearchHit]
    embedded: int
    chunks: int
    model_id: str | None
    notes: list[str] = field(default_factory=list)

    @property
    def dense_coverage(self) -> float:
        """Fraction of the repository's chunks that dense retrieval can find (0.0 with no embedder)."""
        return self.embedded / self.chunks if self.chunks and self.model_id else 0.0


def _hits(results: Sequence[ScoredChunk], *, lexical: bool) -> list[SearchHit]:
    if lexical:
        return [SearchHit(r.chunk, r.score, lexical_rank=i, lexical_score=r.score) for i, r in enumerate(results, 1)]
    return [SearchHit(r.chunk, r.score, dense_rank=i, dense_score=r.score) for i, r in enumerate(results, 1)]


def _fused(hit: FusedHit) -> SearchHit:
    return SearchHit(hit.chunk, hit.score, hit.lexical_rank, hit.lexical_score, hit.dense_rank, hit.dense_score)


class HybridRetriever:
    """Search one repository of ``index`` lexically, densely with ``embedder``'s vectors, or both, fused.

    ``candidates`` results are taken from each retriever before fusing (at least ``k``). With an ``executor``
    the lexical search runs on it while the query is embedded and searched densely (both release the GIL).
    """

    def __init__(
        self,
        index: ChunkIndex,
        embedder: Embedder | None,
        *,
        fusion: Fusion | None = None,
        candidates: int = 50,
        executor: Executor | None = None,
    ) -> None:
        if not 1 <= candidates <= 1000:
            raise InvalidInput("candidates must be between 1 and 1000")
        self.index = index
        self.embedder = embedder
        self.fusion = fusion or Fusion()
        self.candidates = candidates
        self._executor = executor

    def search(
        self,
        repository: str,
        query: str,
        k: int = 10,
        filters: ChunkFilters | None = None,
        mode: Mode = "hybrid",
        *,
        fusion: Fusion | None = None,
    ) -> SearchResult:
        """The ``k`` best chunks of ``repository`` for ``query``; ``fusion`` overrides the retriever's own.

        Raises :class:`service.errors.NotFound` for an unknown repository, :class:`InvalidInput` for an empty
        query, an unknown mode or ``k`` outside 1..100. A failing embedder makes a hybrid search lexical (noted);
        a dense one raises.
        """
        if mode not in SEARCH_MODES:
            raise InvalidInput(f"unknown search mode {mode!r}", hint="use hybrid, lexical or dense")
        if not query.strip():
            raise InvalidInput("the query is empty", hint="give words or identifiers to look for")
        if not 1 <= k <= MAX_K:
            raise InvalidInput(f"k must be between 1 and {MAX_K}, not {k}")
        self.index.get_repository(name=repository)
        notes: list[str] = []
        model_id = None if self.embedder is None else self.embedder.model_id
        # With no model, any id counts the chunks (none is embedded under the empty id).
        embedded, chunks = self.index.dense_coverage(repository=repository, model_id=model_id or "")
        if model_id is None:
            embedded = 0
        ran: Mode = mode
        if mode != "lexical" and (model_id is None or embedded == 0):
            why = "no embedding model is configured" if model_id is None else "nothing is embedded yet"
            notes.append(f"lexical only: {why}")
            ran = "lexical"
        wide = max(k, self.candidates)
        terms = query_terms(query)
        lexical_future = None
        lexical: list[ScoredChunk] = []
        if ran in ("hybrid", "lexical") and terms:
            size = k if ran == "lexical" else wide
            if self._executor is not None and ran == "hybrid":
                lexical_future = self._executor.submit(
                    self.index.search_lexical, repository=repository, terms=terms, k=size, filters=filters
                )
            else:
                lexical = self.index.search_lexical(repository=repository, terms=terms, k=size, filters=filters)
        dense: list[ScoredChunk] = []
        if ran in ("hybrid", "dense"):
            try:
                dense = self._dense(repository, query, k if ran == "dense" else wide, filters)
            except TicketsmithError as exc:
                if ran == "dense":
                    raise
                log.warning("dense retrieval failed, answering lexically: %s", exc)
                notes.append(f"lexical only: dense retrieval failed ({exc})")
                ran = "lexical"
        if lexical_future is not None:
            lexical = lexical_future.result()
        if ran == "hybrid":
            hits = [_fused(h) for h in (fusion or self.fusion).fuse(lexical, dense, k)]
        else:
            hits = _hits(lexical if ran == "lexical" else dense, lexical=ran == "lexical")[:k]
        if ran != "lexical" and embedded < chunks:
            notes.append(f"dense index {embedded} of {chunks} chunks complete: results may miss recent code")
        if not terms and ran != "dense":
            notes.append("the query has no searchable words for lexical search")
        return SearchResult(
            repository=repository,
            query=query,
            requested_mode=mode,
            mode=ran,
            hits=hits,
            embedded=embedded,
            chunks=chunks,
            model_id=model_id,
            notes=notes,
        )

    def _dense(self, repository: str, query: str, k: int, filters: ChunkFilters | None) -> list[ScoredChunk]:
        assert self.embedder is not None  # checked by the caller
        vector = self.embedder.embed_query(query)
        return self.index.search_dense(
            repository=repository, model_id=self.embedder.model_id, vector=vector, k=k, filters=filters
        )
