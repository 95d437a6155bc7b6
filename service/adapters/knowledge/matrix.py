"""Exact dense search over flat float32 matrices held in memory.

:class:`ModelVectors` holds every vector of one model, by content hash, and only ever grows (vectors are
appended as they are stored; content embedded once stays embedded). :class:`RowSet` is one repository's view of
it: which row each chunk uses, with the metadata filters need. A repository change rebuilds only the row set
(no vectors are read again), so the first search after an incremental sync stays cheap.
"""

from __future__ import annotations

import fnmatch
import re
import threading
from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from service.domain.knowledge import ChunkFilters
from service.ports.chunk_index import Vector

# Path-glob masks are kept per row set; a handful of distinct globs is the usual case.
_MAX_GLOB_MASKS = 32


class ModelVectors:
    """The unit vectors of one model, appended in the order they were stored (``seq``). Thread-safe."""

    def __init__(self, dimensions: int) -> None:
        self.dimensions = dimensions
        self.last_seq = 0
        self._rows = np.zeros((0, dimensions), dtype=np.float32)
        self._count = 0
        self._index: dict[str, int] = {}
        self._lock = threading.Lock()

    def append(self, records: Iterable[tuple[int, str, bytes]], *, up_to: int) -> None:
        """Add ``(seq, content hash, float32 bytes)`` records, all those with ``last_seq < seq <= up_to``."""
        with self._lock:
            fresh = [(seq, h, blob) for seq, h, blob in records if h not in self._index]
            self.last_seq = max(self.last_seq, up_to)
            if not fresh:
                return
            needed = self._count + len(fresh)
            if needed > self._rows.shape[0]:  # grow by doubling; readers keep the array they took
                grown = np.zeros((max(needed, 2 * self._rows.shape[0]), self.dimensions), dtype=np.float32)
                grown[: self._count] = self._rows[: self._count]
                self._rows = grown
            block = np.frombuffer(b"".join(blob for _, _, blob in fresh), dtype=np.float32)
            self._rows[self._count : needed] = block.reshape(len(fresh), self.dimensions)
            for offset, (_, content_hash, _) in enumerate(fresh):
                self._index[content_hash] = self._count + offset
            self._count = needed

    def rows_for(self, content_hashes: Iterable[str]) -> npt.NDArray[np.int64]:
        """The row of each hash, or -1 where the hash has no vector."""
        with self._lock:
            index = self._index
            return np.fromiter((index.get(h, -1) for h in content_hashes), dtype=np.int64)

    def snapshot(self) -> npt.NDArray[np.float32]:
        """The filled rows; later appends never change them."""
        with self._lock:
            return self._rows[: self._count]


@dataclass
class RowSet:
    """One repository's embedded chunks for one model: chunk key, vector row, language, kind and path of each.

    ``version`` says which state of the index this was built from; the owner rebuilds when it changes.
    """

    version: tuple[int, ...]
    keys: npt.NDArray[np.int64]
    rows: npt.NDArray[np.int64]
    languages: npt.NDArray[np.str_]
    kinds: npt.NDArray[np.str_]
    paths: list[str]
    _glob_masks: dict[str, npt.NDArray[np.bool_]] = field(default_factory=dict)

    @classmethod
    def build(
        cls, version: tuple[int, ...], vectors: ModelVectors, records: list[tuple[int, str, str, str, str]]
    ) -> RowSet:
        """From ``(key, content hash, language, kind, path)`` of every chunk; chunks with no vector are left out."""
        rows = vectors.rows_for(r[1] for r in records)
        keep = np.flatnonzero(rows >= 0)
        kept = [records[i] for i in keep]
        return cls(
            version=version,
            keys=np.fromiter((r[0] for r in kept), dtype=np.int64, count=len(kept)),
            rows=rows[keep],
            languages=np.array([r[2] for r in kept], dtype=np.str_),
            kinds=np.array([r[3] for r in kept], dtype=np.str_),
            paths=[r[4] for r in kept],
        )

    def _mask(self, filters: ChunkFilters | None) -> npt.NDArray[np.bool_] | None:
        if filters is None or (filters.language is None and filters.kind is None and filters.path_glob is None):
            return None
        mask = np.ones(len(self.paths), dtype=np.bool_)
        if filters.language is not None:
            mask &= self.languages == filters.language
        if filters.kind is not None:
            mask &= self.kinds == filters.kind
        if filters.path_glob is not None:
            glob_mask = self._glob_masks.get(filters.path_glob)
            if glob_mask is None:
                match = re.compile(fnmatch.translate(filters.path_glob)).match  # what fnmatchcase uses
                glob_mask = np.fromiter((match(p) is not None for p in self.paths), np.bool_, len(self.paths))
                if len(self._glob_masks) >= _MAX_GLOB_MASKS:
                    self._glob_masks.clear()
                self._glob_masks[filters.path_glob] = glob_mask
            mask &= glob_mask
        return mask

    def top_k(
        self, matrix: npt.NDArray[np.float32], query: Vector, k: int, filters: ChunkFilters | None
    ) -> list[tuple[int, float]]:
        """The ``k`` best ``(key, cosine)`` among rows passing ``filters``, best first (exact, no index)."""
        if len(self.paths) == 0 or query.shape[0] != matrix.shape[1]:
            return []
        mask = self._mask(filters)
        candidates = np.flatnonzero(mask) if mask is not None else np.arange(len(self.paths))
        if len(candidates) == 0:
            return []
        rows = self.rows[candidates]
        # One pass over the whole model matrix is cheaper than gathering most of it; gather when few rows are ours.
        scores = (matrix @ query)[rows] if 2 * len(rows) >= matrix.shape[0] else matrix[rows] @ query
        best = np.argpartition(-scores, k - 1)[:k] if k < len(candidates) else np.arange(len(candidates))
        best = best[np.argsort(-scores[best], kind="stable")]
        return [(int(self.keys[candidates[i]]), float(scores[i])) for i in best]
