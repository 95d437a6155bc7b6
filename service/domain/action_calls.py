"""An audit record of one action-group call, whichever way it arrived."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum


class Trigger(StrEnum):
    """How a call reached the handlers."""

    REST = "rest"
    BEDROCK = "bedrock"
    LAMBDA = "lambda"
    CLI = "cli"


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
