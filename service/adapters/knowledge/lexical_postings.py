"""BM25 over one repository's postings held in memory: the embedded index's fast lexical path.

FTS5 stays the store of record; this is a read cache built from it on first search and rebuilt when the
repository's generation moves. Per term it holds the chunks that contain it and, per posting, that chunk's BM25
weight for the term, precomputed exactly as FTS5's ``bm25()`` does (ext/fts5/fts5_aux.c: IDF
``ln((N - n + 0.5) / (n + 0.5))`` floored at 1e-6, ``k1 = 1.2``, ``b = 0.75``, document length from FTS5's own
``docsize`` table). A query is then a weighted ``bincount`` over the query terms' postings and a partial sort,
without a pass over every matching row in SQL.

:class:`PostingsCache` keeps them per repository. A small repository is built in the searching thread; a large
one (seconds of work) on a background thread while searches keep answering from FTS5, so no search waits for it.

Term frequencies come from the stored search text split on spaces, which is what FTS5's tokenizer sees for our
terms (lower-case letters and digits joined by spaces). :meth:`Postings.load` checks that: when any chunk's
token count differs from FTS5's, it returns ``None`` and the caller keeps using FTS5.
"""

from __future__ import annotations

import fnmatch
import logging
import re
import sqlite3
import threading
from array import array
from collections import Counter
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from service.domain.knowledge import ChunkFilters

K1 = 1.2  # FTS5's bm25() constants (ext/fts5/fts5_aux.c)
B = 0.75
MIN_IDF = 1e-6
# Repositories up to this many chunks are built in the searching thread (well under a second).
INLINE_CHUNKS = 20_000
log = logging.getLogger(__name__)
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


class _Vocabulary(dict[str, int]):
    """term → its number, numbered in order of first look-up (a hit costs no Python call)."""

    def __missing__(self, term: str) -> int:
        number = self[term] = len(self)
        return number


@dataclass
class Postings:
    """One repository's BM25 postings: ``keys[i]`` is the chunk id of row ``i``; the postings of the term numbered
    ``terms[term]`` are ``rows``/``weights`` from ``offsets[number]`` to ``offsets[number + 1]``. ``version`` is
    the state of the index it was built from.
    """

    version: tuple[int, ...]
    keys: npt.NDArray[np.int64]
    languages: npt.NDArray[np.str_]
    kinds: npt.NDArray[np.str_]
    paths: list[str]
    terms: dict[str, int]
    offsets: npt.NDArray[np.int64]
    rows: npt.NDArray[np.int32]
    weights: npt.NDArray[np.float32]
    _masks: dict[tuple[str | None, str | None, str | None], npt.NDArray[np.bool_]] = field(default_factory=dict)

    @classmethod
    def load(cls, connection: sqlite3.Connection, fts: str, repo_id: int, version: tuple[int, ...]) -> Postings | None:
        """Build from the FTS5 table ``fts`` and the repository's chunk rows; ``None`` when the stored text does
        not tokenize as FTS5 counted it (the caller then scores with FTS5).
        """
        sizes = dict(connection.execute(f"SELECT id, sz FROM {fts}_docsize"))  # noqa: S608
        meta = connection.execute(
            "SELECT id, language, kind, path FROM chunks WHERE repo_id = ? ORDER BY id", (repo_id,)
        ).fetchall()
        count = len(meta)
        vocabulary = _Vocabulary()
        term_of, tf_of = array("i"), array("i")  # one entry per posting, chunk by chunk: compact while loading
        per_row, lengths = array("q"), array("d")
        look_up = vocabulary.__getitem__
        seen = 0
        for rowid, text in connection.execute(f"SELECT rowid, terms FROM {fts} ORDER BY rowid"):  # noqa: S608
            counts = Counter((text or "").split())
            size = _varint(sizes.get(rowid, b"\x00"))
            if seen >= count or meta[seen][0] != rowid or size != counts.total():
                return None  # chunks and FTS rows out of step, or tokens FTS5 counted otherwise
            seen += 1
            term_of.extend(map(look_up, counts))
            tf_of.extend(counts.values())
            per_row.append(len(counts))
            lengths.append(size)
        if seen != count:
            return None
        term_ids = np.frombuffer(term_of, dtype=np.int32)
        order = np.argsort(term_ids, kind="stable")  # by term, rows ascending within a term
        rows = np.repeat(np.arange(count, dtype=np.int32), np.frombuffer(per_row, dtype=np.int64))[order]
        tf = np.frombuffer(tf_of, dtype=np.int32)[order].astype(np.float64)
        term_ids = term_ids[order]
        del order
        df = np.bincount(term_ids, minlength=len(vocabulary))
        idf = np.maximum(np.log((count - df + 0.5) / (df + 0.5)), MIN_IDF)
        length = np.frombuffer(lengths, dtype=np.float64)
        average = float(length.sum()) / count if count else 1.0
        norm = K1 * (1 - B + B * length[rows] / (average or 1.0))
        weights = (idf[term_ids] * tf * (K1 + 1) / (tf + norm)).astype(np.float32)
        offsets = np.concatenate(([0], np.cumsum(df))).astype(np.int64)
        return cls(
            version=version,
            keys=np.fromiter((m[0] for m in meta), dtype=np.int64, count=count),
            languages=np.array([m[1] for m in meta], dtype=np.str_),
            kinds=np.array([m[2] for m in meta], dtype=np.str_),
            paths=[m[3] for m in meta],
            terms=vocabulary,
            offsets=offsets,
            rows=rows,
            weights=weights,
        )

    @property
    def chunk_count(self) -> int:
        """The number of chunks (FTS5 rows) of the repository."""
        return len(self.keys)

    def frequency(self, term: str) -> int:
        """How many chunks hold ``term`` (its document frequency)."""
        number = self.terms.get(term)
        return 0 if number is None else int(self.offsets[number + 1] - self.offsets[number])

    def nbytes(self) -> int:
        """Bytes held by the arrays (the term dictionary and paths not counted)."""
        arrays = (self.keys, self.languages, self.kinds, self.rows, self.weights, self.offsets)
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
        numbers = [self.terms[t] for t in terms if t in self.terms]
        if not numbers or self.chunk_count == 0:
            return []
        spans = [(int(self.offsets[n]), int(self.offsets[n + 1])) for n in numbers]
        rows = np.concatenate([self.rows[start:end] for start, end in spans])
        weights = np.concatenate([self.weights[start:end] for start, end in spans])
        scores = np.bincount(rows, weights=weights, minlength=self.chunk_count)  # float64 sums
        mask = self._mask(filters)
        if mask is not None:
            scores[~mask] = 0.0
        candidates = np.flatnonzero(scores > 0)
        if len(candidates) > k:
            candidates = candidates[np.argpartition(-scores[candidates], k - 1)[:k]]
        best = candidates[np.lexsort((candidates, -scores[candidates]))]
        return [(int(self.keys[i]), float(scores[i])) for i in best]


