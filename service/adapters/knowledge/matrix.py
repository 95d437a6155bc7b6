"""Exact dense search over a flat float32 matrix held in memory, with the row metadata filters need."""

from __future__ import annotations

import fnmatch
import re
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from service.domain.knowledge import ChunkFilters
from service.ports.chunk_index import Vector

# Filter masks computed for path globs are kept per matrix; a handful of distinct globs is the usual case.
_MAX_GLOB_MASKS = 32


@dataclass
class FlatMatrix:
    """Unit-length embedding rows of one repository and model, and each row's chunk key, language, kind and path.

    ``version`` says which state of the index the rows were loaded from; the owner reloads when it changes.
    """

    version: tuple[int, ...]
    keys: npt.NDArray[np.int64]
    rows: npt.NDArray[np.float32]
    languages: npt.NDArray[np.str_]
    kinds: npt.NDArray[np.str_]
    paths: list[str]
    _glob_masks: dict[str, npt.NDArray[np.bool_]] = field(default_factory=dict)

    @classmethod
    def build(
        cls, version: tuple[int, ...], records: list[tuple[int, str, str, str, bytes]], dimensions: int
    ) -> FlatMatrix:
        """From ``(key, language, kind, path, float32 bytes)`` records, all vectors of ``dimensions``."""
        rows = np.frombuffer(b"".join(r[4] for r in records), dtype=np.float32).reshape(len(records), dimensions)
        return cls(
            version=version,
            keys=np.fromiter((r[0] for r in records), dtype=np.int64, count=len(records)),
            rows=rows,
            languages=np.array([r[1] for r in records], dtype=np.str_),
            kinds=np.array([r[2] for r in records], dtype=np.str_),
            paths=[r[3] for r in records],
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
                match = re.compile(fnmatch.translate(filters.path_glob)).match
                glob_mask = np.fromiter((match(p) is not None for p in self.paths), np.bool_, len(self.paths))
                if len(self._glob_masks) >= _MAX_GLOB_MASKS:
                    self._glob_masks.clear()
                self._glob_masks[filters.path_glob] = glob_mask
            mask &= glob_mask
        return mask

    def top_k(self, query: Vector, k: int, filters: ChunkFilters | None) -> list[tuple[int, float]]:
        """The ``k`` best ``(key, cosine)`` among rows passing ``filters``, best first (exact, no index)."""
        if len(self.paths) == 0 or query.shape[0] != self.rows.shape[1]:
            return []
        scores = self.rows @ query
        mask = self._mask(filters)
        if mask is not None:
            candidates = np.flatnonzero(mask)
            scores = scores[candidates]
        else:
            candidates = np.arange(len(self.paths))
        if len(candidates) == 0:
            return []
        best = np.argpartition(-scores, k - 1)[:k] if k < len(candidates) else np.arange(len(candidates))
        best = best[np.argsort(-scores[best], kind="stable")]
        return [(int(self.keys[candidates[i]]), float(scores[i])) for i in best]
