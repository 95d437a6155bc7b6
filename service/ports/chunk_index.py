"""Port: where indexed chunks live, with lexical and dense search over them.

Adapters: embedded (SQLite FTS5 + a flat float32 matrix, in the data directory) and PostgreSQL (full-text
search + pgvector). Every method is safe to call from several threads.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from typing import Protocol

import numpy as np
import numpy.typing as npt

from service.domain.knowledge import ChunkFilters, IndexedChunk, IndexedFile, Repository, ScoredChunk, SkippedFile

Vector = npt.NDArray[np.float32]


class ChunkIndex(Protocol):
    """Chunks of indexed repositories, their embeddings (keyed by embedding key and model), and search.

    Lookups for a repository that is not indexed give empty results; only :meth:`get_repository` raises
    :class:`service.errors.NotFound`. Searches raise :class:`service.errors.InvalidInput` unless ``1 <= k <= 1000``.
    """

    def save_repository(self, *, repository: Repository) -> None:
        """Create or replace the repository record (not its chunks). Idempotent."""
        ...

    def get_repository(self, *, name: str) -> Repository:
        """The repository with this name. Raises :class:`service.errors.NotFound`."""
        ...

    def list_repositories(self) -> list[Repository]:
        """Every repository, by name."""
        ...

    def delete_repository(self, *, name: str) -> None:
        """Drop the repository, its files and chunks (embeddings stay: other content may share them). Idempotent."""
        ...

    def file_blobs(self, *, repository: str) -> dict[str, str]:
        """Path → git blob sha of every file currently indexed for ``repository``."""
        ...

    def apply_changes(
        self,
        *,
        repository: Repository,
        removed_paths: Collection[str],
        files: Sequence[IndexedFile],
        chunks: Sequence[IndexedChunk],
        skipped: Sequence[SkippedFile],
    ) -> None:
        """In one transaction: drop the files (and chunks) at ``removed_paths`` and at every path in ``files``
        and ``skipped``, insert ``files`` and ``chunks``, replace the skipped list for those paths, and save
        ``repository`` (with its new commit). All or nothing: a failure leaves the previous index intact and
        searchable. A rename is the old path in ``removed_paths`` and the new one in ``files``.

        Every chunk must belong to ``repository`` and to one of ``files`` (else :class:`service.errors.InvalidInput`);
        a chunk id already used by a chunk that stays, or given twice, raises :class:`service.errors.Conflict`.
        """
        ...

    def skipped_files(self, *, repository: str) -> list[SkippedFile]:
        """Files left out of the current index, with reasons, by path."""
        ...

    def list_files(self, *, repository: str, prefix: str = "", limit: int = 1000) -> list[IndexedFile]:
        """Indexed files whose path starts with ``prefix``, by path, at most ``limit``."""
        ...

    def get_chunks(self, *, chunk_ids: Sequence[str]) -> list[IndexedChunk]:
        """The chunks with these ids, in the order asked; unknown ids are left out."""
        ...

    def chunks_for_path(self, *, repository: str, path: str) -> list[IndexedChunk]:
        """Every chunk of one file, by start line."""
        ...

    def find_symbols(self, *, repository: str, name: str, limit: int = 50) -> list[IndexedChunk]:
        """Chunks whose symbol is ``name`` or ends with ``.name`` (definitions), by path and line."""
        ...

    def search_lexical(
        self, *, repository: str, terms: Sequence[str], k: int, filters: ChunkFilters | None = None
    ) -> list[ScoredChunk]:
        """The ``k`` best chunks by BM25 over the search terms (already split and lower-cased), best first.

        A chunk matches when it contains any term, except that terms found in half the repository's chunks or more
        (BM25 gives them almost no weight) are ignored when rarer ones are asked for too. BM25 is Okapi BM25 as
        SQLite FTS5 computes it (k1 = 1.2, b = 0.75, IDF floored at 1e-6), over the repository's chunks, so scores
        agree between adapters. An empty ``terms`` gives an empty list.
        """
        ...

    def search_dense(
        self, *, repository: str, model_id: str, vector: Vector, k: int, filters: ChunkFilters | None = None
    ) -> list[ScoredChunk]:
        """The ``k`` chunks whose ``model_id`` embedding is nearest ``vector`` by cosine similarity, best first.

        Chunks not yet embedded by ``model_id`` are not returned (see :meth:`dense_coverage`).
        """
        ...

    def pending_embeddings(self, *, repository: str, model_id: str, limit: int) -> list[tuple[str, str]]:
        """Up to ``limit`` distinct ``(embedding_key, content)`` of the repository's chunks with no ``model_id``
        embedding yet, the content (header and text) of one chunk with that key (see :class:`IndexedChunk`). A key
        embedded before, in any repository or at any path, is never pending again: chunks of a renamed or copied
        file are not pending.
        """
        ...

    def store_embeddings(self, *, model_id: str, vectors: Mapping[str, Vector]) -> None:
        """Keep embedding key → vector for ``model_id`` (unit length, all of one dimension). Idempotent."""
        ...

    def dense_coverage(self, *, repository: str, model_id: str) -> tuple[int, int]:
        """``(chunks with a model_id embedding, all chunks)`` of the repository."""
        ...
