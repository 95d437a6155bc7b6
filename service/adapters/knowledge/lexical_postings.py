"""BM25 over one repository's postings held in memory: the embedded index's fast lexical path.

FTS5 stays the store of record; this is a read cache built from it on first search and rebuilt when the
repository's generation moves. Per term it holds the chunks that contain it and, per posting, that chunk's BM25
weight for the term, precomputed exactly as FTS5's ``bm25()`` does (ext/fts5/fts5_aux.c: IDF
``ln((N - n + 0.5) / (n + 0.5))`` floored at 1e-6, ``k1 = 1.2``, ``b = 0.75``, document length from FTS5's own
``docsize`` table). A query is then a weighted ``bincount`` over the query terms' postings and a partial sort,
without a pass over every matching row in SQL.

Term frequencies come from the stored search text split on spaces, which is what FTS5's tokenizer sees for our
terms (lower-case letters and digits joined by spaces). :meth:`Postings.load` checks that: when any chunk's
token count differs from FTS5's, it returns ``None`` and the caller keeps using FTS5.
"""

from __future__ import annotations

import fnmatch
import re
import sqlite3
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from itertools import chain

import numpy as np
import numpy.typing as npt

from service.domain.knowledge import ChunkFilters

K1 = 1.2  # FTS5's bm25() constants (ext/fts5/fts5_aux.c)
B = 0.75
MIN_IDF = 1e-6
# Filter masks kept per postings; a handful of distinct filters is the usual case.
_MAX_MASKS = 64


def _varint(blob: bytes) -> int:
    """The first SQLite varint of ``blob`` (FTS5's docsize record: one varint per column, big-endian 7 bits)."""
    value = 0
    for byte in blob[:8]:
        value = (value << 7) | (byte & 0x7F)
        if byte < 0x80:
            return value
    return (value << 8) | blob[8]


