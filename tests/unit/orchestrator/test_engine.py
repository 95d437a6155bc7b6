"""The workflow engine: steps in order with a save after each, resume at the failed step, budgets that stop a
run cleanly, permanent errors that fail it, and a conflicting save that stops an attempt quietly."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pytest

from service.adapters.knowledge.memory import InMemoryChunkIndex
from service.adapters.storage.memory_runs import InMemoryRunStore
from service.adapters.tickets.local import LocalIssueTracker, in_memory_local_tracker
from service.adapters.tickets.memory import InMemoryTicketLedger
from service.domain.action_calls import Trigger
from service.domain.runs import Budget, Run, RunState, SpanKind
from service.domain.tickets import Ticket, TicketDraft
from service.errors import InvalidInput, NotFound
from service.knowledge_base.library import KnowledgeBase
from service.orchestrator.engine import WorkflowEngine
from service.orchestrator.planner import DeterministicPlanner
from service.orchestrator.scan import new_scan_run
from service.orchestrator.steps.file import FileStep
from service.orchestrator.steps.summarise import SummariseStep, scan_result
from service.orchestrator.workflow import Checkpoint, Services, StepContext, Workflow
from service.tickets.filing import FilingPolicy, TicketFiler

FAST = FilingPolicy(retry_delay_seconds=0, poll_seconds=0.001, wait_seconds=0.05, claim_stale_seconds=0)


@dataclass(frozen=True)
class Recorded:
    """A step that appends its name to ``log`` and to the checkpoint's ``done`` list."""

    name: str
    log: list[str]
    action: Callable[[StepContext], None] = lambda ctx: None

    def run(self, ctx: StepContext) -> Checkpoint:
        self.log.append(self.name)
        self.action(ctx)
        return {"done": [*ctx.checkpoint.get("done", []), self.name]}


class CrashOnce:
    """Raises RuntimeError the first time it is called (a worker dying mid-step), then does nothing."""

    def __init__(self) -> None:
        self.calls = 0

    def __call__(self, ctx: StepContext) -> None:
        self.calls += 1
        if self.calls == 1:
            raise RuntimeError("worker died")


def services(tmp_path: Path, tracker: Any = None, ledger: InMemoryTicketLedger | None = None) -> Services:
    def no_checks(root: Path, since: str | None) -> Any:
        raise AssertionError("the checks do not run in these tests")

    return Services(
        knowledge=KnowledgeBase(InMemoryChunkIndex(), None, data_dir=tmp_path),
        checks=no_checks,
        filer=TicketFiler(
            tracker or in_memory_local_tracker(), ledger or InMemoryTicketLedger(), FAST, sleep=lambda _s: None
        ),
        planner=DeterministicPlanner(),
        project_key="LOCAL",
    )


def start(store: InMemoryRunStore, workflow: str = "test", budget: Budget | None = None) -> Run:
    run = new_scan_run(
        repository="demo",
        source=None,
        since=None,
        dry_run=False,
        trigger=Trigger.CLI,
        principal="tester",
        budget=budget or Budget(),
        planner="deterministic",
    )
    return store.create(replace(run, workflow=workflow))


def engine(store: InMemoryRunStore, workflow: Workflow, svc: Services) -> WorkflowEngine:
    return WorkflowEngine(store, {workflow.name: workflow}, svc)


def done_result(checkpoint: Mapping[str, Any]) -> dict[str, Any]:
    return {"done": list(checkpoint.get("done", []))}


def test_steps_run_in_order_with_a_save_after_each(tmp_path: Path) -> None:
    store, log = InMemoryRunStore(), []
    workflow = Workflow("test", tuple(Recorded(n, log) for n in ("a", "b", "c")), result=done_result)
    run = start(store)
    finished = engine(store, workflow, services(tmp_path)).advance(run.id)
    assert log == ["a", "b", "c"]
    assert finished.state is RunState.SUCCEEDED
    assert finished.result == {"done": ["a", "b", "c"]}
    assert (finished.step, finished.usage.steps, finished.finished_at is not None) == (None, 3, True)
    assert finished.version == run.version + 4  # RUNNING, then one save per step
    steps = [s.name for s in store.spans(run.id) if s.kind is SpanKind.STEP]
    assert steps == ["a", "b", "c"]
    # An ended run is returned as it is.
    assert engine(store, workflow, services(tmp_path)).advance(run.id) == finished
    assert log == ["a", "b", "c"]


