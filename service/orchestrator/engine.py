"""The workflow engine: advances a persisted run step by step, saving after every step.

``advance(run_id)`` loads the run, marks it RUNNING and runs its remaining steps in order from ``run.step``.
After each step the checkpoint, the next step and the usage are saved with the run's version (a compare-and-
set): a :class:`Conflict` means someone else moved the run on (another worker, a cancel), and this attempt
stops quietly. A spent budget ends the run as STOPPED with the workflow's partial summary; a permanent error
(bad input, unknown repository, refused action) ends it as FAILED with the reason; any other exception
propagates, leaving the run RUNNING at the failed step, so the job that called ``advance`` retries and the
retry continues there.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any, Protocol

from service.domain.action_calls import Trigger
from service.domain.runs import Run, RunState
from service.errors import Conflict, NotFound, TicketsmithError
from service.jobs.worker import PERMANENT_ERRORS
from service.orchestrator.budget import BudgetMeter, BudgetSpent
from service.orchestrator.workflow import Checkpoint, Services, StepContext, StepStopped, Workflow
from service.ports.run_store import RunStore
from service.traces.recorder import Scrub, SpanSink, TraceRecorder

logger = logging.getLogger(__name__)


class Policy(Protocol):
    """``policy(trigger, action, confirmed) -> (allowed, reason)``: the guardrail policy, per trigger;
    ``confirmed`` holds the actions the run's starter confirmed up front (``confirmed_actions`` parameter)."""

    def __call__(self, trigger: Trigger, action: str, confirmed: frozenset[str] = frozenset()) -> tuple[bool, str]: ...


CONFIRMED_ACTIONS = "confirmed_actions"
"""The run parameter listing actions confirmed when the run was started (by the person who started it)."""

ADVANCEABLE = (RunState.QUEUED, RunState.RUNNING)


def _identity(value: Any) -> Any:
    return value


