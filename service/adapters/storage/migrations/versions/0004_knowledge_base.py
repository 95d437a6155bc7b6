"""Knowledge base index on PostgreSQL: repositories, files, chunks with a tsvector, term statistics, embeddings.

PostgreSQL only. On SQLite this revision changes nothing: the embedded knowledge index keeps its own file under
the data directory (``service/adapters/knowledge/sqlite.py``), so the service database never holds it. Needs the
``vector`` extension (pgvector): created here when missing, which takes a role allowed to create extensions (or
run ``CREATE EXTENSION vector`` once as a superuser beforehand).

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from pgvector.sqlalchemy import VECTOR
from sqlalchemy.dialects.postgresql import TSVECTOR

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def _postgresql() -> bool:
    return bool(op.get_bind().dialect.name == "postgresql")


def upgrade() -> None:
    if not _postgresql():
        return
    op.execute("CREATE EXTENSION IF NOT EXISTS vector")
    op.create_table(
        "kb_repositories",
        sa.Column("name", sa.String(200), primary_key=True),
        sa.Column("source", sa.Text, nullable=False),
        sa.Column("path", sa.Text, nullable=False),
        sa.Column("ref", sa.Text, nullable=True),
        sa.Column("commit", sa.String(64), nullable=True),
        sa.Column("indexed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("chunk_count", sa.Integer, nullable=False, server_default="0"),
        sa.Column("term_total", sa.BigInteger, nullable=False, server_default="0"),
    )
    for table, columns in (
        (
            "kb_files",
            [
                sa.Column("blob_sha", sa.String(64), nullable=False),
                sa.Column("language", sa.String(64), nullable=False),
                sa.Column("chunk_count", sa.Integer, nullable=False),
            ],
        ),
        ("kb_skipped", [sa.Column("reason", sa.Text, nullable=False)]),
    ):
        op.create_table(
            table,
            sa.Column(
                "repository",
                sa.String(200),
                sa.ForeignKey("kb_repositories.name", ondelete="CASCADE"),
                primary_key=True,
            ),
            sa.Column("path", sa.Text, primary_key=True),
            *columns,
        )
    op.create_table(
        "kb_chunks",
        sa.Column("chunk_id", sa.Text, primary_key=True),
        sa.Column(
            "repository", sa.String(200), sa.ForeignKey("kb_repositories.name", ondelete="CASCADE"), nullable=False
        ),
        sa.Column("path", sa.Text, nullable=False),
        sa.Column("language", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("symbol", sa.Text, nullable=False),
        sa.Column("symbol_tail", sa.Text, nullable=False),
        sa.Column("start_line", sa.Integer, nullable=False),
        sa.Column("end_line", sa.Integer, nullable=False),
        sa.Column("header", sa.Text, nullable=False),
        sa.Column("text", sa.Text, nullable=False),
        sa.Column("content_hash", sa.String(64), nullable=False),
        sa.Column("blob_sha", sa.String(64), nullable=False),
        sa.Column("commit", sa.String(64), nullable=False),
        sa.Column("term_count", sa.Integer, nullable=False),
        sa.Column("terms", TSVECTOR, nullable=False),
    )
    op.create_index("ix_kb_chunks_path", "kb_chunks", ["repository", "path"])
    op.create_index("ix_kb_chunks_content", "kb_chunks", ["repository", "content_hash"])
    op.create_index("ix_kb_chunks_symbol", "kb_chunks", ["repository", "symbol_tail"])
    op.create_index("ix_kb_chunks_terms", "kb_chunks", ["terms"], postgresql_using="gin")
    op.create_table(
        "kb_terms",
        sa.Column(
            "repository", sa.String(200), sa.ForeignKey("kb_repositories.name", ondelete="CASCADE"), primary_key=True
        ),
        sa.Column("term", sa.Text, primary_key=True),
        sa.Column("df", sa.Integer, nullable=False),
    )
    op.create_table(
        "kb_models",
        sa.Column("model_id", sa.String(200), primary_key=True),
        sa.Column("dimensions", sa.Integer, nullable=False),
    )
    op.create_table(
        "kb_embeddings",
        sa.Column(
            "model_id", sa.String(200), sa.ForeignKey("kb_models.model_id", ondelete="CASCADE"), primary_key=True
        ),
        sa.Column("content_hash", sa.String(64), primary_key=True),
        sa.Column("embedding", VECTOR(), nullable=False),
    )


def downgrade() -> None:
    if not _postgresql():
        return
    for table in ("kb_embeddings", "kb_models", "kb_terms", "kb_chunks", "kb_skipped", "kb_files", "kb_repositories"):
        op.drop_table(table)
