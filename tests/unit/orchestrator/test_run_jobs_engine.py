"""The workflow.run job over the real engine and worker: resume at the saved step, cancel at a step boundary."""

from __future__ import annotations

import asyncio
import threading
from dataclasses import MISSING, dataclass, field, fields, replace
from typing import Any

from service.adapters.storage.memory import InMemoryJobQueue
from service.adapters.storage.memory_runs import InMemoryRunStore
from service.domain.action_calls import Trigger
from service.domain.jobs import JobState
from service.domain.runs import Budget, RunState, SpanKind
from service.jobs.worker import Worker
from service.orchestrator.engine import WorkflowEngine
from service.orchestrator.job import workflow_run_handler
from service.orchestrator.runs import WORKFLOW_RUN, RunService
from service.orchestrator.workflow import Checkpoint, Services, StepContext, Workflow


@dataclass(frozen=True)
class Counting:
    """A step that records that it ran; ``gate`` (when given) holds it until the test lets it finish."""

    name: str
    ran: list[str] = field(default_factory=list)
    gate: threading.Event | None = None
    started: threading.Event = field(default_factory=threading.Event)

    def run(self, ctx: StepContext) -> Checkpoint:
        self.started.set()
        if self.gate is not None:
            assert self.gate.wait(10)
        self.ran.append(self.name)
        return {self.name: True}


def _engine(store: InMemoryRunStore, *steps: Counting) -> WorkflowEngine:
    # These steps use no services: every required one is left empty.
    services = Services(**{f.name: None for f in fields(Services) if f.default is MISSING})
    return WorkflowEngine(store, {"scan": Workflow(name="scan", steps=steps)}, services)


def _setup() -> tuple[InMemoryRunStore, InMemoryJobQueue, RunService]:
    store, queue = InMemoryRunStore(), InMemoryJobQueue()
    runs = RunService(store=store, queue=queue, budget=Budget(), workflows=("scan",))
    return store, queue, runs


def _start(runs: RunService) -> str:
    run = runs.start(workflow="scan", repository="demo", parameters={}, trigger=Trigger.CLI, principal="t")
    return run.id


def test_a_resumed_run_continues_at_its_saved_step() -> None:
    store, queue, runs = _setup()
    ran: list[str] = []
    steps = [Counting(name, ran) for name in ("sync", "check", "file", "summarise")]
    run_id = _start(runs)
    # As a worker that died during "file" leaves it: the steps before were saved, "file" is next.
    store.save(replace(store.get(run_id), state=RunState.RUNNING, step="file", checkpoint={"sync": 1, "check": 1}))
    worker = Worker(queue=queue, handlers={WORKFLOW_RUN: workflow_run_handler(store, _engine(store, *steps))},
                    worker_id="w2", renewing={WORKFLOW_RUN})  # fmt: skip
    (job,) = asyncio.run(worker.drain())
    assert (job.state, job.result) == (JobState.SUCCEEDED, {"run_id": run_id, "state": "succeeded"})
    assert ran == ["file", "summarise"]
    assert store.get(run_id).checkpoint == {"sync": 1, "check": 1, "file": True, "summarise": True}


def test_a_running_run_cancelled_stops_at_the_next_step_boundary() -> None:
    store, queue, runs = _setup()
    ran: list[str] = []
    gate = threading.Event()
    slow = Counting("check", ran, gate=gate)
    steps = [Counting("sync", ran), slow, Counting("file", ran), Counting("summarise", ran)]
    run_id = _start(runs)
    worker = Worker(queue=queue, handlers={WORKFLOW_RUN: workflow_run_handler(store, _engine(store, *steps))},
                    worker_id="w", renewing={WORKFLOW_RUN})  # fmt: skip

    async def scenario() -> Any:
        task = asyncio.create_task(worker.run_once())
        assert await asyncio.to_thread(slow.started.wait, 10)
        cancelled = runs.cancel(run_id, by="chat")
        assert cancelled.state is RunState.CANCELLED
        gate.set()
        return await task

    job = asyncio.run(scenario())
    assert job.state is JobState.SUCCEEDED
    assert job.result == {"run_id": run_id, "state": "cancelled", "error": "cancelled by chat while running"}
    assert ran == ["sync", "check"], "no step after the cancel"
    final = store.get(run_id)
    assert (final.state, final.finished_at is not None) == (RunState.CANCELLED, True)
    assert [s.name for s in store.spans(run_id) if s.kind is SpanKind.STEP] == ["sync", "check"]
