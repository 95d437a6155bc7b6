"""The composition root's workflow half: how runs are planned, policed, started and advanced.

Split from :mod:`service.container` (which re-exports these names) so that file keeps to picking adapters; this
module imports none.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from service.action_groups.chat_tools import chat_tools
from service.api.knowledge_bases import check_source_allowed
from service.domain.action_calls import Trigger
from service.domain.runs import Budget, Run
from service.errors import ConfigurationError
from service.guardrails.policy import ActionPolicy, ActionTraits
from service.guardrails.redaction import scrub
from service.jobs.worker import JobHandler
from service.knowledge_base.sources import default_name
from service.orchestrator.chat import ChatService
from service.orchestrator.engine import WorkflowEngine
from service.orchestrator.job import (
    WORKFLOW_SCAN,
    WORKFLOW_SUGGEST,
    RunAdvancer,
    jira_scan_handler,
    jira_suggest_handler,
    workflow_run_handler,
)
from service.orchestrator.model_planner import ModelPlanner
from service.orchestrator.planner import DeterministicPlanner, Planner
from service.orchestrator.prompts import PromptLibrary
from service.orchestrator.runs import DETERMINISTIC, WORKFLOW_RUN, RunService
from service.orchestrator.scan import SCAN, SCAN_WORKFLOW, checks_runner, guardrail_policy
from service.orchestrator.suggest import SUGGEST, suggest_workflow
from service.orchestrator.workflow import Echo, Services, redact_text
from service.ports.job_queue import JobQueue
from service.ports.llm import LLM
from service.ports.run_store import RunStore
from service.settings import Settings

if TYPE_CHECKING:
    from service.container import Container


def chat_service(container: Container) -> ChatService:
    """Chat turns over the container's sessions, runs, knowledge base and model (none: answers without one),
    with the action groups as tools under the ``chat`` trigger's allow-list, and the redaction gate on traces."""
    settings = container.settings
    policy = action_policy(container)
    dispatcher = container.dispatcher
    return ChatService(
        store=container.chat_store,
        runs=container.runs,
        run_store=container.run_store,
        knowledge=container.knowledge,
        llm=container.llm,
        tools_for=lambda principal: chat_tools(dispatcher, principal),
        decide=lambda action: policy.allows(Trigger.CHAT, action),
        prompts=PromptLibrary(settings.orchestrator.resolved_prompts_dir),
        scrub=scrub if settings.guardrails.redact_secrets else _same,
        sinks=container.trace_sinks,
        max_tokens=settings.llm.max_tokens,
        temperature=settings.llm.temperature,
    )


def action_policy(container: Container) -> ActionPolicy:
    """The per-trigger allow-lists of ``settings.guardrails``, telling reads from writes (and the writes Bedrock
    confirms) by the operations registered in the container."""
    registry = container.registry

    def traits(action: str) -> ActionTraits | None:
        group, _, operation_id = action.partition(".")
        if group not in {registered.name for registered in registry}:
            return None
        operation = registry.group(group).operation_table().get(operation_id)
        if operation is None:
            return None
        return ActionTraits(writes=operation.writes, bedrock_confirms=operation.require_confirmation)

    return ActionPolicy(container.settings.guardrails, actions=traits)


WORKFLOWS = (SCAN, SUGGEST)
"""The workflows runs may name."""


def default_budget(settings: Settings) -> Budget:
    """The budget of a run that asks for no lower one (``settings.orchestrator``)."""
    limits = settings.orchestrator
    return Budget(
        max_steps=limits.max_steps,
        max_tokens=limits.max_tokens,
        max_seconds=limits.max_seconds,
        max_tickets=limits.max_tickets,
    )


def run_service(settings: Settings, store: RunStore, queue: JobQueue, llm: LLM | None = None) -> RunService:
    """Runs kept in ``store`` and advanced by ``workflow.run`` jobs on ``queue``; each run names its planner
    (the model's id, or ``deterministic`` when no model is configured)."""
    planner = llm.model_id if llm is not None else DETERMINISTIC
    return RunService(store=store, queue=queue, budget=default_budget(settings), workflows=WORKFLOWS, planner=planner)


