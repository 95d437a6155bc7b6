"""The ChunkIndex on PostgreSQL: BM25 over a GIN-indexed tsvector, cosine search with pgvector, filters in SQL.

Lexical ranking is Okapi BM25 exactly as SQLite FTS5 computes it, not ``ts_rank_cd``'s cover density (which
has no inverse document frequency, so a common word counts as much as a rare one): the tsvector holds our own
search terms with their positions, ``ts_rank_cd`` of a single lexeme with unit weights and no normalisation is
that lexeme's term frequency, and the IDF and length terms come from per-repository statistics that
``apply_changes`` keeps up to date (chunk count and total length in ``kb_repositories``, each term's document
frequency in ``kb_terms``). Dense search is exact (a scan of the
repository's embedded chunks ordered by ``<=>``); an HNSW index per model (a partial expression index on
``embedding::vector(d)``) would make it approximate and faster, and is left to operators.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Collection, Mapping, Sequence
from datetime import UTC
from typing import Any

from pgvector.sqlalchemy import VECTOR
from sqlalchemy import (
    REAL,
    ColumnElement,
    Connection,
    Engine,
    and_,
    bindparam,
    cast,
    delete,
    exists,
    func,
    insert,
    literal,
    select,
    update,
)
from sqlalchemy.dialects.postgresql import ARRAY, TSQUERY, TSVECTOR
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.exc import IntegrityError

from service.adapters.knowledge.common import (
    check_changes,
    check_k,
    check_vectors,
    glob_to_posix_regex,
    selective_terms,
    unit_vector,
)
from service.adapters.knowledge.pg_schema import (
    kb_chunks,
    kb_embeddings,
    kb_files,
    kb_models,
    kb_repositories,
    kb_skipped,
    kb_terms,
)
from service.adapters.storage.engine import utc, write_transaction
from service.domain.knowledge import ChunkFilters, IndexedChunk, IndexedFile, Repository, ScoredChunk, SkippedFile
from service.domain.lexical import search_terms, unique_terms
from service.errors import Conflict, NotFound
from service.ports.chunk_index import Vector

K1 = 1.2
B = 0.75
MIN_IDF = 1e-6
# tsvector limits: positions above 16383 are clamped, and a lexeme keeps at most 256 positions.
_MAX_POSITION = 16383
_MAX_POSITIONS_PER_TERM = 256

_CHUNK_COLUMNS = (
    kb_chunks.c.chunk_id,
    kb_chunks.c.repository,
    kb_chunks.c.path,
    kb_chunks.c.language,
    kb_chunks.c.kind,
    kb_chunks.c.symbol,
    kb_chunks.c.start_line,
    kb_chunks.c.end_line,
    kb_chunks.c.header,
    kb_chunks.c.text,
    kb_chunks.c.embedding_key,
    kb_chunks.c.blob_sha,
    kb_chunks.c.commit,
)


def _chunk(row: Any) -> IndexedChunk:
    return IndexedChunk(*row[:13])


def _repository(row: Any) -> Repository:
    return Repository(
        name=row.name,
        source=row.source,
        path=row.path,
        ref=row.ref,
        commit=row.commit,
        indexed_at=None if row.indexed_at is None else utc(row.indexed_at),
    )


def _quote(term: str) -> str:
    """A lexeme literal for tsvector/tsquery input (taken as is: no parser, no dictionary)."""
    return "'" + term.replace("\\", "\\\\").replace("'", "''") + "'"


def tsvector_literal(terms: Sequence[str]) -> str:
    """``terms`` as tsvector input: each distinct term with the positions where it occurs (1-based)."""
    positions: dict[str, list[int]] = {}
    for position, term in enumerate(terms, start=1):
        places = positions.setdefault(term, [])
        if len(places) < _MAX_POSITIONS_PER_TERM:
            places.append(min(position, _MAX_POSITION))
    return " ".join(f"{_quote(term)}:{','.join(map(str, dict.fromkeys(p)))}" for term, p in positions.items())


def _tsquery(terms: Sequence[str]) -> ColumnElement[Any]:
    return cast(literal(" | ".join(_quote(t) for t in terms)), TSQUERY)


def _filter_clauses(filters: ChunkFilters | None) -> list[ColumnElement[bool]]:
    if filters is None:
        return []
    clauses: list[ColumnElement[bool]] = []
    if filters.language is not None:
        clauses.append(kb_chunks.c.language == filters.language)
    if filters.kind is not None:
        clauses.append(kb_chunks.c.kind == filters.kind)
    if filters.path_glob is not None:
        clauses.append(kb_chunks.c.path.regexp_match(glob_to_posix_regex(filters.path_glob)))
    return clauses


class PostgresChunkIndex:
    """:class:`service.ports.chunk_index.ChunkIndex` in the service's PostgreSQL database (migration 0004)."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    # Repositories

    @staticmethod
    def _save(connection: Connection, repository: Repository) -> None:
        values = {
            "source": repository.source,
            "path": repository.path,
            "ref": repository.ref,
            "commit": repository.commit,
            "indexed_at": None if repository.indexed_at is None else repository.indexed_at.astimezone(UTC),
        }
        statement = pg_insert(kb_repositories).values(name=repository.name, **values)
        connection.execute(statement.on_conflict_do_update(index_elements=["name"], set_=values))

    def save_repository(self, *, repository: Repository) -> None:
        with write_transaction(self._engine) as connection:
            self._save(connection, repository)

    def get_repository(self, *, name: str) -> Repository:
        with self._engine.connect() as connection:
            row = connection.execute(select(kb_repositories).where(kb_repositories.c.name == name)).first()
        if row is None:
            raise NotFound(f"no indexed repository {name!r}", hint="index it first with 'ticketsmith index PATH'")
        return _repository(row)

    def list_repositories(self) -> list[Repository]:
        with self._engine.connect() as connection:
            rows = connection.execute(select(kb_repositories).order_by(kb_repositories.c.name))
            return [_repository(row) for row in rows]

    def delete_repository(self, *, name: str) -> None:
        with write_transaction(self._engine) as connection:
            for table in (kb_chunks, kb_files, kb_skipped, kb_terms):
                connection.execute(delete(table).where(table.c.repository == name))
            connection.execute(delete(kb_repositories).where(kb_repositories.c.name == name))

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
        name = repository.name
        replaced = list({*removed_paths, *(f.path for f in files), *(s.path for s in skipped)})
        chunk_rows = []
        added: Counter[str] = Counter()
        for c in chunks:
            terms = search_terms(c.content)
            added.update(set(terms))
            chunk_rows.append(
                {
                    "chunk_id": c.chunk_id,
                    "repository": name,
                    "path": c.path,
                    "language": c.language,
                    "kind": c.kind,
                    "symbol": c.symbol,
                    "symbol_tail": c.symbol.rsplit(".", 1)[-1],
                    "start_line": c.start_line,
                    "end_line": c.end_line,
                    "header": c.header,
                    "text": c.text,
                    "embedding_key": c.embedding_key,
                    "blob_sha": c.blob_sha,
                    "commit": c.commit,
                    "term_count": len(terms),
                    "terms": tsvector_literal(terms),
                }
            )
        try:
            with write_transaction(self._engine) as connection:
                self._save(connection, repository)  # also locks the repository's row until commit
                if replaced:
                    self._count_terms(connection, name, replaced, added)
                    for table in (kb_chunks, kb_files, kb_skipped):
                        connection.execute(delete(table).where(table.c.repository == name, table.c.path.in_(replaced)))
                if files:
                    connection.execute(
                        insert(kb_files),
                        [
                            {
                                "repository": name,
                                "path": f.path,
                                "blob_sha": f.blob_sha,
                                "language": f.language,
                                "chunk_count": f.chunk_count,
                            }
                            for f in files
                        ],
                    )
                if chunk_rows:
                    statement = insert(kb_chunks).values(terms=cast(bindparam("terms"), TSVECTOR))
                    connection.execute(statement, chunk_rows)
                if skipped:
                    connection.execute(
                        insert(kb_skipped), [{"repository": name, "path": s.path, "reason": s.reason} for s in skipped]
                    )
                self._store_term_counts(connection, name, added)
                mine = kb_chunks.c.repository == name
                connection.execute(
                    update(kb_repositories)
                    .where(kb_repositories.c.name == name)
                    .values(
                        chunk_count=select(func.count()).where(mine).scalar_subquery(),
                        term_total=select(func.coalesce(func.sum(kb_chunks.c.term_count), 0))
                        .where(mine)
                        .scalar_subquery(),
                    )
                )
        except IntegrityError as exc:
            raise Conflict(
                f"the change for {name!r} clashes with the index ({exc.orig}); nothing was changed",
                hint="chunk ids must be unique across the index",
            ) from None

    @staticmethod
    def _count_terms(connection: Connection, name: str, paths: list[str], counts: Counter[str]) -> None:
        """Subtract from ``counts`` the document frequencies of the chunks about to be dropped at ``paths``."""
        lexeme = func.unnest(func.tsvector_to_array(kb_chunks.c.terms)).label("term")
        inner = select(lexeme).where(kb_chunks.c.repository == name, kb_chunks.c.path.in_(paths)).subquery()
        for term, n in connection.execute(select(inner.c.term, func.count()).group_by(inner.c.term)):
            counts[term] -= n

    @staticmethod
    def _store_term_counts(connection: Connection, name: str, deltas: Counter[str]) -> None:
        changed = [{"repository": name, "term": t, "df": n} for t, n in deltas.items() if n]
        if not changed:
            return
        statement = pg_insert(kb_terms)
        connection.execute(
            statement.on_conflict_do_update(
                index_elements=["repository", "term"], set_={"df": kb_terms.c.df + statement.excluded.df}
            ),
            changed,
        )
        gone = [t for t, n in deltas.items() if n < 0]
        if gone:
            connection.execute(
                delete(kb_terms).where(kb_terms.c.repository == name, kb_terms.c.term.in_(gone), kb_terms.c.df <= 0)
            )

    # Reads

    def file_blobs(self, *, repository: str) -> dict[str, str]:
        query = select(kb_files.c.path, kb_files.c.blob_sha).where(kb_files.c.repository == repository)
        with self._engine.connect() as connection:
            return {row.path: row.blob_sha for row in connection.execute(query)}

    def skipped_files(self, *, repository: str) -> list[SkippedFile]:
        query = (
            select(kb_skipped.c.path, kb_skipped.c.reason)
            .where(kb_skipped.c.repository == repository)
            .order_by(kb_skipped.c.path)
        )
        with self._engine.connect() as connection:
            return [SkippedFile(path=row.path, reason=row.reason) for row in connection.execute(query)]

    def list_files(self, *, repository: str, prefix: str = "", limit: int = 1000) -> list[IndexedFile]:
        query = (
            select(kb_files.c.path, kb_files.c.blob_sha, kb_files.c.language, kb_files.c.chunk_count)
            .where(kb_files.c.repository == repository, kb_files.c.path.startswith(prefix, autoescape=True))
            .order_by(kb_files.c.path)
            .limit(max(limit, 0))
        )
        with self._engine.connect() as connection:
            return [IndexedFile(*row) for row in connection.execute(query)]

    def get_chunks(self, *, chunk_ids: Sequence[str]) -> list[IndexedChunk]:
        if not chunk_ids:
            return []
        query = select(*_CHUNK_COLUMNS).where(kb_chunks.c.chunk_id.in_(list(set(chunk_ids))))
        with self._engine.connect() as connection:
            found = {row.chunk_id: _chunk(row) for row in connection.execute(query)}
        return [found[chunk_id] for chunk_id in chunk_ids if chunk_id in found]

    def chunks_for_path(self, *, repository: str, path: str) -> list[IndexedChunk]:
        query = (
            select(*_CHUNK_COLUMNS)
            .where(kb_chunks.c.repository == repository, kb_chunks.c.path == path)
            .order_by(kb_chunks.c.start_line, kb_chunks.c.end_line, kb_chunks.c.chunk_id)
        )
        with self._engine.connect() as connection:
            return [_chunk(row) for row in connection.execute(query)]

    def find_symbols(self, *, repository: str, name: str, limit: int = 50) -> list[IndexedChunk]:
        if not name:
            return []
        query = (
            select(*_CHUNK_COLUMNS)
            .where(kb_chunks.c.repository == repository, kb_chunks.c.symbol_tail == name.rsplit(".", 1)[-1])
            .order_by(kb_chunks.c.path, kb_chunks.c.start_line, kb_chunks.c.chunk_id)
        )
        with self._engine.connect() as connection:
            found = [_chunk(row) for row in connection.execute(query)]
        return [c for c in found if c.symbol == name or c.symbol.endswith(f".{name}")][: max(limit, 0)]

    # Search

    def search_lexical(
        self, *, repository: str, terms: Sequence[str], k: int, filters: ChunkFilters | None = None
    ) -> list[ScoredChunk]:
        check_k(k)
        wanted = unique_terms(t for t in terms if t)
        if not wanted:
            return []
        mine = kb_chunks.c.repository == repository
        with self._engine.connect() as connection:
            stats = connection.execute(
                select(kb_repositories.c.chunk_count, kb_repositories.c.term_total).where(
                    kb_repositories.c.name == repository
                )
            ).first()
            if stats is None or stats.chunk_count == 0:
                return []
            frequency: dict[str, int] = {
                row.term: row.df
                for row in connection.execute(
                    select(kb_terms.c.term, kb_terms.c.df).where(
                        kb_terms.c.repository == repository, kb_terms.c.term.in_(wanted)
                    )
                )
            }
            chosen = [t for t in selective_terms(wanted, frequency, stats.chunk_count) if frequency.get(t)]
            if not chosen:
                return []
            average = stats.term_total / stats.chunk_count or 1.0
            count = stats.chunk_count
            norm = K1 * (1 - B) + (K1 * B / average) * kb_chunks.c.term_count
            unit_weights = cast(literal("{1,1,1,1}"), ARRAY(REAL))
            score: ColumnElement[Any] = literal(0.0)
            for term in chosen:
                n = frequency[term]
                idf = max(math.log((count - n + 0.5) / (n + 0.5)), MIN_IDF)
                tf = func.ts_rank_cd(unit_weights, kb_chunks.c.terms, _tsquery([term]), 0)
                score = score + literal(idf * (K1 + 1)) * tf / (tf + norm)
            ranked = score.label("score")
            query = (
                select(*_CHUNK_COLUMNS, ranked)
                .where(mine, kb_chunks.c.terms.op("@@")(_tsquery(chosen)), *_filter_clauses(filters))
                .order_by(ranked.desc(), kb_chunks.c.chunk_id)
                .limit(k)
            )
            rows = connection.execute(query).all()
        return [ScoredChunk(chunk=_chunk(row), score=float(row.score)) for row in rows]

    def search_dense(
        self, *, repository: str, model_id: str, vector: Vector, k: int, filters: ChunkFilters | None = None
    ) -> list[ScoredChunk]:
        check_k(k)
        query_vector = unit_vector(vector)
        with self._engine.connect() as connection:
            dimensions = connection.execute(
                select(kb_models.c.dimensions).where(kb_models.c.model_id == model_id)
            ).scalar()
            if dimensions is None or dimensions != query_vector.shape[0]:
                return []
            distance = kb_embeddings.c.embedding.op("<=>", return_type=REAL)(
                bindparam("query", query_vector, type_=VECTOR())
            )
            query = (
                select(*_CHUNK_COLUMNS, distance.label("distance"))
                .join(
                    kb_embeddings,
                    and_(
                        kb_embeddings.c.model_id == model_id,
                        kb_embeddings.c.embedding_key == kb_chunks.c.embedding_key,
                    ),
                )
                .where(kb_chunks.c.repository == repository, *_filter_clauses(filters))
                .order_by(distance, kb_chunks.c.chunk_id)
                .limit(k)
            )
            rows = connection.execute(query).all()
        return [ScoredChunk(chunk=_chunk(row), score=1.0 - float(row.distance)) for row in rows]

    # Embeddings

    def pending_embeddings(self, *, repository: str, model_id: str, limit: int) -> list[tuple[str, str]]:
        embedded = exists().where(
            kb_embeddings.c.model_id == model_id, kb_embeddings.c.embedding_key == kb_chunks.c.embedding_key
        )
        # Chunks with one key differ in their paths (so headers): header and text are taken from one row.
        picked = (
            select(kb_chunks.c.embedding_key, func.min(kb_chunks.c.chunk_id).label("chunk_id"))
            .where(kb_chunks.c.repository == repository, ~embedded)
            .group_by(kb_chunks.c.embedding_key)
            .order_by(kb_chunks.c.embedding_key)
            .limit(max(limit, 0))
            .subquery()
        )
        query = (
            select(kb_chunks.c.embedding_key, kb_chunks.c.header, kb_chunks.c.text)
            .join(picked, kb_chunks.c.chunk_id == picked.c.chunk_id)
            .order_by(kb_chunks.c.embedding_key)
        )
        with self._engine.connect() as connection:
            rows = connection.execute(query).all()
        return [(key, f"{header}\n{text}") for key, header, text in rows]

    def store_embeddings(self, *, model_id: str, vectors: Mapping[str, Vector]) -> None:
        if not vectors:
            return
        with write_transaction(self._engine) as connection:
            first = next(iter(vectors.values()))
            connection.execute(
                pg_insert(kb_models)
                .values(model_id=model_id, dimensions=int(first.reshape(-1).shape[0]))
                .on_conflict_do_nothing(index_elements=["model_id"])
            )
            dimensions = connection.execute(
                select(kb_models.c.dimensions).where(kb_models.c.model_id == model_id).with_for_update()
            ).scalar_one()
            rows = check_vectors(vectors, dimensions=int(dimensions))
            connection.execute(
                pg_insert(kb_embeddings).on_conflict_do_nothing(index_elements=["model_id", "embedding_key"]),
                [{"model_id": model_id, "embedding_key": h, "embedding": unit_vector(v)} for h, v in rows.items()],
            )

    def dense_coverage(self, *, repository: str, model_id: str) -> tuple[int, int]:
        query = (
            select(func.count(kb_embeddings.c.embedding_key), func.count())
            .select_from(
                kb_chunks.outerjoin(
                    kb_embeddings,
                    and_(
                        kb_embeddings.c.model_id == model_id,
                        kb_embeddings.c.embedding_key == kb_chunks.c.embedding_key,
                    ),
                )
            )
            .where(kb_chunks.c.repository == repository)
        )
        with self._engine.connect() as connection:
            embedded, total = connection.execute(query).one()
        return int(embedded), int(total)
