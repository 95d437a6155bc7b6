"""One contract for :class:`ActionCallLog`, run against every implementation: in-memory, SQLite, PostgreSQL."""

from __future__ import annotations

import threading
import uuid
from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy import Engine

from service.adapters.storage.action_calls import SqlActionCallLog
from service.adapters.storage.memory import InMemoryActionCallLog
from service.domain.action_calls import ActionCall, Trigger
from service.errors import InvalidInput, NotFound
from service.ports.action_call_log import ActionCallLog

T0 = datetime(2026, 11, 24, 12, 0, 0, 123456, tzinfo=UTC)


@pytest.fixture
def call_log(database: Engine | None) -> ActionCallLog:
    return InMemoryActionCallLog() if database is None else SqlActionCallLog(database)


def make_call(offset_seconds: float = 0, *, group: str = "system", **changes: object) -> ActionCall:
    values: dict[str, object] = {
        "id": uuid.uuid4().hex,
        "trigger": Trigger.BEDROCK,
        "action_group": group,
        "operation_id": "getServiceInfo",
        "principal": "chat-bot",
        "status_code": 200,
        "error_code": None,
        "duration_ms": 1.25,
        "session_id": "session-1",
        "started_at": T0 + timedelta(seconds=offset_seconds),
    }
    values.update(changes)
    return ActionCall(**values)  # type: ignore[arg-type]


def test_record_then_get_round_trips_every_field(call_log: ActionCallLog) -> None:
    call = make_call(status_code=422, error_code="validation_failed", session_id=None, trigger=Trigger.LAMBDA)
    call_log.record(call)
    assert call_log.get(call_id=call.id) == call
    assert call_log.get(call_id=call.id).started_at.tzinfo is not None


def test_non_utc_times_come_back_as_the_same_instant(call_log: ActionCallLog) -> None:
    call = make_call(started_at=datetime(2026, 11, 24, 14, 0, tzinfo=UTC).astimezone(timezone(timedelta(hours=2))))
    call_log.record(call)
    assert call_log.get(call_id=call.id).started_at == datetime(2026, 11, 24, 14, 0, tzinfo=UTC)


def test_record_is_idempotent(call_log: ActionCallLog) -> None:
    call = make_call()
    call_log.record(call)
    call_log.record(call)
    assert [c.id for c in call_log.recent()] == [call.id]


def test_recent_is_newest_first_and_limited(call_log: ActionCallLog) -> None:
    calls = [make_call(offset) for offset in (5, 1, 3, 2, 4)]
    for call in calls:
        call_log.record(call)
    newest = sorted(calls, key=lambda c: c.started_at, reverse=True)
    assert [c.id for c in call_log.recent(limit=3)] == [c.id for c in newest[:3]]
    assert len(call_log.recent(limit=1000)) == 5


def test_recent_filters_by_group(call_log: ActionCallLog) -> None:
    jira = make_call(1, group="jira")
    call_log.record(jira)
    call_log.record(make_call(2))
    assert [c.id for c in call_log.recent(action_group="jira")] == [jira.id]
    assert call_log.recent(action_group="nothing") == []


def test_get_unknown_raises_not_found(call_log: ActionCallLog) -> None:
    with pytest.raises(NotFound, match="no action call 'missing'"):
        call_log.get(call_id="missing")


@pytest.mark.parametrize("limit", [0, -1, 1001])
def test_limit_out_of_range_is_invalid_input(call_log: ActionCallLog, limit: int) -> None:
    with pytest.raises(InvalidInput):
        call_log.recent(limit=limit)


def test_concurrent_records_are_all_kept(call_log: ActionCallLog) -> None:
    calls = [make_call(i / 1000) for i in range(80)]
    errors: list[BaseException] = []

    def write(part: list[ActionCall]) -> None:
        try:
            for call in part:
                call_log.record(call)
        except BaseException as exc:  # surfaced by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(calls[i::8],)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert {c.id for c in call_log.recent(limit=1000)} == {c.id for c in calls}


def test_record_many_stores_a_batch_and_ignores_duplicates(call_log: ActionCallLog) -> None:
    first = make_call(1)
    call_log.record_many([first, make_call(2)])
    assert len(call_log.recent()) == 2
    call_log.record_many([first])  # a duplicate inside a batch is ignored, like record()
    assert len(call_log.recent()) == 2
    call_log.record_many([])
    assert len(call_log.recent()) == 2


def test_prune_deletes_only_older_calls(call_log: ActionCallLog) -> None:
    old, edge, new = make_call(-10), make_call(0), make_call(10)
    call_log.record_many([old, edge, new])
    assert call_log.prune(before=T0) == 1
    assert {c.id for c in call_log.recent()} == {edge.id, new.id}
    assert call_log.prune(before=T0) == 0
