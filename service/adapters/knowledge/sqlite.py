"""The embedded ChunkIndex: one SQLite file (FTS5 for BM25) and exact dense search over an in-memory matrix.

The index lives in its own file (``<data_dir>/index/knowledge.db``), not in the service database: it is a large,
rebuildable cache, and SQLite has one writer per file, so a long index write would otherwise stall job and
audit writes. Each repository gets its own FTS5 table, so BM25 statistics are the repository's own. Embeddings
are float32 blobs keyed by (model id, embedding key); dense search loads a repository's rows for a model into a
:class:`FlatMatrix` once and reloads it when a generation counter (bumped by every change) moves.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Collection, Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from service.adapters.knowledge import sqlite_lexical as lexical
from service.adapters.knowledge.common import check_changes, check_k, check_vectors, selective_terms, unit_vector
from service.adapters.knowledge.lexical_postings import PostingsCache
from service.adapters.knowledge.matrix import ModelVectors, RowSet
from service.adapters.knowledge.sqlite_pool import SqliteConnections
from service.adapters.knowledge.sqlite_schema import SCHEMA, SCHEMA_VERSION, UPGRADES, fts_statements, fts_table
from service.domain.knowledge import ChunkFilters, IndexedChunk, IndexedFile, Repository, ScoredChunk, SkippedFile
from service.domain.lexical import search_text, unique_terms
from service.errors import ConfigurationError, Conflict, InvalidInput, NotFound
from service.ports.chunk_index import Vector

_CHUNK_COLUMNS = (
    "c.id, c.chunk_id, r.name, c.path, c.language, c.kind, c.symbol, c.start_line, c.end_line, c.header, c.text,"
    " c.embedding_key, c.blob_sha, c.commit_sha"
)
# Table names in f-strings below are constants or fts_table(int): never user input (hence the S608 waivers).
_CHUNKS = f"SELECT {_CHUNK_COLUMNS} FROM chunks c JOIN repositories r ON r.id = c.repo_id"  # noqa: S608


def _chunk(row: Any) -> IndexedChunk:
    return IndexedChunk(*row[1:14])


def _repository(row: Any) -> Repository:
    name, source, path, ref, commit, indexed_at = row
    return Repository(
        name=name,
        source=source,
        path=path,
        ref=ref,
        commit=commit,
        indexed_at=None if indexed_at is None else datetime.fromisoformat(indexed_at),
    )


def _filter_sql(filters: ChunkFilters | None) -> tuple[str, list[Any]]:
    if filters is None:
        return "", []
    clauses, params = [], []
    if filters.language is not None:
        clauses.append("c.language = ?")
        params.append(filters.language)
    if filters.kind is not None:
        clauses.append("c.kind = ?")
        params.append(filters.kind)
    if filters.path_glob is not None:
        clauses.append("kb_fnmatch(c.path, ?)")
        params.append(filters.path_glob)
    return "".join(f" AND {clause}" for clause in clauses), params


class SqliteChunkIndex:
    """:class:`service.ports.chunk_index.ChunkIndex` in one SQLite file (WAL: readers beside one writer).

    Each thread reads on its own connection; writes take an in-process lock and ``BEGIN IMMEDIATE``, so other
    processes on the same file wait (busy timeout) rather than fail. Raises :class:`ConfigurationError` when the
    file cannot be opened or was written by a newer schema.
    """

    def __init__(self, path: Path, *, busy_timeout_seconds: float = 30.0) -> None:
        self._path = path
        self._db = SqliteConnections(path, busy_timeout_seconds=busy_timeout_seconds)
        self._cache_lock = threading.Lock()
        self._vectors: dict[str, ModelVectors] = {}
        self._row_sets: dict[tuple[str, str], RowSet] = {}
        self._coverage: dict[tuple[str, str], tuple[tuple[int, ...], tuple[int, int]]] = {}
        self._postings = PostingsCache(self._db.read)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._migrate()
        except (OSError, sqlite3.Error) as exc:
            raise ConfigurationError(
                f"cannot open the knowledge index at {path}: {exc}",
                hint="check that TICKETSMITH_DATA_DIR is writable, or delete the index file and index again",
            ) from None

    def close(self) -> None:
        """Close every connection this index opened and drop its in-memory matrices. Safe to call twice."""
        self._postings.close()
        self._db.close()
        with self._cache_lock:
            self._vectors.clear()
            self._row_sets.clear()
            self._coverage.clear()

    def _migrate(self) -> None:
        with self._db.write() as connection:
            version = connection.execute("PRAGMA user_version").fetchone()[0]
            if version > SCHEMA_VERSION:
                raise ConfigurationError(
                    f"the knowledge index at {self._path} has schema {version}; this version reads {SCHEMA_VERSION}",
                    hint="upgrade ticketsmith, or move the index file away and index again",
                )
            if version < SCHEMA_VERSION:
                # A new file reads 0 and gets the schema as it is; an older one is upgraded in place, in order.
                for old in range(version or SCHEMA_VERSION, SCHEMA_VERSION):
                    for statement in UPGRADES[old]:
                        connection.execute(statement)
                for statement in SCHEMA:
                    connection.execute(statement)
                connection.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")

    @staticmethod
    def _repo_id(connection: sqlite3.Connection, name: str) -> int | None:
        row = connection.execute("SELECT id FROM repositories WHERE name = ?", (name,)).fetchone()
        return None if row is None else int(row[0])

    # Repositories

    @staticmethod
    def _save(connection: sqlite3.Connection, repository: Repository) -> int:
        connection.execute(
            "INSERT INTO repositories (name, source, path, ref, commit_sha, indexed_at) VALUES (?, ?, ?, ?, ?, ?)"
            " ON CONFLICT (name) DO UPDATE SET source = excluded.source, path = excluded.path, ref = excluded.ref,"
            " commit_sha = excluded.commit_sha, indexed_at = excluded.indexed_at",
            (
                repository.name,
                repository.source,
                repository.path,
                repository.ref,
                repository.commit,
                None if repository.indexed_at is None else repository.indexed_at.isoformat(),
            ),
        )
        repo_id = SqliteChunkIndex._repo_id(connection, repository.name)
        assert repo_id is not None  # inserted just above, in this transaction
        for statement in fts_statements(repo_id):
            connection.execute(statement)
        return repo_id

    def save_repository(self, *, repository: Repository) -> None:
        with self._db.write() as connection:
            self._save(connection, repository)

    def get_repository(self, *, name: str) -> Repository:
        row = (
            self._db.get()
            .execute("SELECT name, source, path, ref, commit_sha, indexed_at FROM repositories WHERE name = ?", (name,))
            .fetchone()
        )
        if row is None:
            raise NotFound(f"no indexed repository {name!r}", hint="index it first with 'ticketsmith index PATH'")
        return _repository(row)

    def list_repositories(self) -> list[Repository]:
        rows = self._db.get().execute(
            "SELECT name, source, path, ref, commit_sha, indexed_at FROM repositories ORDER BY name"
        )
        return [_repository(row) for row in rows]

    def delete_repository(self, *, name: str) -> None:
        with self._db.write() as connection:
            repo_id = self._repo_id(connection, name)
            if repo_id is None:
                return
            connection.execute(f"DROP TABLE IF EXISTS {fts_table(repo_id)}_vocab")
            connection.execute(f"DROP TABLE IF EXISTS {fts_table(repo_id)}")
            for table in ("chunks", "files", "skipped"):
                connection.execute(f"DELETE FROM {table} WHERE repo_id = ?", (repo_id,))  # noqa: S608
            connection.execute("DELETE FROM repositories WHERE id = ?", (repo_id,))

    # Changes

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
        terms = [search_text(chunk.content) for chunk in chunks]  # outside the write lock
        replaced = [(p,) for p in {*removed_paths, *(f.path for f in files), *(s.path for s in skipped)}]
        try:
            with self._db.write() as connection:
                repo_id = self._save(connection, repository)
                fts = fts_table(repo_id)
                owned = [(repo_id, path) for (path,) in replaced]
                connection.executemany(
                    f"DELETE FROM {fts} WHERE rowid IN (SELECT id FROM chunks WHERE repo_id = ? AND path = ?)",  # noqa: S608
                    owned,
                )
                for table in ("chunks", "files", "skipped"):
                    connection.executemany(f"DELETE FROM {table} WHERE repo_id = ? AND path = ?", owned)  # noqa: S608
                connection.executemany(
                    "INSERT INTO files (repo_id, path, blob_sha, language, chunk_count) VALUES (?, ?, ?, ?, ?)",
                    [(repo_id, f.path, f.blob_sha, f.language, f.chunk_count) for f in files],
                )
                first_id = connection.execute("SELECT coalesce(max(id), 0) + 1 FROM chunks").fetchone()[0]
                connection.executemany(
                    "INSERT INTO chunks (id, chunk_id, repo_id, path, language, kind, symbol, symbol_tail,"
                    " start_line, end_line, header, text, embedding_key, blob_sha, commit_sha)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    [
                        (
                            first_id + i,
                            c.chunk_id,
                            repo_id,
                            c.path,
                            c.language,
                            c.kind,
                            c.symbol,
                            c.symbol.rsplit(".", 1)[-1],
                            c.start_line,
                            c.end_line,
                            c.header,
                            c.text,
                            c.embedding_key,
                            c.blob_sha,
                            c.commit,
                        )
                        for i, c in enumerate(chunks)
                    ],
                )
                connection.executemany(
                    f"INSERT INTO {fts} (rowid, terms) VALUES (?, ?)",  # noqa: S608
                    [(first_id + i, text) for i, text in enumerate(terms)],
                )
                connection.executemany(
                    "INSERT INTO skipped (repo_id, path, reason) VALUES (?, ?, ?)",
                    [(repo_id, s.path, s.reason) for s in skipped],
                )
                connection.execute(
                    "UPDATE repositories SET generation = generation + 1,"
                    " chunk_count = (SELECT count(*) FROM chunks WHERE repo_id = ?) WHERE id = ?",
                    (repo_id, repo_id),
                )
        except sqlite3.IntegrityError as exc:
            raise Conflict(
                f"the change for {repository.name!r} clashes with the index ({exc}); nothing was changed",
                hint="chunk ids must be unique across the index",
            ) from None

    # Reads

    def file_blobs(self, *, repository: str) -> dict[str, str]:
        rows = self._db.get().execute(
            "SELECT f.path, f.blob_sha FROM files f JOIN repositories r ON r.id = f.repo_id WHERE r.name = ?",
            (repository,),
        )
        return dict(rows)

    def skipped_files(self, *, repository: str) -> list[SkippedFile]:
        rows = self._db.get().execute(
            "SELECT s.path, s.reason FROM skipped s JOIN repositories r ON r.id = s.repo_id WHERE r.name = ?"
            " ORDER BY s.path",
            (repository,),
        )
        return [SkippedFile(path=path, reason=reason) for path, reason in rows]

    def list_files(self, *, repository: str, prefix: str = "", limit: int = 1000) -> list[IndexedFile]:
        rows = self._db.get().execute(
            "SELECT f.path, f.blob_sha, f.language, f.chunk_count FROM files f JOIN repositories r ON r.id = f.repo_id"
            " WHERE r.name = ? AND substr(f.path, 1, ?) = ? ORDER BY f.path LIMIT ?",
            (repository, len(prefix), prefix, max(limit, 0)),
        )
        return [IndexedFile(*row) for row in rows]

    def get_chunks(self, *, chunk_ids: Sequence[str]) -> list[IndexedChunk]:
        if not chunk_ids:
            return []
        found: dict[str, IndexedChunk] = {}
        connection = self._db.get()
        unique = list(dict.fromkeys(chunk_ids))
        for start in range(0, len(unique), 500):  # below SQLite's limit on bound parameters
            batch = unique[start : start + 500]
            marks = ",".join("?" * len(batch))
            for row in connection.execute(f"{_CHUNKS} WHERE c.chunk_id IN ({marks})", batch):
                found[row[1]] = _chunk(row)
        return [found[chunk_id] for chunk_id in chunk_ids if chunk_id in found]

    def _chunks_by_key(self, connection: sqlite3.Connection, keys: Sequence[int]) -> dict[int, IndexedChunk]:
        marks = ",".join("?" * len(keys))
        return {row[0]: _chunk(row) for row in connection.execute(f"{_CHUNKS} WHERE c.id IN ({marks})", list(keys))}

    def chunks_for_path(self, *, repository: str, path: str) -> list[IndexedChunk]:
        rows = self._db.get().execute(
            f"{_CHUNKS} WHERE r.name = ? AND c.path = ? ORDER BY c.start_line, c.end_line, c.chunk_id",
            (repository, path),
        )
        return [_chunk(row) for row in rows]

    def find_symbols(self, *, repository: str, name: str, limit: int = 50) -> list[IndexedChunk]:
        if not name:
            return []
        rows = self._db.get().execute(
            f"{_CHUNKS} WHERE r.name = ? AND c.symbol_tail = ? ORDER BY c.path, c.start_line, c.chunk_id",
            (repository, name.rsplit(".", 1)[-1]),
        )
        found = [c for c in map(_chunk, rows) if c.symbol == name or c.symbol.endswith(f".{name}")]
        return found[: max(limit, 0)]

    # Search

    def search_lexical(
        self, *, repository: str, terms: Sequence[str], k: int, filters: ChunkFilters | None = None
    ) -> list[ScoredChunk]:
        check_k(k)
        wanted = [term for term in unique_terms(terms) if any(ch.isalnum() for ch in term)]
        if not wanted:
            return []
        with self._db.read() as connection:
            head = connection.execute(
                "SELECT id, chunk_count, generation FROM repositories WHERE name = ?", (repository,)
            ).fetchone()
            if head is None:
                return []
            fts = fts_table(head[0])
            postings = self._postings.get(connection, repository, fts, head[0], head[2], head[1])
            if postings is not None and all(term.isascii() for term in wanted):
                known = {term: postings.frequency(term) for term in wanted}
                best = postings.top_k(selective_terms(wanted, known, postings.chunk_count), k, filters)
                chunks = self._chunks_by_key(connection, [key for key, _ in best]) if best else {}
                return [ScoredChunk(chunk=chunks[key], score=score) for key, score in best if key in chunks]
            marks = ",".join("?" * len(wanted))
            frequency = dict(
                connection.execute(f"SELECT term, doc FROM {fts}_vocab WHERE term IN ({marks})", wanted)  # noqa: S608
            )
            wanted = selective_terms(wanted, frequency, head[1])
            where, params = _filter_sql(filters)
            try:
                best = lexical.top_k(connection, fts, wanted, frequency, head[1], k, where, params)
            except sqlite3.OperationalError as exc:  # an FTS5 query syntax error
                raise InvalidInput(f"cannot search for {wanted!r}: {exc}") from None
            chunks = self._chunks_by_key(connection, [key for key, _ in best]) if best else {}
        return [ScoredChunk(chunk=chunks[key], score=float(score)) for key, score in best if key in chunks]

    def _model_vectors(self, connection: sqlite3.Connection, model_id: str) -> ModelVectors | None:
        head = connection.execute("SELECT dimensions, last_seq FROM models WHERE model_id = ?", (model_id,)).fetchone()
        if head is None:
            return None
        dimensions, last_seq = head
        with self._cache_lock:
            vectors = self._vectors.get(model_id)
            if vectors is None or vectors.dimensions != dimensions:
                vectors = self._vectors[model_id] = ModelVectors(dimensions)
        if vectors.last_seq < last_seq:  # only what was stored since the last load
            vectors.append(
                connection.execute(
                    "SELECT seq, embedding_key, vector FROM embeddings"
                    " WHERE model_id = ? AND seq > ? AND seq <= ? ORDER BY seq",
                    (model_id, vectors.last_seq, last_seq),
                ),
                up_to=last_seq,
            )
        return vectors

    def _row_set(
        self, connection: sqlite3.Connection, repository: str, vectors: ModelVectors, model_id: str
    ) -> RowSet | None:
        head = connection.execute("SELECT id, generation FROM repositories WHERE name = ?", (repository,)).fetchone()
        if head is None:
            return None
        version = (head[0], head[1], vectors.last_seq)
        key = (repository, model_id)
        with self._cache_lock:
            cached = self._row_sets.get(key)
        if cached is not None and cached.version == version:
            return cached
        records = connection.execute(
            "SELECT id, embedding_key, language, kind, path FROM chunks WHERE repo_id = ? ORDER BY id", (head[0],)
        ).fetchall()
        row_set = RowSet.build(version, vectors, records)
        with self._cache_lock:
            self._row_sets[key] = row_set
        return row_set

    def search_dense(
        self, *, repository: str, model_id: str, vector: Vector, k: int, filters: ChunkFilters | None = None
    ) -> list[ScoredChunk]:
        check_k(k)
        with self._db.read() as connection:
            vectors = self._model_vectors(connection, model_id)
            row_set = None if vectors is None else self._row_set(connection, repository, vectors, model_id)
            if vectors is None or row_set is None:
                return []
            best = row_set.top_k(vectors.view(), unit_vector(vector), k, filters)
            if not best:
                return []
            chunks = self._chunks_by_key(connection, [key for key, _ in best])
        return [ScoredChunk(chunk=chunks[key], score=score) for key, score in best if key in chunks]

    # Embeddings

    def pending_embeddings(self, *, repository: str, model_id: str, limit: int) -> list[tuple[str, str]]:
        # One row per key: SQLite takes the bare columns from one row of the group, so header and text agree.
        rows = self._db.get().execute(
            "SELECT c.embedding_key, c.header, c.text FROM chunks c JOIN repositories r ON r.id = c.repo_id"
            " WHERE r.name = ? AND NOT EXISTS (SELECT 1 FROM embeddings e"
            " WHERE e.model_id = ? AND e.embedding_key = c.embedding_key)"
            " GROUP BY c.embedding_key ORDER BY c.embedding_key LIMIT ?",
            (repository, model_id, max(limit, 0)),
        )
        return [(key, f"{header}\n{text}") for key, header, text in rows]

    def store_embeddings(self, *, model_id: str, vectors: Mapping[str, Vector]) -> None:
        if not vectors:
            return
        with self._db.write() as connection:
            row = connection.execute("SELECT dimensions FROM models WHERE model_id = ?", (model_id,)).fetchone()
            rows = check_vectors(vectors, dimensions=None if row is None else int(row[0]))
            dimensions = next(iter(rows.values())).shape[0]
            connection.execute(
                "INSERT INTO models (model_id, dimensions) VALUES (?, ?) ON CONFLICT (model_id) DO NOTHING",
                (model_id, dimensions),
            )
            # Vectors already stored are kept: one model id and one embedding key give one vector.
            connection.executemany(
                "INSERT OR IGNORE INTO embeddings (model_id, embedding_key, vector) VALUES (?, ?, ?)",
                [(model_id, h, unit_vector(v).tobytes()) for h, v in rows.items()],
            )
            connection.execute(
                "UPDATE models SET last_seq = (SELECT coalesce(max(seq), 0) FROM embeddings) WHERE model_id = ?",
                (model_id,),
            )

    def dense_coverage(self, *, repository: str, model_id: str) -> tuple[int, int]:
        # Counted once per state of the index (searches ask every time; the count scans the repository).
        with self._db.read() as connection:
            head = connection.execute(
                "SELECT r.id, r.generation, r.chunk_count, m.last_seq FROM repositories r"
                " LEFT JOIN models m ON m.model_id = ? WHERE r.name = ?",
                (model_id, repository),
            ).fetchone()
            if head is None:
                return 0, 0
            repo_id, generation, chunk_count, last_seq = head
            if last_seq is None:
                return 0, int(chunk_count)
            version, key = (repo_id, generation, last_seq), (repository, model_id)
            with self._cache_lock:
                cached = self._coverage.get(key)
            if cached is not None and cached[0] == version:
                return cached[1]
            embedded = connection.execute(
                "SELECT count(*) FROM chunks c JOIN embeddings e"
                " ON e.model_id = ? AND e.embedding_key = c.embedding_key WHERE c.repo_id = ?",
                (model_id, repo_id),
            ).fetchone()[0]
        counts = (int(embedded), int(chunk_count))
        with self._cache_lock:
            self._coverage[key] = (version, counts)
        return counts