class PostingsCache:
    """:class:`Postings` per repository, for the index state ``(repo id, generation)`` they were built from.

    ``read`` opens a read transaction on a connection of the calling thread (used by the background builder).
    Thread-safe; :meth:`close` drops everything and abandons a build under way.
    """

    def __init__(
        self, read: Callable[[], AbstractContextManager[sqlite3.Connection]], *, inline_chunks: int = INLINE_CHUNKS
    ) -> None:
        self._read = read
        self._inline = inline_chunks
        self._cache: dict[str, tuple[tuple[int, int], Postings | None]] = {}
        self._building: set[str] = set()
        self._lock = threading.Lock()
        self._builder: ThreadPoolExecutor | None = None

    def get(
        self, connection: sqlite3.Connection, repository: str, fts: str, repo_id: int, generation: int, chunks: int
    ) -> Postings | None:
        """The repository's postings for this state, or ``None``: not built yet (a build is started) or its text
        cannot stand in for FTS5's tokens. ``connection`` is the caller's, inside its read transaction."""
        version = (repo_id, generation)
        cached = self._cache.get(repository)
        if cached is not None and cached[0] == version:
            return cached[1]
        if chunks <= self._inline:
            built = Postings.load(connection, fts, repo_id, version)
            with self._lock:
                self._cache[repository] = (version, built)
            return built
        with self._lock:
            if repository not in self._building:
                self._building.add(repository)
                if self._builder is None:
                    self._builder = ThreadPoolExecutor(max_workers=1, thread_name_prefix="kb-postings")
                self._builder.submit(self._build, repository, fts, repo_id)
        return None

    def _build(self, repository: str, fts: str, repo_id: int) -> None:
        try:
            with self._read() as connection:
                head = connection.execute("SELECT generation FROM repositories WHERE id = ?", (repo_id,)).fetchone()
                if head is None:
                    return
                version = (repo_id, int(head[0]))
                built = Postings.load(connection, fts, repo_id, version)
            with self._lock:
                self._cache[repository] = (version, built)
        except Exception as exc:
            log.warning("lexical postings for %s not built: %s", repository, exc)
        finally:
            with self._lock:
                self._building.discard(repository)

    def close(self) -> None:
        """Drop every repository's postings; a build under way is abandoned. Safe to call twice."""
        with self._lock:
            builder, self._builder = self._builder, None
            self._cache.clear()
        if builder is not None:
            builder.shutdown(wait=False, cancel_futures=True)
