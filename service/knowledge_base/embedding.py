"""Fill in the dense index behind the lexical one: embed every chunk content that has no vector yet.

Vectors are keyed by embedding key (the sha256 of the chunk's content without its path) and model, so content
embedded once (in any file, path, commit or repository) is never sent to the model again: a renamed or copied
file costs no embedding. What is embedded is the whole content, path included, of one chunk with the key. Each
batch is stored as soon as it is embedded: an interrupted run keeps what it did, and the next one carries on from
there.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from service.errors import HandlerFailed
from service.ports.chunk_index import ChunkIndex
from service.ports.embedder import Embedder

DEFAULT_BATCH = 32


@dataclass(frozen=True, slots=True)
class EmbedSummary:
    """``embedded`` contents sent to the model in this run; ``covered``/``total`` chunks with a vector after it."""

    repository: str
    model_id: str
    embedded: int
    covered: int
    total: int
    seconds: float

    @property
    def complete(self) -> bool:
        return self.covered >= self.total


def embed_pending(
    index: ChunkIndex,
    embedder: Embedder,
    repository: str,
    *,
    batch: int = DEFAULT_BATCH,
    progress: Callable[[int, int], None] | None = None,
) -> EmbedSummary:
    """Embed the repository's pending contents, ``batch`` at a time, until none is left.

    ``progress(done, total)`` counts contents; ``total`` is an estimate from the chunks still without a vector
    (chunks that share content are embedded once). Raises what the embedder raises; stored batches stay.
    """
    started = time.perf_counter()
    model_id = embedder.model_id
    covered, total = index.dense_coverage(repository=repository, model_id=model_id)
    estimate = max(total - covered, 0)
    embedded = 0
    seen: set[str] = set()
    while True:
        pending = index.pending_embeddings(repository=repository, model_id=model_id, limit=max(batch, 1))
        if not pending:
            break
        if all(key in seen for key, _ in pending):
            raise HandlerFailed(
                f"the index keeps reporting the same {len(pending)} contents as not embedded",
                hint="the chunk index did not keep the vectors; check its storage",
            )
        vectors = embedder.embed_documents([text for _, text in pending])
        index.store_embeddings(model_id=model_id, vectors={key: vectors[i] for i, (key, _) in enumerate(pending)})
        seen.update(key for key, _ in pending)
        embedded += len(pending)
        if progress is not None:
            progress(embedded, max(estimate, embedded))
    covered, total = index.dense_coverage(repository=repository, model_id=model_id)
    return EmbedSummary(
        repository=repository,
        model_id=model_id,
        embedded=embedded,
        covered=covered,
        total=total,
        seconds=round(time.perf_counter() - started, 3),
    )
