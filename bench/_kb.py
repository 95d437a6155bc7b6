"""Wiring shared by the knowledge-base benchmarks, taken from the service's own composition root and modules so
the benchmarks measure the code users run."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from service.container import build_container, scratch_chunk_index
from service.knowledge_base.evaluation import Fuser, lexical_share, shared_fusions
from service.ports.chunk_index import ChunkIndex
from service.ports.embedder import Embedder
from service.settings import Settings


def scratch_index(directory: Path) -> tuple[ChunkIndex, Callable[[], None]]:
    """An empty embedded (SQLite) index in ``directory`` and the function that closes it."""
    return scratch_chunk_index(directory)


def local_embedder(directory: Path) -> Embedder:
    """The embedder the default settings pick (the bundled MiniLM), as the container builds it."""
    container = build_container(Settings(data_dir=directory), in_memory=True)
    try:
        return container.embedder
    finally:
        container.close()


def fusion_methods() -> dict[str, Fuser]:
    """Every fusion method hybrid search offers, with the default RRF constant."""
    return shared_fusions(rrf_k=Settings().knowledge_base.rrf_k)


def tuned_defaults() -> tuple[str, float]:
    """The fusion method and the lexical share of the weights that search uses by default (the settings)."""
    kb = Settings().knowledge_base
    return kb.fusion, lexical_share(lexical_weight=kb.lexical_weight, dense_weight=kb.dense_weight)