def test_a_crash_mid_workflow_resumes_at_the_failed_step(tmp_path: Path) -> None:
    store, log, crash = InMemoryRunStore(), [], CrashOnce()
    workflow = Workflow("test", (Recorded("a", log), Recorded("b", log, crash), Recorded("c", log)), result=done_result)
    run = start(store)
    with pytest.raises(RuntimeError, match="worker died"):
        engine(store, workflow, services(tmp_path)).advance(run.id)
    stuck = store.get(run.id)
    assert (stuck.state, stuck.step, stuck.checkpoint) == (RunState.RUNNING, "b", {"done": ["a"]})
    assert [s.kind for s in store.spans(run.id)][-2:] == [SpanKind.FAILURE, SpanKind.STEP]

    finished = engine(store, workflow, services(tmp_path)).advance(run.id)
    assert log == ["a", "b", "b", "c"]  # a is not run again
    assert finished.state is RunState.SUCCEEDED
    assert finished.result == {"done": ["a", "b", "c"]}
    assert finished.usage.steps == 3


def test_a_spent_step_budget_stops_the_run_cleanly(tmp_path: Path) -> None:
    store, log = InMemoryRunStore(), []
    workflow = Workflow("test", tuple(Recorded(n, log) for n in ("a", "b", "c")), result=done_result)
    run = start(store, budget=Budget(max_steps=2))
    stopped = engine(store, workflow, services(tmp_path)).advance(run.id)
    assert log == ["a", "b"]
    assert stopped.state is RunState.STOPPED
    assert stopped.result == {"stopped_by": "steps", "done": ["a", "b"]}
    assert stopped.error is None
    assert stopped.state.terminal


def test_a_permanent_error_fails_the_run_with_the_reason(tmp_path: Path) -> None:
    store, log = InMemoryRunStore(), []

    def refuse(ctx: StepContext) -> None:
        raise InvalidInput("unknown ref 'nope'", hint="give a commit, branch or tag")

    workflow = Workflow("test", (Recorded("a", log), Recorded("b", log, refuse)), result=done_result)
    run = start(store)
    failed = engine(store, workflow, services(tmp_path)).advance(run.id)
    assert failed.state is RunState.FAILED
    assert failed.error == "unknown ref 'nope' (give a commit, branch or tag)"
    assert failed.result == {"failed_at": "b", "done": ["a"]}


def test_a_conflicting_save_stops_this_attempt_quietly(tmp_path: Path) -> None:
    store, log = InMemoryRunStore(), []

    def other_worker(ctx: StepContext) -> None:
        # Someone else saves the run meanwhile (another worker, or a cancel): this attempt's copy is stale.
        current = store.get(ctx.run.id)
        store.save(replace(current, state=RunState.CANCELLED, error="cancelled by tester"))

    workflow = Workflow("test", (Recorded("a", log, other_worker), Recorded("b", log)), result=done_result)
    run = start(store)
    after = engine(store, workflow, services(tmp_path)).advance(run.id)
    assert log == ["a"]
    assert after.state is RunState.CANCELLED
    assert after == store.get(run.id)


def test_a_workflow_the_engine_does_not_know_fails_cleanly(tmp_path: Path) -> None:
    store = InMemoryRunStore()
    run = start(store, workflow="unknown")
    workflow = Workflow("test", (Recorded("a", []),))
    with pytest.raises(NotFound, match="unknown workflow"):
        engine(store, workflow, services(tmp_path)).advance(run.id)


# --- filing: resumed after a crash, and under a ticket budget ----------------------------------------


def drafts(n: int) -> list[dict[str, Any]]:
    return [
        {
            "fingerprint": f"{i:040x}",
            "summary": f"[high] problem {i} in app/m{i}.py",
            "description": f"Problem {i}.",
            "labels": ["ticketsmith-scan", "security"],
            "severity": "high",
            "locations": [{"path": f"app/m{i}.py", "start_line": 1, "link": f"app/m{i}.py@abc:1"}],
        }
        for i in range(n)
    ]


