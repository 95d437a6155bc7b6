"""The ticket ledger (fingerprint → ticket) and the local dry-run ticket store.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "ticket_ledger",
        sa.Column("fingerprint", sa.String(64), primary_key=True),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("ticket_key", sa.String(64), nullable=True),
        sa.Column("claimed_by", sa.String(200), nullable=False),
        sa.Column("claimed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("content_hash", sa.String(64), nullable=True),
    )
    op.create_table(
        "local_tickets",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("project_key", sa.String(32), nullable=False),
        sa.Column("summary", sa.Text, nullable=False),
        sa.Column("description", sa.Text, nullable=False),
        sa.Column("issue_type", sa.String(64), nullable=False),
        sa.Column("status", sa.String(32), nullable=False),
        sa.Column("labels", sa.JSON, nullable=False),
        sa.Column("priority", sa.String(32), nullable=True),
        sa.Column("fields", sa.JSON, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_local_tickets_project", "local_tickets", ["project_key"])
    op.create_table(
        "local_ticket_comments",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column(
            "ticket_id", sa.Integer, sa.ForeignKey("local_tickets.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column("body", sa.Text, nullable=False),
        sa.Column("author", sa.String(200), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_local_ticket_comments_ticket", "local_ticket_comments", ["ticket_id"])
    op.create_table(
        "local_ticket_links",
        sa.Column("from_id", sa.Integer, sa.ForeignKey("local_tickets.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("to_id", sa.Integer, sa.ForeignKey("local_tickets.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("link_type", sa.String(64), primary_key=True),
    )


def downgrade() -> None:
    op.drop_table("local_ticket_links")
    op.drop_table("local_ticket_comments")
    op.drop_table("local_tickets")
    op.drop_table("ticket_ledger")
