"""BM25 top-k over one repository's FTS5 table, scoring only the chunks that can make the top k.

FTS5 computes ``bm25()`` for every row that matches, so a query with one common word costs a pass over most of
the index. BM25 is a sum over query terms, and a term contributes less than ``idf * (k1 + 1)`` to any chunk; so
(the MaxScore argument, Turtle and Flood 1995) once the k-th best score among chunks holding one of the rarest
terms beats the most that the remaining terms could add up to, no chunk holding only those remaining terms can
enter the top k. The rare chunks are scored over *all* terms with one query,
``(rare...) AND (all...)``: FTS5 scores each phrase of the expression, so the rare terms count twice; a second
query over the rare terms alone gives what to subtract. The result is exactly the plain query's.
"""

from __future__ import annotations

import math
import sqlite3
from collections.abc import Mapping, Sequence
from typing import Any

K1 = 1.2  # FTS5's bm25() constants (ext/fts5/fts5_aux.c)
MIN_IDF = 1e-6
# Splits tried before giving up and scoring every match; each try is one query over the rarest terms' chunks.
MAX_TRIES = 3


def _any_of(terms: Sequence[str]) -> str:
    """An FTS5 expression matching any of ``terms``, each a quoted string (``"`` escaped by doubling)."""
    return " OR ".join('"' + term.replace('"', '""') + '"' for term in terms)


def top_k(
    connection: sqlite3.Connection,
    fts: str,
    terms: Sequence[str],
    frequency: Mapping[str, int],
    chunk_count: int,
    k: int,
    where: str,
    params: Sequence[Any],
) -> list[tuple[int, float]]:
    """The ``k`` best ``(rowid, bm25)`` of ``fts`` for ``terms``, best first. ``where`` (SQL beginning with
    `` AND``, over the chunks table as ``c``) and ``params`` filter. Raises :class:`sqlite3.OperationalError` for
    an FTS5 query FTS5 cannot parse.
    """
    known = all(frequency.get(t) for t in terms)
    if known and len(terms) > 1:
        ordered = sorted(terms, key=lambda t: (frequency[t], t))
        idf = [max(math.log((chunk_count - frequency[t] + 0.5) / (frequency[t] + 0.5)), MIN_IDF) for t in ordered]
        total = sum(frequency[t] for t in ordered)
        for split in range(1, min(len(ordered), MAX_TRIES + 1)):
            if 2 * sum(frequency[t] for t in ordered[:split]) > total:
                break  # scoring the rare chunks would cost about as much as scoring them all
            best = _rare_first(connection, fts, ordered, split, k, where, params)
            if len(best) == k and best[-1][1] > (K1 + 1) * sum(idf[split:]):
                return best
    filtered = f"{fts} JOIN chunks c ON c.id = {fts}.rowid" if where else fts
    rows = connection.execute(
        f"SELECT {fts}.rowid, -bm25({fts}) FROM {filtered} WHERE {fts} MATCH ?{where}"  # noqa: S608
        f" ORDER BY bm25({fts}) LIMIT ?",
        [_any_of(terms), *params, k],
    ).fetchall()
    return [(int(key), float(score)) for key, score in rows]


def _rare_first(
    connection: sqlite3.Connection,
    fts: str,
    ordered: Sequence[str],
    split: int,
    k: int,
    where: str,
    params: Sequence[Any],
) -> list[tuple[int, float]]:
    """The ``k`` best chunks holding one of ``ordered[:split]``, scored over every term of ``ordered``."""
    rare = _any_of(ordered[:split])
    # MATERIALIZED keeps each bm25() in a query of its own table (FTS5 refuses it in a flattened join).
    rows = connection.execute(
        f"WITH scored AS MATERIALIZED (SELECT rowid AS id, bm25({fts}) AS s FROM {fts} WHERE {fts} MATCH ?),"  # noqa: S608
        f" doubled AS MATERIALIZED (SELECT rowid AS id, bm25({fts}) AS s FROM {fts} WHERE {fts} MATCH ?)"
        f" SELECT doubled.id, scored.s - doubled.s AS score FROM doubled JOIN scored ON scored.id = doubled.id"
        f" JOIN chunks c ON c.id = doubled.id WHERE 1{where} ORDER BY score DESC, doubled.id LIMIT ?",
        [rare, f"({rare}) AND ({_any_of(ordered)})", *params, k],
    ).fetchall()
    return [(int(key), float(score)) for key, score in rows]
