"""Workflow runs and the spans of their traces.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "runs",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("workflow", sa.String(100), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("trigger", sa.String(16), nullable=False),
        sa.Column("principal", sa.String(200), nullable=False),
        sa.Column("repository", sa.Text, nullable=True),
        sa.Column("parameters", sa.JSON, nullable=False),
        sa.Column("budget", sa.JSON, nullable=False),
        sa.Column("usage", sa.JSON, nullable=False),
        sa.Column("step", sa.String(100), nullable=True),
        sa.Column("checkpoint", sa.JSON, nullable=False),
        sa.Column("result", sa.JSON, nullable=True),
        sa.Column("error", sa.Text, nullable=True),
        sa.Column("planner", sa.String(200), nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("dedup_key", sa.String(200), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.UniqueConstraint("dedup_key"),
    )
    op.create_index("ix_runs_created_at", "runs", ["created_at"])
    op.create_index("ix_runs_state_created_at", "runs", ["state", "created_at"])
    op.create_index("ix_runs_workflow_created_at", "runs", ["workflow", "created_at"])
    op.create_table(
        "run_spans",
        sa.Column("run_id", sa.String(64), primary_key=True),
        sa.Column("sequence", sa.Integer, primary_key=True),
        sa.Column("trace_id", sa.String(200), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("duration_ms", sa.Float, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("attributes", sa.JSON, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("run_spans")
    op.drop_table("runs")
