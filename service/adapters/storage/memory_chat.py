"""In-memory chat store: the fake for tests and for commands that never serve."""

from __future__ import annotations

import threading
from datetime import datetime
from typing import Any

from service.domain.chat import ChatMessage, ChatRole, ChatSession
from service.errors import Forbidden, InvalidInput, NotFound


class InMemoryChatStore:
    """:class:`service.ports.chat_store.ChatStore` in dicts; thread-safe; lost on exit."""

    def __init__(self) -> None:
        self._sessions: dict[str, ChatSession] = {}
        self._messages: dict[str, list[ChatMessage]] = {}
        self._lock = threading.Lock()

    def open(self, *, session_id: str, principal: str, now: datetime) -> ChatSession:
        with self._lock:
            session = self._sessions.setdefault(
                session_id, ChatSession(id=session_id, principal=principal, created_at=now, updated_at=now)
            )
            self._messages.setdefault(session_id, [])
        if session.principal != principal:
            raise Forbidden(f"chat session {session_id!r} belongs to another API key", hint="use a new sessionId")
        return session

    def get(self, *, session_id: str) -> ChatSession:
        with self._lock:
            session = self._sessions.get(session_id)
        if session is None:
            raise NotFound(
                f"no chat session {session_id!r}", hint="start one by sending a message with a new sessionId"
            )
        return session

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
        self.get(session_id=session_id)
        with self._lock:
            messages = self._messages[session_id]
            message = ChatMessage(
                session_id=session_id,
                sequence=len(messages),
                role=role,
                text=text,
                run_id=run_id,
                created_at=now,
                citations=tuple(dict(c) for c in citations),
            )
            messages.append(message)
            session = self._sessions[session_id]
            self._sessions[session_id] = ChatSession(session.id, session.principal, session.created_at, now)
        return message

    def messages(self, *, session_id: str, limit: int = 50) -> list[ChatMessage]:
        if not 1 <= limit <= 1000:
            raise InvalidInput(f"limit must be between 1 and 1000, not {limit}")
        with self._lock:
            return list(self._messages.get(session_id, [])[-limit:])
