"""Chat sessions and messages on SQLite or PostgreSQL.

A message's sequence is the session's last plus one, chosen inside the write transaction; two appends racing on
PostgreSQL collide on the (session_id, sequence) key and the loser tries again with the next number.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine, func, select, update
from sqlalchemy.exc import DataError, IntegrityError

from service.adapters.storage.engine import utc, write_transaction
from service.adapters.storage.schema import chat_messages, chat_sessions
from service.domain.chat import ChatMessage, ChatRole, ChatSession
from service.errors import Conflict, Forbidden, InvalidInput, NotFound

_APPEND_ATTEMPTS = 5


def _text(value: str) -> str:
    """PostgreSQL text cannot hold NUL; both dialects store U+FFFD for it so they agree."""
    return value.replace("\x00", "\ufffd")


def _session(row: Any) -> ChatSession:
    return ChatSession(
        id=row.id, principal=row.principal, created_at=utc(row.created_at), updated_at=utc(row.updated_at)
    )


def _message(row: Any) -> ChatMessage:
    return ChatMessage(
        session_id=row.session_id,
        sequence=row.sequence,
        role=row.role,
        text=row.text,
        run_id=row.run_id,
        created_at=utc(row.created_at),
        citations=tuple(dict(c) for c in row.citations),
    )


def _not_found(session_id: str) -> NotFound:
    return NotFound(f"no chat session {session_id!r}", hint="start one by sending a message with a new sessionId")


class SqlChatStore:
    """:class:`service.ports.chat_store.ChatStore` on a SQLAlchemy engine (SQLite or PostgreSQL)."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def open(self, *, session_id: str, principal: str, now: datetime) -> ChatSession:
        if "\x00" in session_id:
            raise InvalidInput("a session id cannot hold NUL characters")
        for _ in range(_APPEND_ATTEMPTS):
            try:
                with write_transaction(self._engine) as connection:
                    row = connection.execute(select(chat_sessions).where(chat_sessions.c.id == session_id)).first()
                    if row is None:
                        values = {"id": session_id, "principal": _text(principal), "created_at": now.astimezone(UTC)}
                        connection.execute(chat_sessions.insert().values(**values, updated_at=values["created_at"]))
                        row = connection.execute(select(chat_sessions).where(chat_sessions.c.id == session_id)).one()
            except IntegrityError:
                continue  # created by a concurrent first message: read it
            except DataError as exc:
                raise InvalidInput(f"the session cannot be stored: {str(exc.orig).splitlines()[0]}") from None
            session = _session(row)
            if session.principal != principal:
                raise Forbidden(f"chat session {session_id!r} belongs to another API key", hint="use a new sessionId")
            return session
        raise Conflict(f"chat session {session_id!r} kept changing while it was being opened", hint="try again")

    def get(self, *, session_id: str) -> ChatSession:
        if "\x00" in session_id:
            raise _not_found(session_id)
        with self._engine.connect() as connection:
            row = connection.execute(select(chat_sessions).where(chat_sessions.c.id == session_id)).first()
        if row is None:
            raise _not_found(session_id)
        return _session(row)

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
        at = now.astimezone(UTC)
        for _ in range(_APPEND_ATTEMPTS):
            try:
                with write_transaction(self._engine) as connection:
                    touched = connection.execute(
                        update(chat_sessions).where(chat_sessions.c.id == session_id).values(updated_at=at)
                    ).rowcount
                    if not touched:
                        raise _not_found(session_id)
                    last = connection.execute(
                        select(func.max(chat_messages.c.sequence)).where(chat_messages.c.session_id == session_id)
                    ).scalar()
                    sequence = 0 if last is None else int(last) + 1
                    values: dict[str, Any] = {
                        "session_id": session_id,
                        "sequence": sequence,
                        "role": role,
                        "text": _text(text),
                        "citations": [dict(c) for c in citations],
                        "run_id": run_id,
                        "created_at": at,
                    }
                    connection.execute(chat_messages.insert().values(**values))
            except IntegrityError:
                continue  # another message took this sequence: take the next
            return ChatMessage(
                session_id=session_id,
                sequence=sequence,
                role=role,
                text=_text(text),
                run_id=run_id,
                created_at=at,
                citations=tuple(dict(c) for c in citations),
            )
        raise Conflict(f"chat session {session_id!r} is busy", hint="try again")

    def messages(self, *, session_id: str, limit: int = 50) -> list[ChatMessage]:
        if not 1 <= limit <= 1000:
            raise InvalidInput(f"limit must be between 1 and 1000, not {limit}")
        if "\x00" in session_id:
            return []
        query = (
            select(chat_messages)
            .where(chat_messages.c.session_id == session_id)
            .order_by(chat_messages.c.sequence.desc())
            .limit(limit)
        )
        with self._engine.connect() as connection:
            rows = list(connection.execute(query))
        return [_message(row) for row in reversed(rows)]
