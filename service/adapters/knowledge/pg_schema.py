"""The PostgreSQL tables of the knowledge index, created by migration 0004 on PostgreSQL only (0006 renamed the
content hash to the embedding key).

On SQLite the service database has none of these: the embedded index keeps its own file (see ``sqlite.py``), so
they live in their own :data:`knowledge_metadata`, beside the service tables' metadata.
"""

from __future__ import annotations

from pgvector.sqlalchemy import VECTOR
from sqlalchemy import BigInteger, Column, DateTime, ForeignKey, Index, Integer, MetaData, String, Table, Text
from sqlalchemy.dialects.postgresql import TSVECTOR

knowledge_metadata = MetaData()

# chunk_count and term_total are the BM25 statistics of the repository (N and N x average length).
kb_repositories = Table(
    "kb_repositories",
    knowledge_metadata,
    Column("name", String(200), primary_key=True),
    Column("source", Text, nullable=False),
    Column("path", Text, nullable=False),
    Column("ref", Text, nullable=True),
    Column("commit", String(64), nullable=True),
    Column("indexed_at", DateTime(timezone=True), nullable=True),
    Column("chunk_count", Integer, nullable=False, server_default="0"),
    Column("term_total", BigInteger, nullable=False, server_default="0"),
)

kb_files = Table(
    "kb_files",
    knowledge_metadata,
    Column("repository", String(200), ForeignKey("kb_repositories.name", ondelete="CASCADE"), primary_key=True),
    Column("path", Text, primary_key=True),
    Column("blob_sha", String(64), nullable=False),
    Column("language", String(64), nullable=False),
    Column("chunk_count", Integer, nullable=False),
)

kb_skipped = Table(
    "kb_skipped",
    knowledge_metadata,
    Column("repository", String(200), ForeignKey("kb_repositories.name", ondelete="CASCADE"), primary_key=True),
    Column("path", Text, primary_key=True),
    Column("reason", Text, nullable=False),
)

# terms is the chunk's search terms as a tsvector with their positions (built by us, not by a text-search
# configuration), so ts_rank_cd of one lexeme with unit weights is that lexeme's term frequency.
kb_chunks = Table(
    "kb_chunks",
    knowledge_metadata,
    Column("chunk_id", Text, primary_key=True),
    Column("repository", String(200), ForeignKey("kb_repositories.name", ondelete="CASCADE"), nullable=False),
    Column("path", Text, nullable=False),
    Column("language", String(64), nullable=False),
    Column("kind", String(32), nullable=False),
    Column("symbol", Text, nullable=False),
    Column("symbol_tail", Text, nullable=False),
    Column("start_line", Integer, nullable=False),
    Column("end_line", Integer, nullable=False),
    Column("header", Text, nullable=False),
    Column("text", Text, nullable=False),
    Column("embedding_key", String(64), nullable=False),
    Column("blob_sha", String(64), nullable=False),
    Column("commit", String(64), nullable=False),
    Column("term_count", Integer, nullable=False),
    Column("terms", TSVECTOR, nullable=False),
    Index("ix_kb_chunks_path", "repository", "path"),
    Index("ix_kb_chunks_embedding", "repository", "embedding_key"),
    Index("ix_kb_chunks_symbol", "repository", "symbol_tail"),
    Index("ix_kb_chunks_terms", "terms", postgresql_using="gin"),
)

# Document frequency of each search term in each repository (the BM25 IDF), kept up to date by apply_changes:
# counting matches per query would scan every chunk holding a common word.
kb_terms = Table(
    "kb_terms",
    knowledge_metadata,
    Column("repository", String(200), ForeignKey("kb_repositories.name", ondelete="CASCADE"), primary_key=True),
    Column("term", Text, primary_key=True),
    Column("df", Integer, nullable=False),
)

kb_models = Table(
    "kb_models",
    knowledge_metadata,
    Column("model_id", String(200), primary_key=True),
    Column("dimensions", Integer, nullable=False),
)

# One untyped vector column for every model; kb_models holds each model's dimension and every insert is checked
# against it, so the vectors compared by one search always have one length.
kb_embeddings = Table(
    "kb_embeddings",
    knowledge_metadata,
    Column("model_id", String(200), ForeignKey("kb_models.model_id", ondelete="CASCADE"), primary_key=True),
    Column("embedding_key", String(64), primary_key=True),
    Column("embedding", VECTOR(), nullable=False),
)
