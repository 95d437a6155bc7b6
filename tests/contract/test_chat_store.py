"""One contract for :class:`ChatStore`, run against every implementation: in-memory, SQLite, PostgreSQL."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine

from service.adapters.storage.chat import SqlChatStore
from service.adapters.storage.memory_chat import InMemoryChatStore
from service.errors import Forbidden, InvalidInput, NotFound
from service.ports.chat_store import ChatStore

T0 = datetime(2026, 12, 2, 9, 0, 0, 123456, tzinfo=UTC)
CITATION = {"path": "lexer.py", "start_line": 1, "end_line": 4, "symbol": "tokenize", "commit": "a" * 40}


@pytest.fixture
def store(database: Engine | None) -> ChatStore:
    return InMemoryChatStore() if database is None else SqlChatStore(database)


def test_open_is_idempotent_and_keeps_the_owner(store: ChatStore) -> None:
    first = store.open(session_id="s1", principal="ana", now=T0)
    again = store.open(session_id="s1", principal="ana", now=T0 + timedelta(minutes=5))
    assert (again.id, again.principal, again.created_at) == ("s1", "ana", T0)
    assert first.created_at == T0
    with pytest.raises(Forbidden, match="another API key"):
        store.open(session_id="s1", principal="ben", now=T0)
    assert store.get(session_id="s1").principal == "ana"
    with pytest.raises(NotFound, match="no chat session 'nope'"):
        store.get(session_id="nope")


def test_messages_keep_their_order_text_citations_and_run(store: ChatStore) -> None:
    store.open(session_id="s1", principal="ana", now=T0)
    asked = store.append(session_id="s1", role="user", text="Where?", run_id="r1", now=T0)
    answered = store.append(
        session_id="s1", role="assistant", text="lexer.py \u00e9 \U0001f600", run_id="r1", citations=(CITATION,), now=T0
    )
    assert (asked.sequence, answered.sequence) == (0, 1)
    listed = store.messages(session_id="s1")
    assert [(m.sequence, m.role, m.text, m.run_id) for m in listed] == [
        (0, "user", "Where?", "r1"),
        (1, "assistant", "lexer.py \u00e9 \U0001f600", "r1"),
    ]
    assert listed[1].citations == (CITATION,)
    assert listed[0].created_at == T0
    assert [m.sequence for m in store.messages(session_id="s1", limit=1)] == [1], "the newest, oldest first"
    assert store.messages(session_id="other") == []
    with pytest.raises(InvalidInput):
        store.messages(session_id="s1", limit=0)
    with pytest.raises(NotFound):
        store.append(session_id="nope", role="user", text="x", run_id=None, now=T0)


def test_concurrent_appends_get_distinct_sequences(store: ChatStore) -> None:
    store.open(session_id="s1", principal="ana", now=T0)

    def add(n: int) -> None:
        for i in range(5):
            store.append(session_id="s1", role="user", text=f"{n}-{i}", run_id=None, now=T0)

    threads = [threading.Thread(target=add, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert [m.sequence for m in store.messages(session_id="s1")] == list(range(20))