@dataclass
class Postings:
    """One repository's BM25 postings: ``keys[i]`` is the chunk id of row ``i``; ``spans[term]`` is the slice of
    ``rows``/``weights`` holding the term's postings. ``version`` is the state of the index it was built from.
    """

    version: tuple[int, ...]
    keys: npt.NDArray[np.int64]
    languages: npt.NDArray[np.str_]
    kinds: npt.NDArray[np.str_]
    paths: list[str]
    spans: dict[str, tuple[int, int]]
    rows: npt.NDArray[np.int32]
    weights: npt.NDArray[np.float32]
    _masks: dict[tuple[str | None, str | None, str | None], npt.NDArray[np.bool_]] = field(default_factory=dict)

    @classmethod
    def load(cls, connection: sqlite3.Connection, fts: str, repo_id: int, version: tuple[int, ...]) -> Postings | None:
        """Build from the FTS5 table ``fts`` and the repository's chunk rows; ``None`` when the stored text does
        not tokenize as FTS5 counted it (the caller then scores with FTS5).
        """
        texts = connection.execute(f"SELECT rowid, terms FROM {fts} ORDER BY rowid").fetchall()  # noqa: S608
        sizes = dict(connection.execute(f"SELECT id, sz FROM {fts}_docsize"))  # noqa: S608
        meta = connection.execute(
            "SELECT id, language, kind, path FROM chunks WHERE repo_id = ? ORDER BY id", (repo_id,)
        ).fetchall()
        if len(meta) != len(texts) or any(m[0] != t[0] for m, t in zip(meta, texts, strict=True)):
            return None  # chunks and FTS rows out of step: not ours to second-guess
        count = len(texts)
        lengths = np.zeros(count, dtype=np.float64)
        terms_of: list[list[str]] = []
        tfs_of: list[list[int]] = []
        for i, (rowid, text) in enumerate(texts):
            counts = Counter((text or "").split())
            size = _varint(sizes.get(rowid, b"\x00"))
            if size != counts.total():
                return None
            lengths[i] = size
            terms_of.append(list(counts))
            tfs_of.append(list(counts.values()))
        vocabulary: dict[str, int] = {}
        term_ids = np.fromiter(
            (vocabulary.setdefault(t, len(vocabulary)) for t in chain.from_iterable(terms_of)), dtype=np.int32
        )
        per_row = np.fromiter((len(t) for t in terms_of), dtype=np.int64, count=count)
        rows = np.repeat(np.arange(count, dtype=np.int32), per_row)
        tf = np.fromiter(chain.from_iterable(tfs_of), dtype=np.float64, count=len(term_ids))
        order = np.argsort(term_ids, kind="stable")  # by term, rows ascending within a term
        term_ids, rows, tf = term_ids[order], rows[order], tf[order]
        df = np.bincount(term_ids, minlength=len(vocabulary))
        idf = np.maximum(np.log((count - df + 0.5) / (df + 0.5)), MIN_IDF)
        average = float(lengths.sum()) / count if count else 1.0
        norm = K1 * (1 - B + B * lengths[rows] / (average or 1.0))
        weights = (idf[term_ids] * tf * (K1 + 1) / (tf + norm)).astype(np.float32)
        ends = np.cumsum(df)
        spans = {term: (int(ends[i] - df[i]), int(ends[i])) for term, i in vocabulary.items()}
        return cls(
            version=version,
            keys=np.fromiter((m[0] for m in meta), dtype=np.int64, count=count),
            languages=np.array([m[1] for m in meta], dtype=np.str_),
            kinds=np.array([m[2] for m in meta], dtype=np.str_),
            paths=[m[3] for m in meta],
            spans=spans,
            rows=rows,
            weights=weights,
        )

    @property
    def chunk_count(self) -> int:
        """The number of chunks (FTS5 rows) of the repository."""
        return len(self.keys)

    def frequency(self, term: str) -> int:
        """How many chunks hold ``term`` (its document frequency)."""
        start, end = self.spans.get(term, (0, 0))
        return end - start

    def nbytes(self) -> int:
        """Bytes held by the arrays (the term dictionary and paths not counted)."""
        arrays = (self.keys, self.languages, self.kinds, self.rows, self.weights)
        return sum(a.nbytes for a in arrays)

    def _mask(self, filters: ChunkFilters | None) -> npt.NDArray[np.bool_] | None:
        if filters is None or (filters.language is None and filters.kind is None and filters.path_glob is None):
            return None
        key = (filters.language, filters.kind, filters.path_glob)
        mask = self._masks.get(key)
        if mask is None:
            mask = np.ones(self.chunk_count, dtype=np.bool_)
            if filters.language is not None:
                mask &= self.languages == filters.language
            if filters.kind is not None:
                mask &= self.kinds == filters.kind
            if filters.path_glob is not None:
                match = re.compile(fnmatch.translate(filters.path_glob)).match  # what fnmatchcase uses
                mask &= np.fromiter((match(p) is not None for p in self.paths), np.bool_, self.chunk_count)
            if len(self._masks) >= _MAX_MASKS:
                self._masks.clear()
            self._masks[key] = mask
        return mask

    def top_k(self, terms: Sequence[str], k: int, filters: ChunkFilters | None) -> list[tuple[int, float]]:
        """The ``k`` best ``(chunk id, bm25)`` for ``terms`` (distinct) among chunks passing ``filters``, best
        first; ties by chunk id. Only chunks holding a term score.
        """
        spans = [self.spans[t] for t in terms if t in self.spans]
        if not spans or self.chunk_count == 0:
            return []
        rows = np.concatenate([self.rows[s:e] for s, e in spans])
        weights = np.concatenate([self.weights[s:e] for s, e in spans])
        scores = np.bincount(rows, weights=weights, minlength=self.chunk_count)  # float64 sums
        mask = self._mask(filters)
        if mask is not None:
            scores[~mask] = 0.0
        candidates = np.flatnonzero(scores > 0)
        if len(candidates) > k:
            candidates = candidates[np.argpartition(-scores[candidates], k - 1)[:k]]
        best = candidates[np.lexsort((candidates, -scores[candidates]))]
        return [(int(self.keys[i]), float(scores[i])) for i in best]
