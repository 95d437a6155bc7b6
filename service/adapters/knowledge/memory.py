"""The in-memory ChunkIndex: BM25 in Python and exact cosine search with numpy. For tests and one-shot commands."""

from __future__ import annotations

import math
import threading
from collections import Counter
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from service.adapters.knowledge.common import (
    check_changes,
    check_k,
    check_vectors,
    matches,
    selective_terms,
    unit_vector,
)
from service.domain.knowledge import ChunkFilters, IndexedChunk, IndexedFile, Repository, ScoredChunk, SkippedFile
from service.domain.lexical import search_terms, unique_terms
from service.errors import Conflict, NotFound
from service.ports.chunk_index import Vector

# Okapi BM25 exactly as SQLite FTS5's bm25() computes it (ext/fts5/fts5_aux.c), so that scores agree between
# backends: IDF = ln((N - n + 0.5) / (n + 0.5)), floored at 1e-6 for terms in more than half the chunks.
K1 = 1.2
B = 0.75
MIN_IDF = 1e-6


@dataclass
class _Repo:
    record: Repository
    files: dict[str, IndexedFile] = field(default_factory=dict)
    chunk_ids: dict[str, list[str]] = field(default_factory=dict)  # path -> chunk ids
    skipped: dict[str, SkippedFile] = field(default_factory=dict)


@dataclass(frozen=True)
class _Entry:
    chunk: IndexedChunk
    term_counts: Counter[str]
    length: int


