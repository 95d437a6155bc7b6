"""Audit log of action-group calls.

Revision ID: 0001
Revises:
Create Date: 2026-11-24
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "action_calls",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("trigger", sa.String(16), nullable=False),
        sa.Column("action_group", sa.String(100), nullable=False),
        sa.Column("operation_id", sa.String(64), nullable=False),
        sa.Column("principal", sa.String(200), nullable=False),
        sa.Column("status_code", sa.Integer, nullable=False),
        sa.Column("error_code", sa.String(64), nullable=True),
        sa.Column("duration_ms", sa.Float, nullable=False),
        sa.Column("session_id", sa.String(200), nullable=True),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_action_calls_started_at", "action_calls", ["started_at"])
    op.create_index("ix_action_calls_group_started_at", "action_calls", ["action_group", "started_at"])


def downgrade() -> None:
    op.drop_table("action_calls")
