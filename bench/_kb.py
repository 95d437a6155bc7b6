"""Wiring shared by the knowledge-base benchmarks: the scratch index, the local embedder and the fusion methods,
taken from the service's own modules so the benchmarks measure the code users run."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

from service.domain.knowledge import ScoredChunk
from service.knowledge_base.evaluation import Fusion
from service.ports.chunk_index import ChunkIndex
from service.ports.embedder import Embedder


def scratch_index(directory: Path) -> tuple[ChunkIndex, Callable[[], None]]:
    """An empty index for a benchmark (in ``directory`` when on disk) and the function that closes it."""
    from service.adapters.knowledge.memory import InMemoryChunkIndex

    return InMemoryChunkIndex(), lambda: None


def local_embedder() -> Embedder:
    raise NotImplementedError


def _rrf(lexical: Sequence[ScoredChunk], dense: Sequence[ScoredChunk], *, lexical_weight: float) -> list[ScoredChunk]:
    totals: dict[str, float] = {}
    chunks = {}
    for weight, results in ((lexical_weight, lexical), (1 - lexical_weight, dense)):
        for rank, item in enumerate(results, start=1):
            chunks[item.chunk.chunk_id] = item.chunk
            totals[item.chunk.chunk_id] = totals.get(item.chunk.chunk_id, 0.0) + weight / (60 + rank)
    return [ScoredChunk(chunks[c], totals[c]) for c in sorted(totals, key=lambda c: -totals[c])]


def fusion_methods() -> dict[str, Fusion]:
    return {"rrf": _rrf}


def tuned_defaults() -> tuple[str, float]:
    return "rrf", 0.5
