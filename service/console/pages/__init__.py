"""The console's pages, each module one concern; importing this package registers their routes."""

from __future__ import annotations

from service.console.pages import auth, confirmations, findings, knowledge, runs, static, tickets
from service.console.routing import router

__all__ = ["auth", "confirmations", "findings", "knowledge", "router", "runs", "static", "tickets"]
