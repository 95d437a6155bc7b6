"""An audit record of one action-group call, whichever way it arrived."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum


class Trigger(StrEnum):
    """How a call (or a run) reached the service; each trigger has its own allow-list of actions."""

    REST = "rest"
    BEDROCK = "bedrock"
    LAMBDA = "lambda"
    CLI = "cli"
    CHAT = "chat"
    JIRA_WEBHOOK = "jira"


@dataclass(frozen=True, slots=True)
class ActionCall:
    """One finished call of an action-group operation.

    ``status_code`` is the HTTP-style outcome (200 on success, the error's status otherwise) and
    ``error_code`` the stable error token when it failed. ``principal`` is the API key's name, never the key.
    """

    id: str
    trigger: Trigger
    action_group: str
    operation_id: str
    principal: str
    status_code: int
    error_code: str | None
    duration_ms: float
    session_id: str | None
    started_at: datetime
