"""Starting, reading and cancelling workflow runs; the engine advances them in a background job.

A run is created ``QUEUED`` in the run store and a ``workflow.run`` job is queued for it (deduplicated by the
run id, so starting it again or a retried request queues nothing twice). Any worker, in any process, claims the
job and advances the run from its saved step (``service/orchestrator/job.py``).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from service.domain.action_calls import Trigger
from service.domain.runs import Budget, Run, RunState
from service.errors import Conflict, InvalidInput
from service.orchestrator.engine import CONFIRMED_ACTIONS
from service.ports.job_queue import JobQueue
from service.ports.run_store import RunStore

WORKFLOW_RUN = "workflow.run"
"""Job kind that advances one run; its payload is ``{"run_id": ...}``."""

PENDING_CONFIRMATION = "pending_confirmation"
"""Checkpoint key of a ``PAUSED`` run: ``{"action", "input", "reason", "requested_at"}`` -- the one action it
waits to have confirmed (``action`` as the policy names it, e.g. ``jira.createIssue``; ``input`` its JSON input;
``reason`` why it needs a person; ``requested_at`` ISO 8601)."""

CONFIRMATION = "confirmation"
"""Checkpoint key of the last decision on a pending action: ``{"action", "input", "approved", "by", "at"}``."""

Resumer = Callable[[Run], Run]
"""Continues an approved run of a workflow that is not advanced by ``workflow.run`` jobs (a chat turn); gets the
run as the confirmation saved it (``QUEUED``) and returns it as it ends or pauses again."""

DETERMINISTIC = "deterministic"
_SAVE_ATTEMPTS = 5


@dataclass(frozen=True, slots=True)
class BudgetRequest:
    """Limits a caller asks for; None keeps the default. Each may lower the default, never raise it."""

    max_steps: int | None = None
    max_tokens: int | None = None
    max_seconds: float | None = None
    max_tickets: int | None = None


def run_job_dedup_key(run_id: str) -> str:
    """The dedup key of the first ``workflow.run`` job of a run: the run id itself."""
    return run_id


def lowered(default: Budget, request: BudgetRequest | None) -> Budget:
    """``default`` with the limits ``request`` lowers. Raises :class:`InvalidInput` for a limit above the
    default (naming the ceiling) or below zero."""
    if request is None:
        return default
    changes: dict[str, Any] = {}
    for name, ceiling in default.as_dict().items():
        asked = getattr(request, name)
        if asked is None:
            continue
        if asked < 0 or (name in ("max_steps", "max_seconds") and asked <= 0):
            raise InvalidInput(f"budget {name} must be positive, not {asked}")
        if asked > ceiling:
            raise InvalidInput(
                f"budget {name} {asked:g} is above this service's limit of {ceiling:g}",
                hint="a run may lower the default budget, never raise it (TICKETSMITH_ORCHESTRATOR__* sets it)",
            )
        changes[name] = asked
    return replace(default, **changes)


class RunService:
    """Runs of the workflows named in ``workflows``, kept in ``store``, advanced by ``workflow.run`` jobs.

    ``budget`` is the default (from ``settings.orchestrator``); ``planner`` names what decides the steps (an
    LLM's model id, or ``deterministic``). Thread-safe as far as the store and queue are.
    """

    def __init__(
        self,
        *,
        store: RunStore,
        queue: JobQueue,
        budget: Budget,
        workflows: Collection[str],
        planner: str = DETERMINISTIC,
        max_attempts: int = 5,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        new_id: Callable[[], str] = lambda: uuid.uuid4().hex,
    ) -> None:
        self._store = store
        self._queue = queue
        self.default_budget = budget
        self.workflows = tuple(sorted(workflows))
        self._planner = planner
        self._max_attempts = max_attempts
        self._clock = clock
        self._new_id = new_id
        self._resumers: dict[str, Resumer] = {}

    @property
    def planner(self) -> str:
        """What decides new runs' steps: the model's id, or ``deterministic``."""
        return self._planner

    def check_workflow(self, workflow: str) -> None:
        """Raise :class:`InvalidInput` naming the known workflows unless ``workflow`` is one."""
        if workflow not in self.workflows:
            known = ", ".join(self.workflows) or "none"
            raise InvalidInput(f"unknown workflow {workflow!r}", hint=f"known workflows: {known}")

    def start(
        self,
        *,
        workflow: str,
        repository: str | None,
        parameters: Mapping[str, Any],
        trigger: Trigger,
        principal: str,
        budget: BudgetRequest | None = None,
        dedup_key: str | None = None,
    ) -> Run:
        """Create a ``QUEUED`` run and queue the job that runs it; return the run.

        With ``dedup_key`` a second start returns the first run (whatever its state) and queues nothing new.
        Raises :class:`InvalidInput` for an unknown workflow (naming the known ones) or a budget above the
        default.
        """
        self.check_workflow(workflow)
        now = self._clock()
        run = self._store.create(
            Run.new(
                id=self._new_id(),
                workflow=workflow,
                trigger=trigger,
                principal=principal,
                repository=repository,
                parameters=dict(parameters),
                budget=lowered(self.default_budget, budget),
                planner=self._planner,
                now=now,
                dedup_key=dedup_key,
            )
        )
        if run.state is RunState.QUEUED:
            # A deduplicated start of a queued run lands on the same job (same dedup key): nothing twice.
            self._enqueue(run.id, run_job_dedup_key(run.id))
        return run

    def begin(
        self, *, workflow: str, trigger: Trigger, principal: str, parameters: Mapping[str, Any], planner: str
    ) -> Run:
        """Create a ``RUNNING`` run that its caller advances itself, now, in this process (a chat turn): no job
        is queued for it. ``workflow`` need not be one of :attr:`workflows` (those are what ``startRun`` may
        name)."""
        now = self._clock()
        return self._store.create(
            Run.new(
                id=self._new_id(),
                workflow=workflow,
                state=RunState.RUNNING,
                trigger=trigger,
                principal=principal,
                parameters=dict(parameters),
                budget=self.default_budget,
                planner=planner,
                now=now,
            )
        )

    def _enqueue(self, run_id: str, dedup_key: str) -> None:
        self._queue.enqueue(
            kind=WORKFLOW_RUN,
            payload={"run_id": run_id},
            now=self._clock(),
            dedup_key=dedup_key,
            max_attempts=self._max_attempts,
        )

    def get(self, run_id: str) -> Run:
        """The run. Raises :class:`service.errors.NotFound`."""
        return self._store.get(run_id)

    def list(self, *, state: RunState | None = None, workflow: str | None = None, limit: int = 50) -> list[Run]:
        """Newest first (``limit`` 1..1000)."""
        return self._store.list(state=state, workflow=workflow, limit=limit)

    def cancel(self, run_id: str, *, by: str) -> Run:
        """Cancel a run that has not ended: it becomes ``CANCELLED`` now. A queued or paused run never starts
        (its job finds it cancelled); a running one stops at its next step boundary, where the engine reads
        the stored state. Cancelling an ended run changes nothing and returns it as it is (idempotent).
        Raises :class:`service.errors.NotFound`.
        """
        for _ in range(_SAVE_ATTEMPTS):
            run = self._store.get(run_id)
            if run.state.terminal:
                return run
            now = self._clock()
            try:
                return self._store.save(
                    replace(
                        run,
                        state=RunState.CANCELLED,
                        error=f"cancelled by {by} while {run.state.value}",
                        updated_at=now,
                        finished_at=now,
                    )
                )
            except Conflict:
                continue  # the engine saved a step meanwhile: read it again
        raise Conflict(f"run {run_id} kept changing while it was being cancelled", hint="try again")

    def resume(self, run_id: str) -> Run:
        """Queue the run's job again (a paused run that was confirmed, or a run whose job ended while the run
        did not). An ended run is returned unchanged. Idempotent per run version."""
        run = self._store.get(run_id)
        if run.workflow in self._resumers:
            return run  # continued by its resumer, on its confirmation only: a job could not advance it
        if not run.state.terminal:
            self._enqueue(run.id, f"{run.id}:resume:{run.version}")
        return run

    def resume_with(self, workflow: str, resumer: Resumer) -> None:
        """Have ``resumer`` continue approved runs of ``workflow`` (instead of a ``workflow.run`` job)."""
        self._resumers[workflow] = resumer

    def pause(self, run: Run, *, action: str, input: Mapping[str, Any], reason: str, **checkpoint: Any) -> Run:
        """Save ``run`` (as last read or saved) ``PAUSED``, waiting for a person to confirm ``action`` with
        ``input``; ``checkpoint`` entries are saved with it. Raises :class:`Conflict` when the run changed
        meanwhile (it was cancelled, or another worker moved it on)."""
        now = self._clock()
        pending = {"action": action, "input": dict(input), "reason": reason, "requested_at": now.isoformat()}
        return self._store.save(
            replace(
                run,
                state=RunState.PAUSED,
                checkpoint={**run.checkpoint, **checkpoint, PENDING_CONFIRMATION: pending},
                updated_at=now,
            )
        )

    def decide(self, run_id: str, approve: bool, by: str) -> tuple[Run, bool]:
        """Record ``by``'s decision on the action the run waits for; return the run and whether this call made
        the decision.

        Approved: the run becomes ``QUEUED`` with the action added to its confirmed actions (its
        ``confirmed_actions`` parameter), ready to continue. Refused: it becomes ``CANCELLED`` now. Either way
        ``pending_confirmation`` gives way to a ``confirmation`` record. The same decision again returns the run
        as it is and False (idempotent); a run that waits for nothing raises :class:`Conflict`, an unknown run
        :class:`service.errors.NotFound`. Continuing the run is the caller's (see :meth:`confirm`).
        """
        for _ in range(_SAVE_ATTEMPTS):
            run = self._store.get(run_id)
            pending = run.checkpoint.get(PENDING_CONFIRMATION)
            if run.state is not RunState.PAUSED or not isinstance(pending, dict):
                decided = run.checkpoint.get(CONFIRMATION)
                if isinstance(decided, dict) and decided.get("approved") is approve:
                    return run, False
                raise Conflict(
                    f"run {run_id} is {run.state.value} and waits for no confirmation",
                    hint="only a paused run with a pending action can be approved or refused",
                )
            now = self._clock()
            action = str(pending.get("action", ""))
            record = {"action": action, "input": pending.get("input"), "approved": approve, "by": by}
            checkpoint = {k: v for k, v in run.checkpoint.items() if k != PENDING_CONFIRMATION}
            checkpoint[CONFIRMATION] = {**record, "at": now.isoformat()}
            if approve:
                confirmed = [str(a) for a in run.parameters.get(CONFIRMED_ACTIONS) or ()]
                changed = replace(
                    run,
                    state=RunState.QUEUED,
                    parameters={**run.parameters, CONFIRMED_ACTIONS: sorted({*confirmed, action})},
                    checkpoint=checkpoint,
                    updated_at=now,
                )
            else:
                changed = replace(
                    run,
                    state=RunState.CANCELLED,
                    checkpoint=checkpoint,
                    error=f"{action} was refused by {by}",
                    updated_at=now,
                    finished_at=now,
                )
            try:
                return self._store.save(changed), True
            except Conflict:
                continue  # cancelled or moved on meanwhile: read it again
        raise Conflict(f"run {run_id} kept changing while it was being confirmed", hint="try again")

    def confirm(self, run_id: str, approve: bool, by: str) -> Run:
        """Approve or refuse the action a ``PAUSED`` run waits for (:meth:`decide`), and continue an approved
        run: the workflow's resumer (:meth:`resume_with`) runs it now, in this thread, or a ``workflow.run`` job
        is queued for it. Returns the run as it stands afterwards. A repeated decision continues nothing twice.
        Raises :class:`Conflict` for a run that waits for no confirmation, :class:`service.errors.NotFound`.
        """
        run, decided = self.decide(run_id, approve, by)
        if not decided or run.state is not RunState.QUEUED:
            return run
        resumer = self._resumers.get(run.workflow)
        if resumer is not None:
            return resumer(run)
        self._enqueue(run.id, f"{run.id}:confirmed:{run.version}")
        return run
