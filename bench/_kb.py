"""Wiring shared by the knowledge-base benchmarks, taken from the service's own composition root and modules so
the benchmarks measure the code users run."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from service.container import build_container, scratch_chunk_index
from service.knowledge_base.evaluation import DEFAULT_LEXICAL_WEIGHT, DEFAULT_METHOD, FUSION_METHODS, Fusion
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


def fusion_methods() -> dict[str, Fusion]:
    return dict(FUSION_METHODS)


def tuned_defaults() -> tuple[str, float]:
    """The fusion method and lexical weight search uses by default."""
    return DEFAULT_METHOD, DEFAULT_LEXICAL_WEIGHT
