"""The ``runs`` action group: start a workflow run (a scan), read it, list runs, cancel one, confirm one.

A ``paused`` run waits for a person to approve or refuse one action; ``getRun`` shows it as
``pendingConfirmation`` and ``confirmRun`` decides it.

A run is queued at once and advanced by a background worker; ``getRun`` shows where it is. The trace of a run
is a plain route beside these (``GET /v1/runs/{runId}/trace``), not an action.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

import anyio.to_thread
from pydantic import BaseModel, ConfigDict, Field

from service.action_groups.operations import ActionGroup, CallContext, NoParams, Operation
from service.domain.runs import Run, RunState
from service.orchestrator.engine import CONFIRMED_ACTIONS
from service.orchestrator.runs import PENDING_CONFIRMATION, BudgetRequest, RunService, lowered
from service.orchestrator.steps.file import ACTION as FILE_TICKETS

STATES = "queued, running, paused, succeeded, stopped, failed or cancelled"

RepositoryCheck = Callable[[str | None], tuple[str | None, str | None]]
"""Resolves a requested repository for an API caller to ``(name, source)``: an indexed repository's name and no
source, or a path or clone URL the caller may have indexed and the name it is indexed under. Raises Forbidden,
NotFound or InvalidInput."""


class StartRunBody(BaseModel):
    model_config = ConfigDict(populate_by_name=True, extra="forbid")

    workflow: str = Field(min_length=1, max_length=64, description="Workflow to run: scan.")
    repository: str | None = Field(
        default=None,
        min_length=1,
        max_length=4096,
        description="Name of an indexed repository, or a path or clone URL this service may index; "
        "unset: the only repository indexed.",
    )
    dry_run: bool = Field(
        default=False, alias="dryRun", description="Write the tickets but file none (they are shown in the result)."
    )
    since: str | None = Field(
        default=None, min_length=1, max_length=200, description="Only scan what changed since this commit or ref."
    )
    max_steps: int | None = Field(
        default=None, alias="maxSteps", ge=1, description="Lower the step budget (never above the default)."
    )
    max_tokens: int | None = Field(
        default=None, alias="maxTokens", ge=0, description="Lower the model-token budget (never above the default)."
    )
    max_seconds: float | None = Field(
        default=None, alias="maxSeconds", gt=0, description="Lower the wall-time budget in seconds."
    )
    max_tickets: int | None = Field(
        default=None, alias="maxTickets", ge=0, description="Lower the most tickets the run may file or update."
    )


class RunParams(BaseModel):
    run_id: str = Field(alias="runId", min_length=1, max_length=64, description="Id of the run, from startRun.")


class ConfirmBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    approve: bool = Field(description="True runs the action the run waits for; false refuses it and cancels the run.")


class PendingOut(BaseModel):
    action: str = Field(description="The action waiting for a confirmation, e.g. jira.createIssue.")
    input: dict[str, Any] = Field(description="The input it would be called with.")
    reason: str = Field(description="Why it needs a person's confirmation.")
    requested_at: str = Field(alias="requestedAt", description="When the run paused for it (ISO 8601).")


class ListParams(BaseModel):
    state: str | None = Field(
        default=None,
        pattern=r"^(queued|running|paused|succeeded|stopped|failed|cancelled)$",
        description=f"Only runs in this state: {STATES}.",
    )
    workflow: str | None = Field(default=None, max_length=64, description="Only runs of this workflow, e.g. scan.")
    limit: int = Field(default=20, ge=1, le=100, description="How many runs, newest first, 1 to 100 (default 20).")


class BudgetOut(BaseModel):
    max_steps: int = Field(alias="maxSteps", description="Most steps the run may take.")
    max_tokens: int = Field(alias="maxTokens", description="Most model tokens the run may use.")
    max_seconds: float = Field(alias="maxSeconds", description="Most wall-clock seconds.")
    max_tickets: int = Field(alias="maxTickets", description="Most tickets the run may file or update.")


class UsageOut(BaseModel):
    steps: int = Field(description="Steps taken so far.")
    input_tokens: int = Field(alias="inputTokens", description="Model input tokens used.")
    output_tokens: int = Field(alias="outputTokens", description="Model output tokens used.")
    tickets: int = Field(description="Tickets filed or updated.")
    seconds: float = Field(description="Wall-clock seconds spent, every attempt included.")


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


class RunOut(BaseModel):
    run_id: str = Field(alias="runId", description="Id of the run.")
    workflow: str = Field(description="Workflow, e.g. scan.")
    state: str = Field(description=f"One of {STATES}.")
    trigger: str = Field(description="How it was started: rest, bedrock, chat, cli, lambda or jira.")
    principal: str = Field(description="Name of the API key that started it.")
    repository: str | None = Field(default=None, description="Name of the repository it works on.")
    step: str | None = Field(default=None, description="Step it runs next (none once it has ended).")
    planner: str = Field(description="What decided the steps: a model id, or deterministic when no model was used.")
    parameters: dict[str, Any] = Field(description="Parameters it was started with (since, dry_run, source).")
    budget: BudgetOut = Field(description="Its budget.")
    usage: UsageOut = Field(description="What it has spent.")
    result: dict[str, Any] | None = Field(default=None, description="Its summary, once it has ended.")
    error: str | None = Field(default=None, description="Why it failed, stopped or was cancelled.")
    created_at: str = Field(alias="createdAt", description="When it was started (ISO 8601).")
    updated_at: str = Field(alias="updatedAt", description="When it last changed (ISO 8601).")
    finished_at: str | None = Field(default=None, alias="finishedAt", description="When it ended (ISO 8601).")
    pending_confirmation: PendingOut | None = Field(
        default=None,
        alias="pendingConfirmation",
        description="The action a paused run waits to have confirmed (confirmRun approves or refuses it).",
    )

    @classmethod
    def of(cls, run: Run) -> RunOut:
        budget, usage = run.budget, run.usage
        pending = run.checkpoint.get(PENDING_CONFIRMATION) if run.state is RunState.PAUSED else None
        return cls(
            runId=run.id,
            workflow=run.workflow,
            state=run.state.value,
            trigger=run.trigger.value,
            principal=run.principal,
            repository=run.repository,
            step=run.step,
            planner=run.planner,
            parameters=run.parameters,
            budget=BudgetOut(
                maxSteps=budget.max_steps,
                maxTokens=budget.max_tokens,
                maxSeconds=budget.max_seconds,
                maxTickets=budget.max_tickets,
            ),
            usage=UsageOut(
                steps=usage.steps,
                inputTokens=usage.input_tokens,
                outputTokens=usage.output_tokens,
                tickets=usage.tickets,
                seconds=round(usage.seconds, 3),
            ),
            result=run.result,
            error=run.error,
            createdAt=run.created_at.isoformat(),
            updatedAt=run.updated_at.isoformat(),
            finishedAt=_iso(run.finished_at),
            pendingConfirmation=_pending(pending),
        )


def _pending(pending: object) -> PendingOut | None:
    if not isinstance(pending, dict):
        return None
    raw_input = pending.get("input")
    return PendingOut(
        action=str(pending.get("action", "")),
        input=raw_input if isinstance(raw_input, dict) else {},
        reason=str(pending.get("reason", "")),
        requestedAt=str(pending.get("requested_at", "")),
    )


class RunList(BaseModel):
    runs: list[RunOut] = Field(description="Newest first.")


class RunsActions:
    """Handlers of the ``runs`` group over ``service``; ``check_repository`` confines what API callers may scan."""

    def __init__(self, *, service: RunService, check_repository: RepositoryCheck) -> None:
        self._service = service
        self._check = check_repository

    async def start(self, ctx: CallContext, params: NoParams, body: StartRunBody | None) -> RunOut:
        assert body is not None  # the operation declares a body, so validation guarantees one
        budget = BudgetRequest(
            max_steps=body.max_steps,
            max_tokens=body.max_tokens,
            max_seconds=body.max_seconds,
            max_tickets=body.max_tickets,
        )
        # The request's own mistakes are named before the repository is looked up (which reads the index).
        self._service.check_workflow(body.workflow)
        lowered(self._service.default_budget, budget)
        name, source = await anyio.to_thread.run_sync(self._check, body.repository)
        parameters: dict[str, Any] = {"since": body.since, "dry_run": body.dry_run}
        if not body.dry_run:
            # This call is the confirmation: the caller asked for a scan that files tickets (Bedrock asks its
            # user first, the operation carries x-requireConfirmation), so the run need not pause for one.
            parameters[CONFIRMED_ACTIONS] = [FILE_TICKETS]
        if source is not None:
            parameters["source"] = source
        run = await anyio.to_thread.run_sync(
            lambda: self._service.start(
                workflow=body.workflow,
                repository=name,
                parameters=parameters,
                trigger=ctx.trigger,
                principal=ctx.principal.name,
                budget=budget,
            )
        )
        return RunOut.of(run)

    async def get(self, ctx: CallContext, params: RunParams, body: None) -> RunOut:
        return RunOut.of(await anyio.to_thread.run_sync(self._service.get, params.run_id))

    async def list(self, ctx: CallContext, params: ListParams, body: None) -> RunList:
        state = RunState(params.state) if params.state is not None else None
        runs = await anyio.to_thread.run_sync(
            lambda: self._service.list(state=state, workflow=params.workflow, limit=params.limit)
        )
        return RunList(runs=[RunOut.of(run) for run in runs])

    async def cancel(self, ctx: CallContext, params: RunParams, body: None) -> RunOut:
        run = await anyio.to_thread.run_sync(lambda: self._service.cancel(params.run_id, by=ctx.principal.name))
        return RunOut.of(run)

    async def confirm(self, ctx: CallContext, params: RunParams, body: ConfirmBody | None) -> RunOut:
        assert body is not None  # the operation declares a body, so validation guarantees one
        approve, by = body.approve, ctx.principal.name
        # An approved run continues in this call (a chat turn) or in a queued job (a workflow).
        run = await anyio.to_thread.run_sync(lambda: self._service.confirm(params.run_id, approve, by))
        return RunOut.of(run)


def runs_group(actions: RunsActions) -> ActionGroup:
    """The ``runs`` action group bound to ``actions``."""
    return ActionGroup(
        name="runs",
        description=(
            "Workflow runs: start a scan of a repository that files Jira tickets, follow it, cancel it, "
            "approve or refuse the action a paused run waits for."
        ),
        prefix="/v1/runs",
        operations=(
            Operation(
                operation_id="startRun",
                method="POST",
                path="",
                summary="Start a workflow run",
                description=(
                    "Starts a workflow run, e.g. a scan: sync the knowledge base, run the quality checks, group "
                    "the findings and file one ticket per problem (never a duplicate). Returns the queued run "
                    "at once; poll getRun until its state is succeeded, stopped, failed or cancelled."
                ),
                params=NoParams,
                body=StartRunBody,
                response=RunOut,
                handler=actions.start,
                writes=True,
                require_confirmation=True,
            ),
            Operation(
                operation_id="getRun",
                method="GET",
                path="/{runId}",
                summary="Get a run",
                description="Returns a run's state, current step, budget and usage, and its result once ended.",
                params=RunParams,
                response=RunOut,
                handler=actions.get,
            ),
            Operation(
                operation_id="listRuns",
                method="GET",
                path="",
                summary="List runs",
                description="Lists runs newest first, optionally only those in one state or of one workflow.",
                params=ListParams,
                response=RunList,
                handler=actions.list,
            ),
            Operation(
                operation_id="cancelRun",
                method="POST",
                path="/{runId}/cancel",
                summary="Cancel a run",
                description=(
                    "Cancels a run that has not ended: a queued one never starts, a running one stops at its "
                    "next step. Cancelling an ended run changes nothing."
                ),
                params=RunParams,
                response=RunOut,
                handler=actions.cancel,
                writes=True,
                require_confirmation=True,
            ),
            Operation(
                operation_id="confirmRun",
                method="POST",
                path="/{runId}/confirmation",
                summary="Approve or refuse a paused run's action",
                description=(
                    "A paused run waits for a person to confirm one action (getRun shows it as "
                    "pendingConfirmation). approve true runs the action and the run continues; approve false "
                    "refuses it and cancels the run. Deciding again the same way changes nothing."
                ),
                params=RunParams,
                body=ConfirmBody,
                response=RunOut,
                handler=actions.confirm,
                writes=True,
                # This call is the person's confirmation itself: asking again would be a second question.
                require_confirmation=False,
            ),
        ),
    )
