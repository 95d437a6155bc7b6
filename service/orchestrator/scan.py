"""The scan workflow: sync the knowledge base, run the checks, triage, inspect, write and file tickets, and
summarise. Each step is a module of ``service/orchestrator/steps``; the engine runs them in this order."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from service.domain.action_calls import Trigger
from service.domain.runs import Budget, Run
from service.guardrails.policy import ActionPolicy
from service.orchestrator.engine import Policy
from service.orchestrator.steps.check import CheckStep
from service.orchestrator.steps.file import FileStep
from service.orchestrator.steps.inspect import InspectStep
from service.orchestrator.steps.summarise import SummariseStep, scan_result
from service.orchestrator.steps.sync import SyncStep
from service.orchestrator.steps.triage import TriageStep
from service.orchestrator.steps.write import WriteStep
from service.orchestrator.workflow import CheckRunner, Workflow
from service.quality.checkers import all_checkers
from service.quality.runner import CheckReport, run_checks

SCAN = "scan"

SCAN_WORKFLOW = Workflow(
    name=SCAN,
    steps=(SyncStep(), CheckStep(), TriageStep(), InspectStep(), WriteStep(), FileStep(), SummariseStep()),
    result=scan_result,
)


def checks_runner(scratch_parent: Path) -> CheckRunner:
    """The quality checks as the scan runs them: every configured checker, scratch files under
    ``scratch_parent``."""
    checkers = all_checkers()

    def run(root: Path, since: str | None) -> CheckReport:
        return run_checks(root, checkers, since=since, scratch_parent=scratch_parent)

    return run


def guardrail_policy(policy: ActionPolicy) -> Policy:
    """The engine's ``policy(trigger, action, confirmed)`` from the guardrails: an action that needs a person's
    confirmation is refused (a scan does not wait for one) unless the run was started with that action
    confirmed (``confirmed``: e.g. ``tickets.file`` for a scan started by an explicit startRun call)."""

    def decide(trigger: Trigger, action: str, confirmed: frozenset[str] = frozenset()) -> tuple[bool, str]:
        decision = policy.allows(trigger, action)
        if decision.allowed and decision.needs_confirmation:
            if action in confirmed:
                return True, f"{decision.reason}; confirmed when the run was started"
            return False, f"{decision.reason}; a workflow run does not wait for a confirmation"
        return decision.allowed, decision.reason

    return decide


def new_scan_run(
    *,
    repository: str | None,
    source: str | None,
    since: str | None,
    dry_run: bool,
    trigger: Trigger,
    principal: str,
    budget: Budget,
    planner: str,
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    new_id: Callable[[], str] = lambda: uuid.uuid4().hex,
) -> Run:
    """A QUEUED scan run, to be stored with :meth:`RunStore.create` and advanced by the engine."""
    return Run.new(
        id=new_id(),
        workflow=SCAN,
        trigger=trigger,
        principal=principal,
        repository=repository,
        parameters={"source": source, "since": since, "dry_run": dry_run},
        budget=budget,
        planner=planner,
        now=clock(),
    )
