"""Workflows: ordered, named steps over a JSON checkpoint, advanced one step at a time by the engine.

A step reads what earlier steps left in the checkpoint and returns what it adds (a dict merged into the
checkpoint); the engine saves the checkpoint after every step, so a run resumed on another worker continues at
the first step that did not finish. Steps must be safe to run again after a crash mid-step: anything with an
outside effect is idempotent (tickets are filed by fingerprint, never twice).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from service.domain.runs import Run
from service.errors import Forbidden
from service.guardrails.redaction import redact
from service.orchestrator.budget import BudgetMeter, BudgetSpent
from service.traces.recorder import TraceRecorder

if TYPE_CHECKING:
    from service.knowledge_base.library import KnowledgeBase
    from service.orchestrator.planner import Planner
    from service.quality.runner import CheckReport
    from service.tickets.filing import TicketFiler

Checkpoint = dict[str, Any]
# Limits checked between steps and items. The ticket limit only bounds filing: the step that files stops on it
# itself, keeping what it did, so a run that filed exactly its allowance still summarises.
STEP_LIMITS = ("steps", "tokens", "seconds")
Allow = Callable[[str], tuple[bool, str]]
"""``allow(action) -> (allowed, reason)``: the guardrail policy for this run's trigger."""
CheckRunner = Callable[[Path, "str | None"], "CheckReport"]
"""``checks(root, since) -> CheckReport``: the quality checks, configured."""
Echo = Callable[[str], None]
"""Where a step says what it is doing (the CLI's progress line; a no-op in workers)."""


class StepStopped(BudgetSpent):
    """A step reached a budget limit part way through and keeps what it did: ``update`` is merged into the
    checkpoint before the run stops (e.g. the tickets filed before the ticket limit was reached)."""

    def __init__(self, limit: str, update: Checkpoint) -> None:
        super().__init__(limit)
        self.update = update


def _no_result(checkpoint: Mapping[str, Any]) -> dict[str, Any]:
    result = checkpoint.get("result")
    return dict(result) if isinstance(result, Mapping) else {}


def allow_everything(action: str) -> tuple[bool, str]:
    """The default policy (tests, local runs without a guardrail policy): every action is allowed."""
    return True, f"{action}: no policy configured"


def _quiet(message: str) -> None:
    return None


def _no_progress(update: Checkpoint) -> None:
    return None


def redact_text(text: str) -> str:
    """The default gate for text leaving the service: secrets replaced by ``[REDACTED:<kind>]`` markers."""
    return redact(text).text


@dataclass(frozen=True)
class Services:
    """What steps need from the rest of the service; the container builds one, tests pass fakes."""

    knowledge: KnowledgeBase
    checks: CheckRunner
    filer: TicketFiler
    planner: Planner
    project_key: str
    allow: Allow = allow_everything
    echo: Echo = _quiet
    redact: Callable[[str], str] = redact_text


@dataclass
class StepContext:
    """One step's view of its run: the run as loaded, the checkpoint so far (read it, do not mutate it), the
    trace recorder, the budget meter, the services, and ``progress`` to save part of the step's work."""

    run: Run
    checkpoint: Mapping[str, Any]
    recorder: TraceRecorder
    budget: BudgetMeter
    services: Services
    progress: Callable[[Checkpoint], None] = _no_progress
    """Save part of the step's work at once (merged into the checkpoint; the step stays the current one), so
    a resumed step can skip what it finished. Raises :class:`Conflict` when the run moved on elsewhere."""

    @property
    def parameters(self) -> Mapping[str, Any]:
        return self.run.parameters

    @property
    def dry_run(self) -> bool:
        return bool(self.run.parameters.get("dry_run", False))

    def ensure_budget(self) -> None:
        """Raise :class:`BudgetSpent` when the steps, tokens or wall time are spent (call between items of a
        long step). The ticket limit is the filing step's own to enforce."""
        limit = self.budget.exhausted()
        if limit in STEP_LIMITS:
            raise BudgetSpent(str(limit))


class Step(Protocol):
    """One state of a workflow. ``run`` returns the checkpoint update (merged into the checkpoint)."""

    @property
    def name(self) -> str: ...

    def run(self, ctx: StepContext) -> Checkpoint: ...


@dataclass(frozen=True)
class Workflow:
    """A named, ordered tuple of steps. Step names are unique; ``after(name)`` is the step that follows."""

    name: str
    steps: tuple[Step, ...]
    result: Callable[[Mapping[str, Any]], dict[str, Any]] = _no_result
    """The run's result from a checkpoint: on success, and (partial) when the run stops or fails early."""

    def __post_init__(self) -> None:
        names = [step.name for step in self.steps]
        if len(set(names)) != len(names):
            raise ValueError(f"workflow {self.name}: step names repeat: {names}")
        if not names:
            raise ValueError(f"workflow {self.name} has no steps")

    @property
    def first(self) -> str:
        return self.steps[0].name

    def index(self, name: str) -> int:
        """The position of step ``name``; ValueError for a name the workflow does not have."""
        for i, step in enumerate(self.steps):
            if step.name == name:
                return i
        raise ValueError(f"workflow {self.name} has no step {name!r}")

    def after(self, name: str) -> str | None:
        """The step that follows ``name``, or None after the last."""
        i = self.index(name) + 1
        return self.steps[i].name if i < len(self.steps) else None

    def remaining(self, start: str | None) -> tuple[Step, ...]:
        """The steps from ``start`` on (all of them when ``start`` is None)."""
        return self.steps if start is None else self.steps[self.index(start) :]


def guard(ctx: StepContext, action: str) -> tuple[bool, str]:
    """Ask the run's policy whether ``action`` may be taken and record the decision (a GUARDRAIL span)."""
    allowed, reason = ctx.services.allow(action)
    ctx.recorder.guardrail(decision="allow" if allowed else "deny", action=action, reason=reason)
    return allowed, reason


def require(ctx: StepContext, action: str) -> None:
    """:func:`guard`, raising :class:`Forbidden` (the run fails with the reason) when ``action`` is denied."""
    allowed, reason = guard(ctx, action)
    if not allowed:
        raise Forbidden(f"{action} is not allowed: {reason}", hint="see TICKETSMITH_GUARDRAILS__ALLOWED_ACTIONS")
