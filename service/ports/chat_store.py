"""Port: where chat sessions and their messages are kept (the service database)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Protocol

from service.domain.chat import ChatMessage, ChatRole, ChatSession


class ChatStore(Protocol):
    """Sessions and messages. Safe for many requests in many processes at once."""

    def open(self, *, session_id: str, principal: str, now: datetime) -> ChatSession:
        """The session ``session_id``, created for ``principal`` if it does not exist (idempotent). Raises
        :class:`service.errors.Forbidden` when it exists and belongs to another principal."""
        ...

    def get(self, *, session_id: str) -> ChatSession:
        """The session. Raises :class:`service.errors.NotFound`."""
        ...

    def append(
        self,
        *,
        session_id: str,
        role: ChatRole,
        text: str,
        run_id: str | None,
        citations: tuple[dict[str, Any], ...] = (),
        now: datetime,
    ) -> ChatMessage:
        """Add a message after the session's last one and return it with its sequence. Raises
        :class:`service.errors.NotFound` for an unknown session."""
        ...

    def messages(self, *, session_id: str, limit: int = 50) -> list[ChatMessage]:
        """The session's newest ``limit`` messages (1..1000), oldest first; empty for an unknown session."""
        ...