@dataclass(frozen=True)
class Written:
    """Stands in for sync..write: leaves ``n`` written drafts in the checkpoint."""

    n: int
    name: str = "write"

    def run(self, ctx: StepContext) -> Checkpoint:
        return {
            "sync": {"repository": "demo", "commit": "abc"},
            "triage": {"findings": self.n, "groups": [{}] * self.n, "dropped": []},
            "inspect": {"contexts": [], "left_over": []},
            "write": {"drafts": drafts(self.n), "planner": "deterministic"},
        }


class DiesAfterCreate:
    """A tracker whose ``nth`` create reaches the tracker and then the worker dies before hearing back."""

    def __init__(self, inner: LocalIssueTracker, nth: int) -> None:
        self.inner, self.nth, self.creates = inner, nth, 0

    def create(self, *, draft: TicketDraft) -> Ticket:
        self.creates += 1
        ticket = self.inner.create(draft=draft)
        if self.creates == self.nth:
            raise RuntimeError("worker died after the create")
        return ticket

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


def scan_like(n: int) -> Workflow:
    return Workflow("test", (Written(n), FileStep(), SummariseStep()), result=scan_result)


def keys(tracker: LocalIssueTracker) -> Sequence[str]:
    return [t.key for t in tracker.search(jql="project = LOCAL", limit=100)]


def test_filing_resumed_after_a_crash_files_nothing_twice(tmp_path: Path) -> None:
    store, inner, ledger = InMemoryRunStore(), in_memory_local_tracker(), InMemoryTicketLedger()
    tracker = DiesAfterCreate(inner, nth=2)
    run = start(store)
    with pytest.raises(RuntimeError, match="worker died"):
        engine(store, scan_like(3), services(tmp_path, tracker, ledger)).advance(run.id)
    assert store.get(run.id).step == "file"
    assert len(keys(inner)) == 2

    # Another worker (a new filer, the same ledger) picks the run up at the file step.
    finished = engine(store, scan_like(3), services(tmp_path, inner, ledger)).advance(run.id)
    assert finished.state is RunState.SUCCEEDED
    assert len(keys(inner)) == 3, "the ticket whose create outcome was lost is found, not filed again"
    result = finished.result or {}
    # The first was saved as filed before the crash; the second, cut short, is found by its label; the third new.
    assert [t["action"] for t in result["tickets"]] == ["created", "skipped", "created"]
    assert result["tickets"][1]["key"] in keys(inner)
    assert {t["key"] for t in result["tickets"]} == set(keys(inner))
    assert "2 tickets created" in result["text"]


def test_a_ticket_budget_of_one_stops_cleanly_with_a_partial_summary(tmp_path: Path) -> None:
    store, tracker = InMemoryRunStore(), in_memory_local_tracker()
    run = start(store, budget=Budget(max_tickets=1))
    stopped = engine(store, scan_like(3), services(tmp_path, tracker)).advance(run.id)
    assert stopped.state is RunState.STOPPED
    result = stopped.result or {}
    assert result["stopped_by"] == "tickets"
    assert (result["created"], result["not_filed"]) == (1, 2)
    assert [t["action"] for t in result["tickets"]] == ["created", "not_filed", "not_filed"]
    assert len(keys(tracker)) == 1
    assert stopped.usage.tickets == 1
    assert stopped.checkpoint["file"]["tickets"][0]["key"] == keys(tracker)[0]


def test_a_denied_tickets_file_action_files_nothing(tmp_path: Path) -> None:
    store, tracker = InMemoryRunStore(), in_memory_local_tracker()
    svc = replace(services(tmp_path, tracker), allow=lambda action: (False, f"{action} is not in the allow-list"))
    run = start(store)
    finished = engine(store, scan_like(2), svc).advance(run.id)
    assert finished.state is RunState.SUCCEEDED
    assert (finished.result or {})["denied"] == 2
    assert keys(tracker) == []
    guardrails = [s for s in store.spans(run.id) if s.kind is SpanKind.GUARDRAIL]
    assert [(s.attributes["decision"], s.attributes["action"]) for s in guardrails] == [("deny", "tickets.file")]