class WorkflowEngine:
    """Runs workflows over runs kept in ``store``. One engine serves many runs; it keeps no per-run state."""

    def __init__(
        self,
        store: RunStore,
        workflows: Mapping[str, Workflow],
        services: Services,
        *,
        policy: Policy | None = None,
        scrub: Scrub = _identity,
        sinks: Sequence[SpanSink] = (),
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._store = store
        self._workflows = dict(workflows)
        self._services = services
        self._policy = policy
        self._scrub = scrub
        self._sinks = tuple(sinks)
        self._clock = clock
        self._monotonic = monotonic

    def workflow(self, name: str) -> Workflow:
        """The workflow called ``name``; :class:`NotFound` for one this engine does not run."""
        try:
            return self._workflows[name]
        except KeyError:
            known = ", ".join(sorted(self._workflows)) or "none"
            raise NotFound(f"unknown workflow {name!r}", hint=f"known workflows: {known}") from None

    def _services_for(self, run: Run) -> Services:
        policy = self._policy
        if policy is None:
            return self._services
        trigger = run.trigger
        confirmed = frozenset(str(a) for a in run.parameters.get(CONFIRMED_ACTIONS) or ())

        def allow(action: str) -> tuple[bool, str]:
            return policy(trigger, action, confirmed)

        return replace(self._services, allow=allow)

    def advance(self, run_id: str) -> Run:
        """Run ``run_id``'s remaining steps; returns the run as last saved (or as found, if not advanceable).

        Raises :class:`NotFound` for an unknown run; exceptions other than the permanent errors and spent
        budgets propagate with the run left RUNNING at the step that failed.
        """
        run = self._store.get(run_id)
        if run.state not in ADVANCEABLE:
            return run
        workflow = self.workflow(run.workflow)
        try:
            run = self._save(run, state=RunState.RUNNING, error=None)
        except Conflict:
            logger.info("run %s is being advanced elsewhere", run_id)
            return self._store.get(run_id)
        recorder = TraceRecorder(self._store, run.id, scrub=self._scrub, sinks=self._sinks, clock=self._clock)
        meter = BudgetMeter(run.budget, run.usage, clock=self._monotonic)
        attempt = _Attempt(self, run, meter)
        services = self._services_for(run)
        try:
            for step in workflow.remaining(run.step):
                ctx = StepContext(
                    run=attempt.run,
                    checkpoint=attempt.checkpoint,
                    recorder=recorder,
                    budget=meter,
                    services=services,
                    progress=attempt.progress,
                )
                ctx.ensure_budget()
                try:
                    with recorder.step(step.name):
                        update = step.run(ctx)
                except StepStopped as stopped:
                    meter.charge(steps=1)
                    attempt.checkpoint = {**attempt.checkpoint, **stopped.update}
                    raise
                meter.charge(steps=1)
                checkpoint = {**attempt.checkpoint, **update}
                attempt.checkpoint = checkpoint
                following = workflow.after(step.name)
                if following is None:
                    return self._save(
                        attempt.run,
                        state=RunState.SUCCEEDED,
                        step=None,
                        checkpoint=checkpoint,
                        usage=meter.usage,
                        result=workflow.result(checkpoint),
                        finished_at=self._clock(),
                    )
                attempt.run = self._save(attempt.run, step=following, checkpoint=checkpoint, usage=meter.usage)
            # Only reached for a run saved after its last step but not marked finished (never by this engine).
            return self._save(
                attempt.run, state=RunState.SUCCEEDED, step=None, result=workflow.result(attempt.checkpoint)
            )
        except Conflict:
            logger.info("run %s changed under this worker; stopping quietly", run_id)
            return self._store.get(run_id)
        except BudgetSpent as spent:
            recorder.rationale(f"budget spent ({spent.limit}): stopping cleanly with what was done so far")
            return self._finish(
                attempt.run,
                RunState.STOPPED,
                checkpoint=attempt.checkpoint,
                usage=meter.usage,
                result={"stopped_by": spent.limit, **workflow.result(attempt.checkpoint)},
                error=None,
            )
        except PERMANENT_ERRORS as exc:
            return self._finish(
                attempt.run,
                RunState.FAILED,
                checkpoint=attempt.checkpoint,
                usage=meter.usage,
                result={"failed_at": attempt.run.step, **workflow.result(attempt.checkpoint)},
                error=_reason(exc),
            )
        except BaseException:
            self._note_usage(attempt.run, meter)
            raise

    def _finish(
        self,
        run: Run,
        state: RunState,
        *,
        checkpoint: Checkpoint,
        usage: Any,
        result: dict[str, Any],
        error: str | None,
    ) -> Run:
        try:
            return self._save(
                run,
                state=state,
                checkpoint=checkpoint,
                usage=usage,
                result=result,
                error=error,
                finished_at=self._clock(),
            )
        except Conflict:
            logger.info("run %s changed under this worker before it could end as %s", run.id, state)
            return self._store.get(run.id)

    def _note_usage(self, run: Run, meter: BudgetMeter) -> None:
        """Keep the wall time an attempt that crashed spent (best effort: the retry must still find the run)."""
        try:
            current = self._store.get(run.id)
            if current.version == run.version:
                self._save(current, usage=meter.usage)
        except (Conflict, NotFound):
            pass

    def _save(self, run: Run, **changes: Any) -> Run:
        return self._store.save(replace(run, updated_at=self._clock(), **changes))


def _reason(exc: BaseException) -> str:
    if isinstance(exc, TicketsmithError):
        return f"{exc.message} ({exc.hint})" if exc.hint else exc.message
    return f"{type(exc).__name__}: {exc}"


class _Attempt:
    """The run as this attempt last saved it, and the checkpoint so far (including a step's progress)."""

    def __init__(self, engine: WorkflowEngine, run: Run, meter: BudgetMeter) -> None:
        self._engine = engine
        self._meter = meter
        self.run = run
        self.checkpoint: Checkpoint = dict(run.checkpoint)

    def progress(self, update: Checkpoint) -> None:
        """Save part of a step's work now (same step, usage so far); :class:`Conflict` when the run moved on."""
        self.checkpoint = {**self.checkpoint, **update}
        self.run = self._engine._save(self.run, checkpoint=self.checkpoint, usage=self._meter.usage)
