"""One contract for :class:`RunStore`, run against every implementation: in-memory, SQLite, PostgreSQL."""

from __future__ import annotations

import threading
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine

from service.adapters.storage.memory_runs import InMemoryRunStore
from service.adapters.storage.runs import SqlRunStore
from service.domain.action_calls import Trigger
from service.domain.runs import Budget, Run, RunState, Span, SpanKind, Usage
from service.errors import Conflict, InvalidInput, NotFound
from service.ports.run_store import RunStore

T0 = datetime(2026, 12, 2, 9, 0, 0, 123456, tzinfo=UTC)


@pytest.fixture
def store(database: Engine | None) -> RunStore:
    return InMemoryRunStore() if database is None else SqlRunStore(database)


def _run(run_id: str = "r1", *, workflow: str = "scan", minutes: int = 0, **changes: object) -> Run:
    run = Run(
        id=run_id,
        workflow=workflow,
        state=RunState.QUEUED,
        trigger=Trigger.CLI,
        principal="cli",
        repository="ticketsmith",
        parameters={"since": "HEAD~3", "paths": ["service/", "tests/"], "dry_run": True},
        budget=Budget(max_steps=10, max_tokens=5000, max_seconds=60.5, max_tickets=2),
        usage=Usage(),
        step=None,
        checkpoint={},
        result=None,
        error=None,
        planner="deterministic",
        version=0,
        created_at=T0 + timedelta(minutes=minutes),
        updated_at=T0 + timedelta(minutes=minutes),
    )
    return replace(run, **changes)  # type: ignore[arg-type]


def _span(sequence: int, *, run_id: str = "r1", kind: SpanKind = SpanKind.TOOL, name: str = "x") -> Span:
    return Span(
        run_id=run_id,
        sequence=sequence,
        trace_id=f"{run_id}-0",
        kind=kind,
        name=name,
        started_at=T0 + timedelta(milliseconds=sequence),
        duration_ms=1.25 * sequence,
        attributes={"action": "codebase.searchCode", "input": {"query": "déjà vu", "k": 5}, "n": [sequence]},
    )


def test_create_then_get_round_trips_every_field(store: RunStore) -> None:
    run = _run(
        checkpoint={"synced": True, "findings": [1, 2]},
        usage=Usage(steps=2, input_tokens=10, output_tokens=3, tickets=1, seconds=1.23456),
        step="check",
        dedup_key="jira:evt-1",
    )
    assert store.create(run) == run
    assert store.get("r1") == run


def test_create_with_a_known_dedup_key_returns_the_existing_run(store: RunStore) -> None:
    first = store.create(_run("r1", dedup_key="jira:evt-1"))
    again = store.create(_run("r2", dedup_key="jira:evt-1", parameters={"other": 1}))
    assert again == first
    assert [run.id for run in store.list()] == ["r1"]
    finished = store.save(replace(first, state=RunState.SUCCEEDED, finished_at=T0))
    assert store.create(_run("r3", dedup_key="jira:evt-1")) == finished


def test_create_with_a_known_id_is_a_conflict(store: RunStore) -> None:
    store.create(_run("r1"))
    with pytest.raises(Conflict):
        store.create(_run("r1", workflow="suggest"))
    with pytest.raises(Conflict):
        store.create(_run("r1", dedup_key="fresh"))
    assert store.get("r1").workflow == "scan"


def test_get_unknown_run_is_not_found(store: RunStore) -> None:
    with pytest.raises(NotFound):
        store.get("nope")


def test_save_bumps_the_version_and_stores_the_changes(store: RunStore) -> None:
    run = store.create(_run())
    running = replace(
        run,
        state=RunState.RUNNING,
        step="triage",
        checkpoint={"findings": [{"path": "a.py", "line": 3}]},
        usage=Usage(steps=1, input_tokens=100, output_tokens=20, seconds=0.5),
        updated_at=T0 + timedelta(seconds=5),
    )
    saved = store.save(running)
    assert saved == replace(running, version=1)
    assert store.get(run.id) == saved
    done = store.save(replace(saved, state=RunState.SUCCEEDED, result={"tickets": ["T-1"]}, finished_at=T0))
    assert (done.version, done.result, done.finished_at) == (2, {"tickets": ["T-1"]}, T0)


def test_saving_a_stale_copy_is_a_conflict(store: RunStore) -> None:
    run = store.create(_run())
    first, second = store.get(run.id), store.get(run.id)
    store.save(replace(first, step="a"))
    with pytest.raises(Conflict):
        store.save(replace(second, step="b"))
    assert (store.get(run.id).step, store.get(run.id).version) == ("a", 1)


