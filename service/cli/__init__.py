"""The ``ticketsmith`` command: thin over the same container, dispatcher and handlers as the service.

Every command takes ``--json`` for machine-readable output and exits non-zero on failure: 1 when the work
failed or found problems, 2 when the command could not run as asked (bad input or configuration).
"""

from __future__ import annotations

from service.cli import actions, agent, check, db, eval, jira, jobs, knowledge, runs, scan, schemas, serve, suggest
from service.cli._common import app

__all__ = [
    "actions",
    "agent",
    "app",
    "check",
    "db",
    "eval",
    "jira",
    "jobs",
    "knowledge",
    "main",
    "runs",
    "scan",
    "schemas",
    "serve",
    "suggest",
]


def main() -> None:
    """Console-script entry point."""
    app()
