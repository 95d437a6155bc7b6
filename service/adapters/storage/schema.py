"""The tables of the service database. Alembic migrations in ``migrations/`` must match this metadata."""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    Column,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
)

metadata = MetaData()

action_calls = Table(
    "action_calls",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("trigger", String(16), nullable=False),
    Column("action_group", String(100), nullable=False),
    Column("operation_id", String(64), nullable=False),
    Column("principal", String(200), nullable=False),
    Column("status_code", Integer, nullable=False),
    Column("error_code", String(64), nullable=True),
    Column("duration_ms", Float, nullable=False),
    Column("session_id", String(200), nullable=True),
    Column("started_at", DateTime(timezone=True), nullable=False),
    Index("ix_action_calls_started_at", "started_at"),
    Index("ix_action_calls_group_started_at", "action_group", "started_at"),
)

jobs = Table(
    "jobs",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("kind", String(100), nullable=False),
    Column("payload", JSON, nullable=False),
    Column("state", String(16), nullable=False),
    Column("attempts", Integer, nullable=False),
    Column("max_attempts", Integer, nullable=False),
    Column("dedup_key", String(200), nullable=True, unique=True),
    Column("run_after", DateTime(timezone=True), nullable=False),
    Column("lease_owner", String(200), nullable=True),
    Column("lease_expires_at", DateTime(timezone=True), nullable=True),
    Column("last_error", Text, nullable=True),
    Column("result", JSON, nullable=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Index("ix_jobs_due", "state", "run_after"),
)

check_runs = Table(
    "check_runs",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("root", Text, nullable=False),
    Column("commit", String(64), nullable=True),
    Column("since", String(200), nullable=True),
    Column("files_checked", Integer, nullable=False),
    Column("findings_count", Integer, nullable=False),
    Column("seconds", Float, nullable=False),
    Column("skipped", JSON, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
)

findings = Table(
    "findings",
    metadata,
    Column("run_id", String(64), ForeignKey("check_runs.id", ondelete="CASCADE"), primary_key=True),
    Column("seq", Integer, primary_key=True),
    Column("severity_rank", Integer, nullable=False),
    Column("rule_id", String(200), nullable=False),
    Column("tool", String(64), nullable=False),
    Column("category", String(32), nullable=False),
    Column("severity", String(16), nullable=False),
    Column("path", Text, nullable=False),
    Column("start_line", Integer, nullable=False),
    Column("end_line", Integer, nullable=False),
    Column("symbol", Text, nullable=False),
    Column("message", Text, nullable=False),
    Column("snippet", Text, nullable=False),
    Column("fingerprint", String(64), nullable=False),
    Column("help_url", Text, nullable=True),
    Index("ix_findings_fingerprint", "fingerprint"),
)

ticket_ledger = Table(
    "ticket_ledger",
    metadata,
    Column("fingerprint", String(64), primary_key=True),
    Column("state", String(16), nullable=False),
    Column("ticket_key", String(64), nullable=True),
    Column("claimed_by", String(200), nullable=False),
    Column("claimed_at", DateTime(timezone=True), nullable=False),
    Column("content_hash", String(64), nullable=True),
)

local_tickets = Table(
    "local_tickets",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("project_key", String(32), nullable=False),
    Column("summary", Text, nullable=False),
    Column("description", Text, nullable=False),
    Column("issue_type", String(64), nullable=False),
    Column("status", String(32), nullable=False),
    Column("labels", JSON, nullable=False),
    Column("priority", String(32), nullable=True),
    Column("fields", JSON, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Index("ix_local_tickets_project", "project_key"),
)

local_ticket_comments = Table(
    "local_ticket_comments",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("ticket_id", Integer, ForeignKey("local_tickets.id", ondelete="CASCADE"), nullable=False),
    Column("body", Text, nullable=False),
    Column("author", String(200), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Index("ix_local_ticket_comments_ticket", "ticket_id"),
)

local_ticket_links = Table(
    "local_ticket_links",
    metadata,
    Column("from_id", Integer, ForeignKey("local_tickets.id", ondelete="CASCADE"), primary_key=True),
    Column("to_id", Integer, ForeignKey("local_tickets.id", ondelete="CASCADE"), primary_key=True),
    Column("link_type", String(64), primary_key=True),
)

runs = Table(
    "runs",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("workflow", String(100), nullable=False),
    Column("state", String(16), nullable=False),
    Column("trigger", String(16), nullable=False),
    Column("principal", String(200), nullable=False),
    Column("repository", Text, nullable=True),
    Column("parameters", JSON, nullable=False),
    Column("budget", JSON, nullable=False),
    Column("usage", JSON, nullable=False),
    Column("step", String(100), nullable=True),
    Column("checkpoint", JSON, nullable=False),
    Column("result", JSON, nullable=True),
    Column("error", Text, nullable=True),
    Column("planner", String(200), nullable=False),
    Column("version", Integer, nullable=False),
    Column("dedup_key", String(200), nullable=True, unique=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Column("finished_at", DateTime(timezone=True), nullable=True),
    Index("ix_runs_created_at", "created_at"),
    Index("ix_runs_state_created_at", "state", "created_at"),
    Index("ix_runs_workflow_created_at", "workflow", "created_at"),
)

# No foreign key to runs: the port lets spans arrive for any run id (the in-memory store does not check either).
run_spans = Table(
    "run_spans",
    metadata,
    Column("run_id", String(64), primary_key=True),
    Column("sequence", Integer, primary_key=True),
    Column("trace_id", String(200), nullable=False),
    Column("kind", String(16), nullable=False),
    Column("name", Text, nullable=False),
    Column("started_at", DateTime(timezone=True), nullable=False),
    Column("duration_ms", Float, nullable=False),
    Column("status", String(16), nullable=False),
    Column("attributes", JSON, nullable=False),
)

chat_sessions = Table(
    "chat_sessions",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("principal", String(200), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)

chat_messages = Table(
    "chat_messages",
    metadata,
    Column("session_id", String(64), ForeignKey("chat_sessions.id", ondelete="CASCADE"), primary_key=True),
    Column("sequence", Integer, primary_key=True),
    Column("role", String(16), nullable=False),
    Column("text", Text, nullable=False),
    Column("citations", JSON, nullable=False),
    Column("run_id", String(64), nullable=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
)
