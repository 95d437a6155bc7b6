"""Chat sessions: a caller's conversation with the service, kept across restarts, one run per turn."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

ChatRole = Literal["user", "assistant"]


@dataclass(frozen=True, slots=True)
class ChatSession:
    """A conversation named by the caller's ``id``; it belongs to the API key (``principal``) that opened it."""

    id: str
    principal: str
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class ChatMessage:
    """One message of a session, in ``sequence`` order (0, 1, 2, ...).

    ``citations`` are the code locations an answer rests on (``path``, ``start_line``, ``end_line``, ``symbol``,
    ``commit``); ``run_id`` is the run of the turn the message belongs to (its trace is that run's).
    """

    session_id: str
    sequence: int
    role: ChatRole
    text: str
    run_id: str | None
    created_at: datetime
    citations: tuple[dict[str, Any], ...] = field(default=())
