"""Knowledge base on PostgreSQL: the chunks' and embeddings' ``content_hash`` becomes ``embedding_key``.

Vectors are now keyed by the sha256 of a chunk's content without its path, so a renamed or copied file keeps its
vectors (what is embedded is still the whole content, path included). Only the names change: the keys already
stored hash the whole content and keep naming their vectors, so nothing is embedded again; chunks written from now
on carry path-free keys, so a file indexed before is embedded once more the first time it is renamed or copied.
PostgreSQL only, as 0004: on SQLite the knowledge index keeps its own file, which upgrades itself (schema 2).

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02
"""

from __future__ import annotations

from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def _postgresql() -> bool:
    return bool(op.get_bind().dialect.name == "postgresql")


def upgrade() -> None:
    if not _postgresql():
        return
    op.alter_column("kb_chunks", "content_hash", new_column_name="embedding_key")
    op.alter_column("kb_embeddings", "content_hash", new_column_name="embedding_key")
    op.execute("ALTER INDEX ix_kb_chunks_content RENAME TO ix_kb_chunks_embedding")


def downgrade() -> None:
    if not _postgresql():
        return
    op.execute("ALTER INDEX ix_kb_chunks_embedding RENAME TO ix_kb_chunks_content")
    op.alter_column("kb_embeddings", "embedding_key", new_column_name="content_hash")
    op.alter_column("kb_chunks", "embedding_key", new_column_name="content_hash")
