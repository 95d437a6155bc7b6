"""The call recorder: batches off the request path, readers see their own writes, bounded when the store fails."""

from __future__ import annotations

import time
from collections.abc import Sequence

import pytest

from service.action_groups.audit import CallRecorder
from service.adapters.storage.memory import InMemoryActionCallLog
from service.domain.action_calls import ActionCall
from tests.contract.test_action_call_log import make_call


class FlakyLog(InMemoryActionCallLog):
    """A real in-memory log whose writes fail while ``down`` is set."""

    def __init__(self) -> None:
        super().__init__()
        self.down = False
        self.batches: list[int] = []

    def record_many(self, calls: Sequence[ActionCall]) -> None:
        if self.down:
            raise ConnectionError("database unreachable")
        self.batches.append(len(calls))
        super().record_many(calls)


def test_flush_writes_everything_in_one_batch() -> None:
    log = FlakyLog()
    recorder = CallRecorder(log, flush_interval=3600)
    calls = [make_call(i) for i in range(25)]
    for call in calls:
        recorder.submit(call)
    assert log.recent(limit=100) == []
    recorder.flush()
    assert log.batches == [25]
    assert {c.id for c in log.recent(limit=100)} == {c.id for c in calls}
    recorder.close()


def test_background_thread_writes_without_a_reader() -> None:
    log = FlakyLog()
    recorder = CallRecorder(log, flush_interval=0.01)
    call = make_call()
    recorder.submit(call)
    deadline = time.monotonic() + 5
    while not log.batches and time.monotonic() < deadline:
        time.sleep(0.01)
    assert log.get(call_id=call.id) == call
    recorder.close()


def test_failed_writes_are_kept_and_retried() -> None:
    log = FlakyLog()
    recorder = CallRecorder(log, flush_interval=3600)
    log.down = True
    call = make_call()
    recorder.submit(call)
    with pytest.raises(ConnectionError):
        recorder.flush()
    log.down = False
    recorder.flush()
    assert log.get(call_id=call.id) == call
    recorder.close()


def test_buffer_is_bounded_and_drops_the_oldest() -> None:
    log = FlakyLog()
    recorder = CallRecorder(log, max_pending=3, flush_interval=3600)
    calls = [make_call(i) for i in range(5)]
    for call in calls:
        recorder.submit(call)
    assert recorder.dropped == 2
    recorder.flush()
    assert {c.id for c in log.recent()} == {c.id for c in calls[2:]}
    recorder.close()


def test_close_writes_what_is_left() -> None:
    log = FlakyLog()
    recorder = CallRecorder(log, flush_interval=3600)
    call = make_call()
    recorder.submit(call)
    recorder.close()
    recorder.close()
    assert log.get(call_id=call.id) == call
