"""Checks and translations every :class:`service.ports.chunk_index.ChunkIndex` adapter shares."""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Mapping, Sequence

import numpy as np
import numpy.typing as npt

from service.domain.knowledge import ChunkFilters, IndexedChunk, IndexedFile, Repository
from service.errors import Conflict, InvalidInput
from service.ports.chunk_index import Vector

MAX_K = 1000


def check_k(k: int) -> None:
    """Raises :class:`InvalidInput` unless ``1 <= k <= MAX_K``."""
    if not 1 <= k <= MAX_K:
        raise InvalidInput(f"k must be between 1 and {MAX_K}, not {k}", hint="ask for fewer results")


def selective_terms(terms: Sequence[str], document_frequency: Mapping[str, int], chunk_count: int) -> list[str]:
    """The terms worth matching: BM25 (as FTS5 computes it) floors the IDF of a term found in half the chunks or
    more at almost nothing, yet matching it touches most of the index. Such terms are left out unless every term
    is that common; terms with no known frequency are kept.
    """
    rare = [t for t in terms if 2 * document_frequency.get(t, 0) < chunk_count]
    return rare or list(terms)


def check_changes(repository: Repository, files: Sequence[IndexedFile], chunks: Sequence[IndexedChunk]) -> None:
    """Raises before anything is written when a batch cannot be applied as a whole.

    Every chunk must belong to ``repository`` and to one of ``files``; paths and chunk ids must be unique in the
    batch (:class:`Conflict` for a repeated chunk id, :class:`InvalidInput` for the rest). A clash with a chunk id
    already stored for another file is left to the backend, inside the transaction.
    """
    paths = {f.path for f in files}
    if len(paths) != len(files):
        raise InvalidInput("the same path is given twice in one change", hint="give each file once")
    seen: set[str] = set()
    for chunk in chunks:
        if chunk.repository != repository.name:
            raise InvalidInput(f"chunk {chunk.chunk_id!r} belongs to {chunk.repository!r}, not {repository.name!r}")
        if chunk.path not in paths:
            raise InvalidInput(f"chunk {chunk.chunk_id!r} is for {chunk.path!r}, which is not among the files given")
        if chunk.chunk_id in seen:
            raise Conflict(f"chunk id {chunk.chunk_id!r} is given twice", hint="chunk ids must be unique")
        seen.add(chunk.chunk_id)


def check_vectors(vectors: Mapping[str, Vector], *, dimensions: int | None) -> dict[str, Vector]:
    """The vectors as 1-D float32 rows of one dimension (``dimensions`` when the model already has vectors)."""
    rows: dict[str, Vector] = {}
    for key, vector in vectors.items():
        row = np.asarray(vector, dtype=np.float32).reshape(-1)
        if dimensions is None:
            dimensions = int(row.shape[0])
        if row.shape[0] != dimensions or dimensions == 0:
            raise InvalidInput(
                f"embedding for {key[:12]} has {row.shape[0]} dimensions, the model has {dimensions}",
                hint="a model id must always give vectors of one length; change the id when the model changes",
            )
        rows[key] = row
    return rows


def unit_rows(matrix: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
    """``matrix`` with each row scaled to unit length (zero rows stay zero), so a dot product is the cosine."""
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    norms[norms == 0] = 1.0
    result: npt.NDArray[np.float32] = (matrix / norms).astype(np.float32, copy=False)
    return result


def unit_vector(vector: Vector) -> Vector:
    """``vector`` as a 1-D float32 of unit length (a zero vector stays zero)."""
    row = np.asarray(vector, dtype=np.float32).reshape(-1)
    norm = float(np.linalg.norm(row))
    return row / norm if norm > 0 else row


def matches(chunk: IndexedChunk, filters: ChunkFilters | None) -> bool:
    """Whether ``chunk`` passes ``filters`` (``fnmatch`` rules, case-sensitive, for the path glob)."""
    if filters is None:
        return True
    if filters.language is not None and chunk.language != filters.language:
        return False
    if filters.kind is not None and chunk.kind != filters.kind:
        return False
    return filters.path_glob is None or fnmatch.fnmatchcase(chunk.path, filters.path_glob)


def glob_to_posix_regex(pattern: str) -> str:
    """An anchored POSIX regular expression (PostgreSQL ``~``) that matches what ``fnmatch`` matches.

    ``*`` matches any run of characters, ``/`` included; ``?`` one character; ``[seq]`` and ``[!seq]`` a
    character in or not in ``seq``. Everything else is literal.
    """
    out = ["^"]
    i, n = 0, len(pattern)
    while i < n:
        c = pattern[i]
        i += 1
        if c == "*":
            out.append(".*")
        elif c == "?":
            out.append(".")
        elif c == "[":
            j = i
            if j < n and pattern[j] == "!":
                j += 1
            if j < n and pattern[j] == "]":
                j += 1
            while j < n and pattern[j] != "]":
                j += 1
            if j >= n:  # no closing bracket: fnmatch takes the "[" literally
                out.append(r"\[")
                continue
            body = pattern[i:j]
            i = j + 1
            negate = body.startswith("!")
            if negate:
                body = body[1:]
            body = body.replace("\\", "\\\\").replace("^", r"\^")
            out.append(f"[{'^' if negate else ''}{body}]")
        else:
            out.append(c if c.isalnum() else re.escape(c))
    out.append("$")
    return "".join(out)