def test_saving_an_unknown_run_is_not_found(store: RunStore) -> None:
    with pytest.raises(NotFound):
        store.save(_run("ghost"))


def test_concurrent_saves_of_one_copy_let_exactly_one_win(store: RunStore) -> None:
    run = store.create(_run())
    barrier = threading.Barrier(2)
    outcomes: list[str] = []
    lock = threading.Lock()

    def save(step: str) -> None:
        barrier.wait()
        try:
            store.save(replace(run, step=step))
            outcome = "won"
        except Conflict:
            outcome = "conflict"
        with lock:
            outcomes.append(outcome)

    for _ in range(5):  # a few rounds, each from the then-current copy
        run = store.get(run.id)
        outcomes.clear()
        threads = [threading.Thread(target=save, args=(f"s{i}",)) for i in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert sorted(outcomes) == ["conflict", "won"]
    assert store.get(run.id).version == 5


def test_list_is_newest_first_with_filters(store: RunStore) -> None:
    store.create(_run("a", minutes=0))
    store.create(_run("b", minutes=1, workflow="suggest"))
    store.create(_run("c", minutes=2, state=RunState.RUNNING))
    store.create(_run("d", minutes=3, workflow="suggest", state=RunState.RUNNING))
    assert [run.id for run in store.list()] == ["d", "c", "b", "a"]
    assert [run.id for run in store.list(limit=2)] == ["d", "c"]
    assert [run.id for run in store.list(state=RunState.RUNNING)] == ["d", "c"]
    assert [run.id for run in store.list(workflow="suggest")] == ["d", "b"]
    assert [run.id for run in store.list(state=RunState.QUEUED, workflow="suggest")] == ["b"]
    assert store.list(state=RunState.FAILED) == []
    assert [run.id for run in store.list(limit=1000)] == ["d", "c", "b", "a"]


@pytest.mark.parametrize("limit", [0, -1, 1001])
def test_list_limit_out_of_bounds_is_invalid_input(store: RunStore, limit: int) -> None:
    with pytest.raises(InvalidInput):
        store.list(limit=limit)


def test_spans_come_back_in_sequence_order(store: RunStore) -> None:
    store.create(_run())
    store.append_spans([_span(2), _span(0)])
    store.append_spans([_span(1, kind=SpanKind.MODEL, name="chat"), _span(3, kind=SpanKind.STEP)])
    spans = store.spans("r1")
    assert [span.sequence for span in spans] == [0, 1, 2, 3]
    assert spans[0] == _span(0)
    assert (spans[1].kind, spans[1].name, spans[3].kind) == (SpanKind.MODEL, "chat", SpanKind.STEP)
    assert [span.sequence for span in store.spans("r1", after_sequence=1)] == [2, 3]
    assert [span.sequence for span in store.spans("r1", after_sequence=0, limit=2)] == [1, 2]
    assert store.spans("r1", after_sequence=3) == []
    assert store.spans("other") == []


def test_appending_a_span_again_is_ignored(store: RunStore) -> None:
    store.create(_run())
    store.append_spans([_span(0), _span(1)])
    store.append_spans([_span(1, name="again"), _span(2)])
    store.append_spans([_span(3), _span(3, name="twice in one call")])
    store.append_spans([])
    spans = store.spans("r1")
    assert [(span.sequence, span.name) for span in spans] == [(0, "x"), (1, "x"), (2, "x"), (3, "x")]


def test_spans_of_runs_are_kept_apart(store: RunStore) -> None:
    store.create(_run("r1"))
    store.create(_run("r2", minutes=1))
    store.append_spans([_span(0, run_id="r1"), _span(0, run_id="r2", name="other"), _span(1, run_id="r2")])
    assert [span.name for span in store.spans("r2")] == ["other", "x"]
    assert len(store.spans("r1")) == 1


def test_values_the_database_cannot_hold_are_refused_or_kept_never_a_crash(store: RunStore) -> None:
    run = store.create(_run())
    long_principal = _run("r2", principal="p" * 500)
    if isinstance(store, SqlRunStore) and store.dialect == "postgresql":  # the others keep the value
        with pytest.raises(InvalidInput, match="too long"):
            store.create(long_principal)
    else:
        assert store.create(long_principal).principal == "p" * 500
    saved = store.save(replace(run, error="boom\x00after", step="a\x00b"))
    assert store.get("r1").error in ("boom\x00after", "boom\ufffdafter")
    assert saved.version == 1
    store.append_spans([_span(0, name="nul\x00name")])
    assert store.spans("r1")[0].name in ("nul\x00name", "nul\ufffdname")
    with pytest.raises(NotFound):
        store.get("r\x001")
    assert store.spans("r\x001") == []
    assert store.list(workflow="sc\x00an") == []
