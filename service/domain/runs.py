"""Workflow runs and the spans of their traces: what was asked, how far it got, and every step it took."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from service.domain.action_calls import Trigger


class RunState(StrEnum):
    """A run's place in its life. ``SUCCEEDED``, ``STOPPED``, ``FAILED`` and ``CANCELLED`` are terminal.

    ``STOPPED`` is a clean end before the workflow's last step because the budget was spent; the run's result
    says which limit and what was done. ``PAUSED`` waits for a person (a confirmation) and resumes on it.
    """

    QUEUED = "queued"
    RUNNING = "running"
    PAUSED = "paused"
    SUCCEEDED = "succeeded"
    STOPPED = "stopped"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def terminal(self) -> bool:
        return self in (RunState.SUCCEEDED, RunState.STOPPED, RunState.FAILED, RunState.CANCELLED)


@dataclass(frozen=True, slots=True)
class Budget:
    """The most a run may spend. A run that reaches any limit stops cleanly (state ``STOPPED``)."""

    max_steps: int = 200
    max_tokens: int = 200_000
    max_seconds: float = 1800.0
    max_tickets: int = 20

    def as_dict(self) -> dict[str, Any]:
        return {
            "max_steps": self.max_steps,
            "max_tokens": self.max_tokens,
            "max_seconds": self.max_seconds,
            "max_tickets": self.max_tickets,
        }


@dataclass(frozen=True, slots=True)
class Usage:
    """What a run has spent so far; ``seconds`` adds up the wall time of every attempt (resumes included)."""

    steps: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    tickets: int = 0
    seconds: float = 0.0

    @property
    def tokens(self) -> int:
        return self.input_tokens + self.output_tokens

    def exhausted(self, budget: Budget) -> str | None:
        """The name of the first limit reached (``steps``, ``tokens``, ``seconds``, ``tickets``), or None."""
        if self.steps >= budget.max_steps:
            return "steps"
        if self.tokens >= budget.max_tokens:
            return "tokens"
        if self.seconds >= budget.max_seconds:
            return "seconds"
        if self.tickets >= budget.max_tickets:
            return "tickets"
        return None

    def as_dict(self) -> dict[str, Any]:
        return {
            "steps": self.steps,
            "input_tokens": self.input_tokens,
            "output_tokens": self.output_tokens,
            "tickets": self.tickets,
            "seconds": round(self.seconds, 3),
        }


@dataclass(frozen=True, slots=True)
class Run:
    """One execution of a workflow (``scan``, ``suggest``, ...), persisted so any worker can resume it.

    ``step`` names the state-machine step to run next (None before the first and after the last);
    ``checkpoint`` is the workflow's own JSON state as of the last finished step, so a resumed run continues
    from there. ``version`` increases with every save; saving a stale copy is a conflict (two workers never
    both advance one run). ``planner`` names what decided the steps: a model id, or ``deterministic`` when no
    model was used. ``principal`` is the caller's key name, never a secret.
    """

    id: str
    workflow: str
    state: RunState
    trigger: Trigger
    principal: str
    repository: str | None
    parameters: dict[str, Any]
    budget: Budget
    usage: Usage
    step: str | None
    checkpoint: dict[str, Any]
    result: dict[str, Any] | None
    error: str | None
    planner: str
    version: int
    created_at: datetime
    updated_at: datetime
    finished_at: datetime | None = None
    dedup_key: str | None = None

    @classmethod
    def new(
        cls,
        *,
        id: str,
        workflow: str,
        trigger: Trigger,
        principal: str,
        parameters: dict[str, Any],
        budget: Budget,
        planner: str,
        now: datetime,
        repository: str | None = None,
        state: RunState = RunState.QUEUED,
        step: str | None = None,
        dedup_key: str | None = None,
    ) -> Run:
        """A run that has not spent anything yet: no usage, checkpoint, result or error; version 0."""
        return cls(
            id=id,
            workflow=workflow,
            state=state,
            trigger=trigger,
            principal=principal,
            repository=repository,
            parameters=parameters,
            budget=budget,
            usage=Usage(),
            step=step,
            checkpoint={},
            result=None,
            error=None,
            planner=planner,
            version=0,
            created_at=now,
            updated_at=now,
            dedup_key=dedup_key,
        )


class SpanKind(StrEnum):
    """What a span records.

    ``STEP`` brackets one workflow step (its children share its ``trace_id``); ``RATIONALE`` is why the next
    thing is done; ``TOOL`` an action invoked, with its input and observation; ``MODEL`` one model call with
    token counts and the prompt template's name and version; ``RETRIEVAL`` a knowledge-base lookup with the
    chunks cited; ``GUARDRAIL`` an allow/deny/redact decision; ``FAILURE`` an error and where it happened.
    """

    STEP = "step"
    RATIONALE = "rationale"
    TOOL = "tool"
    MODEL = "model"
    RETRIEVAL = "retrieval"
    GUARDRAIL = "guardrail"
    FAILURE = "failure"


@dataclass(frozen=True, slots=True)
class Span:
    """One recorded event of a run's trace.

    ``sequence`` orders a run's spans (0, 1, 2, ... across resumes); ``trace_id`` groups the spans of one
    step as ``<run id>-<step number>`` (the Bedrock trace grouping). ``attributes`` is JSON and already passed
    the redaction gate: for TOOL ``action``, ``input``, ``observation``; for MODEL ``model_id``, ``prompt``,
    ``prompt_version``, ``input_tokens``, ``output_tokens``, ``stop_reason``; for RETRIEVAL ``query`` and
    ``citations`` (path, start_line, end_line, symbol, commit, score); for GUARDRAIL ``decision`` and
    ``reason``; for FAILURE ``error``. ``status`` is ``ok`` or ``error``.
    """

    run_id: str
    sequence: int
    trace_id: str
    kind: SpanKind
    name: str
    started_at: datetime
    duration_ms: float
    status: str = "ok"
    attributes: dict[str, Any] = field(default_factory=dict)