class InMemoryChunkIndex:
    """:class:`service.ports.chunk_index.ChunkIndex` in dicts; thread-safe (one lock); lost on exit.

    BM25 statistics (chunk count, average length in terms, document frequency) are those of the repository
    searched, whatever the filters.
    """

    def __init__(self) -> None:
        self._repos: dict[str, _Repo] = {}
        self._chunks: dict[str, _Entry] = {}
        self._embeddings: dict[str, dict[str, Vector]] = {}  # model id -> embedding key -> unit vector
        self._lock = threading.RLock()

    def save_repository(self, *, repository: Repository) -> None:
        with self._lock:
            repo = self._repos.get(repository.name)
            if repo is None:
                self._repos[repository.name] = _Repo(record=repository)
            else:
                repo.record = repository

    def get_repository(self, *, name: str) -> Repository:
        with self._lock:
            repo = self._repos.get(name)
        if repo is None:
            raise NotFound(f"no indexed repository {name!r}", hint="index it first with 'ticketsmith index PATH'")
        return repo.record

    def list_repositories(self) -> list[Repository]:
        with self._lock:
            return [self._repos[name].record for name in sorted(self._repos)]

    def delete_repository(self, *, name: str) -> None:
        with self._lock:
            repo = self._repos.pop(name, None)
            if repo is not None:
                for ids in repo.chunk_ids.values():
                    for chunk_id in ids:
                        self._chunks.pop(chunk_id, None)

    def file_blobs(self, *, repository: str) -> dict[str, str]:
        with self._lock:
            repo = self._repos.get(repository)
            return {} if repo is None else {path: f.blob_sha for path, f in repo.files.items()}

    def apply_changes(
        self,
        *,
        repository: Repository,
        removed_paths: Collection[str],
        files: Sequence[IndexedFile],
        chunks: Sequence[IndexedChunk],
        skipped: Sequence[SkippedFile],
    ) -> None:
        check_changes(repository, files, chunks)
        entries = [_entry(chunk) for chunk in chunks]
        with self._lock:
            repo = self._repos.get(repository.name) or _Repo(record=repository)
            replaced = set(removed_paths) | {f.path for f in files} | {s.path for s in skipped}
            leaving = {chunk_id for path in replaced for chunk_id in repo.chunk_ids.get(path, ())}
            for entry in entries:  # everything is checked before anything changes: all or nothing
                if entry.chunk.chunk_id in self._chunks and entry.chunk.chunk_id not in leaving:
                    raise Conflict(f"chunk id {entry.chunk.chunk_id!r} is already indexed for another file")
            for path in replaced:
                for chunk_id in repo.chunk_ids.pop(path, ()):
                    self._chunks.pop(chunk_id, None)
                repo.files.pop(path, None)
                repo.skipped.pop(path, None)
            for indexed_file in files:
                repo.files[indexed_file.path] = indexed_file
                repo.chunk_ids[indexed_file.path] = []
            for entry in entries:
                self._chunks[entry.chunk.chunk_id] = entry
                repo.chunk_ids[entry.chunk.path].append(entry.chunk.chunk_id)
            for skipped_file in skipped:
                repo.skipped[skipped_file.path] = skipped_file
            repo.record = repository
            self._repos[repository.name] = repo

    def skipped_files(self, *, repository: str) -> list[SkippedFile]:
        with self._lock:
            repo = self._repos.get(repository)
            return [] if repo is None else [repo.skipped[path] for path in sorted(repo.skipped)]

    def list_files(self, *, repository: str, prefix: str = "", limit: int = 1000) -> list[IndexedFile]:
        with self._lock:
            repo = self._repos.get(repository)
            if repo is None:
                return []
            paths = sorted(path for path in repo.files if path.startswith(prefix))
            return [repo.files[path] for path in paths[: max(limit, 0)]]

    def get_chunks(self, *, chunk_ids: Sequence[str]) -> list[IndexedChunk]:
        with self._lock:
            return [self._chunks[chunk_id].chunk for chunk_id in chunk_ids if chunk_id in self._chunks]

    def chunks_for_path(self, *, repository: str, path: str) -> list[IndexedChunk]:
        with self._lock:
            repo = self._repos.get(repository)
            ids = [] if repo is None else repo.chunk_ids.get(path, [])
            return sorted((self._chunks[i].chunk for i in ids), key=lambda c: (c.start_line, c.end_line, c.chunk_id))

    def find_symbols(self, *, repository: str, name: str, limit: int = 50) -> list[IndexedChunk]:
        if not name:
            return []
        found = [
            chunk
            for chunk in self._repository_chunks(repository)
            if chunk.symbol == name or chunk.symbol.endswith(f".{name}")
        ]
        found.sort(key=lambda c: (c.path, c.start_line, c.chunk_id))
        return found[: max(limit, 0)]

    def search_lexical(
        self, *, repository: str, terms: Sequence[str], k: int, filters: ChunkFilters | None = None
    ) -> list[ScoredChunk]:
        check_k(k)
        wanted = unique_terms(terms)
        if not wanted:
            return []
        with self._lock:
            entries = [self._chunks[i] for i in self._repository_chunk_ids(repository)]
        if not entries:
            return []
        count = len(entries)
        average = sum(e.length for e in entries) / count or 1.0
        frequency = {t: sum(1 for e in entries if t in e.term_counts) for t in wanted}
        wanted = selective_terms(wanted, frequency, count)
        idf = {t: max(math.log((count - n + 0.5) / (n + 0.5)), MIN_IDF) for t in wanted if (n := frequency[t])}
        scored: list[ScoredChunk] = []
        for entry in entries:
            if not matches(entry.chunk, filters):
                continue
            score = 0.0
            for term, weight in idf.items():
                tf = entry.term_counts.get(term, 0)
                if tf:
                    score += weight * tf * (K1 + 1) / (tf + K1 * (1 - B + B * entry.length / average))
            if score > 0:
                scored.append(ScoredChunk(chunk=entry.chunk, score=score))
        scored.sort(key=lambda s: (-s.score, s.chunk.chunk_id))
        return scored[:k]

    def search_dense(
        self, *, repository: str, model_id: str, vector: Vector, k: int, filters: ChunkFilters | None = None
    ) -> list[ScoredChunk]:
        check_k(k)
        with self._lock:
            vectors = self._embeddings.get(model_id, {})
            candidates = [
                (chunk, vectors[chunk.embedding_key])
                for chunk in self._repository_chunks(repository)
                if chunk.embedding_key in vectors and matches(chunk, filters)
            ]
        if not candidates:
            return []
        matrix = np.stack([row for _, row in candidates])
        query = unit_vector(vector)
        if query.shape[0] != matrix.shape[1]:
            return []
        scores = matrix @ query
        order = np.argsort(-scores, kind="stable")[:k]
        return [ScoredChunk(chunk=candidates[i][0], score=float(scores[i])) for i in order]

    def pending_embeddings(self, *, repository: str, model_id: str, limit: int) -> list[tuple[str, str]]:
        with self._lock:
            done = self._embeddings.get(model_id, {})
            pending: dict[str, str] = {}
            for chunk in self._repository_chunks(repository):
                if chunk.embedding_key not in done:
                    pending.setdefault(chunk.embedding_key, chunk.content)
        return [(h, pending[h]) for h in sorted(pending)[: max(limit, 0)]]

    def store_embeddings(self, *, model_id: str, vectors: Mapping[str, Vector]) -> None:
        with self._lock:
            stored = self._embeddings.setdefault(model_id, {})
            dimensions = next((row.shape[0] for row in stored.values()), None)
            rows = check_vectors(vectors, dimensions=dimensions)
            for key, row in rows.items():
                stored[key] = unit_vector(row)

    def dense_coverage(self, *, repository: str, model_id: str) -> tuple[int, int]:
        with self._lock:
            done = self._embeddings.get(model_id, {})
            chunks = self._repository_chunks(repository)
            return sum(1 for c in chunks if c.embedding_key in done), len(chunks)

    def _repository_chunk_ids(self, repository: str) -> list[str]:
        repo = self._repos.get(repository)
        return [] if repo is None else [i for ids in repo.chunk_ids.values() for i in ids]

    def _repository_chunks(self, repository: str) -> list[IndexedChunk]:
        with self._lock:
            return [self._chunks[i].chunk for i in self._repository_chunk_ids(repository)]


def _entry(chunk: IndexedChunk) -> _Entry:
    terms = search_terms(chunk.content)
    return _Entry(chunk=chunk, term_counts=Counter(terms), length=len(terms))