def api_repository_check(container: Container) -> Callable[[str | None], tuple[str | None, str | None]]:
    """What an API caller may name as a run's repository, as ``(name, source)``: an indexed repository's name
    (none: the only one indexed) and no source, or a path or clone URL it may have indexed
    (``settings.indexing``) and the name it is indexed under."""
    knowledge, indexing = container.knowledge, container.settings.indexing

    def check(repository: str | None) -> tuple[str | None, str | None]:
        if repository is None or knowledge.known(repository):
            return knowledge.default_repository(repository), None
        source = check_source_allowed(repository, indexing)
        return default_name(source), source

    return check


def ticket_project(settings: Settings) -> str | None:
    """The project tickets are filed in: Jira's configured project, or the local store's."""
    return settings.jira.project_key if settings.jira.configured else settings.tickets.local_project


def workflow_handlers(container: Container, engine: RunAdvancer | None) -> dict[str, JobHandler]:
    """The jobs that run workflows: ``workflow.run`` advances a run, ``workflow.scan`` and ``workflow.suggest``
    (queued by Jira trigger rules) start one."""
    return {
        WORKFLOW_RUN: workflow_run_handler(container.run_store, engine or workflow_engine(container)),
        WORKFLOW_SCAN: jira_scan_handler(container.runs, default_repository=container.knowledge.default_repository),
        WORKFLOW_SUGGEST: jira_suggest_handler(
            container.runs, default_repository=container.knowledge.default_repository
        ),
    }


class _Unconfigured:
    """Stands in for the engine when runs cannot be advanced as configured: each run fails with the reason."""

    def __init__(self, error: ConfigurationError) -> None:
        self._error = error

    def advance(self, run_id: str) -> Run:
        raise self._error


def _same(value: Any) -> Any:
    return value


def _same_text(text: str) -> str:
    return text


def planner_for(container: Container) -> Planner:
    """The model planner when a model is configured (``container.llm``), else the deterministic one; both fill
    the templates in ``settings.orchestrator.prompts_dir``."""
    prompts = PromptLibrary(container.settings.orchestrator.resolved_prompts_dir)
    if container.llm is None:
        return DeterministicPlanner(prompts)
    policy = guardrail_policy(action_policy(container))
    return ModelPlanner(
        container.llm,
        knowledge=container.knowledge,
        prompts=prompts,
        # The model's tools are read-only lookups; they are held to the strictest trigger's allow-list (a Jira
        # webhook's), whichever trigger started the run.
        allow=lambda action: policy(Trigger.JIRA_WEBHOOK, action),
        max_tokens=container.settings.llm.max_tokens,
        temperature=container.settings.llm.temperature,
    )


def workflow_engine(container: Container, *, echo: Echo | None = None) -> RunAdvancer:
    """The engine runs are advanced with (by workers and by ``ticketsmith scan``): the workflows over the
    container's knowledge base, checks and ticket filer, the planner :func:`planner_for` picks, the guardrail
    policy of each run's trigger, the redaction gate (``guardrails.redact_secrets``) and the container's trace
    sinks. ``echo`` receives progress lines. Without a project to file tickets in, every run fails saying so."""
    settings = container.settings
    project = ticket_project(settings)
    if project is None:
        return _Unconfigured(
            ConfigurationError(
                "no project to file tickets in", hint="set TICKETSMITH_JIRA__PROJECT_KEY (or TICKETSMITH_TICKETS__*)"
            )
        )
    redacting = settings.guardrails.redact_secrets
    services = Services(
        knowledge=container.knowledge,
        checks=checks_runner(settings.data_dir / "scratch"),
        filer=container.ticket_filer,
        planner=planner_for(container),
        project_key=project,
        redact=redact_text if redacting else _same_text,
    )
    if echo is not None:
        services = replace(services, echo=echo)
    suggest = suggest_workflow(
        llm=container.llm,
        prompts=PromptLibrary(settings.orchestrator.resolved_prompts_dir),
        scratch_parent=settings.data_dir / "scratch",
        max_tokens=settings.llm.max_tokens,
        temperature=settings.llm.temperature,
    )
    return WorkflowEngine(
        container.run_store,
        {SCAN: SCAN_WORKFLOW, SUGGEST: suggest},
        services,
        policy=guardrail_policy(action_policy(container)),
        scrub=scrub if redacting else _same,
        sinks=container.trace_sinks,
    )
