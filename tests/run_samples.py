"""A finished run with one span of every kind, recorded through the real TraceRecorder, for the trace tests."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta

from service.domain.action_calls import Trigger
from service.domain.runs import Budget, Run, RunState, Usage
from service.ports.run_store import RunStore
from service.traces.recorder import TraceRecorder

T0 = datetime(2026, 12, 2, 9, 0, 0, tzinfo=UTC)
RUN_ID = "0f3c1a2b4d5e6f708192a3b4c5d6e7f8"


def new_run(
    run_id: str = RUN_ID, *, workflow: str = "scan", state: RunState = RunState.QUEUED, minutes: int = 0
) -> Run:
    at = T0 + timedelta(minutes=minutes)
    return Run(
        id=run_id,
        workflow=workflow,
        state=state,
        trigger=Trigger.CLI,
        principal="cli",
        repository="ticketsmith",
        parameters={"since": "HEAD~1"},
        budget=Budget(),
        usage=Usage(),
        step=None,
        checkpoint={},
        result=None,
        error=None,
        planner="deterministic",
        version=0,
        created_at=at,
        updated_at=at,
    )


def _clock() -> Iterator[datetime]:
    tick = 0
    while True:
        yield T0 + timedelta(milliseconds=250 * tick)
        tick += 1


def record_sample(store: RunStore, run_id: str = RUN_ID) -> Run:
    """Create the run in ``store``, record a two-step scan with every span kind, and finish it."""
    run = store.create(new_run(run_id))
    ticks = _clock()
    recorder = TraceRecorder(store, run_id, clock=lambda: next(ticks))
    with recorder.step("check"):
        recorder.rationale("check the files changed since HEAD~1")
        with recorder.tool("quality.runChecks", {"root": "ticketsmith", "since": "HEAD~1", "limit": 50}) as call:
            call.observation = {"findings": 2, "files": 7}
        recorder.retrieval(
            query="where is the priority parsed",
            repository="ticketsmith",
            duration_ms=12.5,
            citations=[
                {
                    "path": "service/triage.py",
                    "start_line": 10,
                    "end_line": 42,
                    "symbol": "parse",
                    "commit": "abc123",
                    "score": 0.82,
                },
                {"path": "README.md", "start_line": 1, "end_line": 9, "symbol": "", "commit": "abc123", "score": 0.4},
            ],
        )
    with recorder.step("write"):
        recorder.model(
            model_id="anthropic.claude-3-5-sonnet-20240620-v1:0",
            prompt="ticket",
            prompt_version="3",
            input_tokens=692,
            output_tokens=137,
            stop_reason="end_turn",
            duration_ms=3719.0,
            input_text="Write a ticket for: unused import in service/triage.py",
            output_text="Summary: remove the unused import",
        )
        recorder.guardrail(decision="deny", action="jira.transitionIssue", reason="not allowed for trigger cli")
        recorder.guardrail(decision="allow", action="tickets.file", reason="allowed")
        recorder.failure(error="UpstreamFailed: Jira answered 503", where="tickets.file")
        with recorder.tool("tickets.file", {"summary": "Remove the unused import", "labels": ["ticketsmith"]}) as call:
            call.observation = {"key": "TS-12", "created": True}
    finished = replace(
        run,
        state=RunState.SUCCEEDED,
        usage=Usage(steps=2, input_tokens=692, output_tokens=137, tickets=1, seconds=4.2),
        result={"summary": "2 findings, 1 ticket filed (TS-12)", "tickets": ["TS-12"]},
        finished_at=T0 + timedelta(seconds=5),
        updated_at=T0 + timedelta(seconds=5),
    )
    return store.save(finished)
