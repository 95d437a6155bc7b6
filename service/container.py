"""The composition root: the only place that picks adapters, from settings, at start-up.

Tests build a :class:`Container` with fakes through :func:`build_container`'s keyword arguments; nothing in
the package chooses an implementation at import time.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import Engine
from sqlalchemy.engine import make_url

from service.action_groups.audit import CallRecorder
from service.action_groups.dispatcher import ActionDispatcher
from service.action_groups.handlers.codebase import CodebaseActions, codebase_group
from service.action_groups.handlers.jira import JiraActions, jira_group
from service.action_groups.handlers.quality import QualityActions, quality_group
from service.action_groups.handlers.runs import RunsActions, runs_group
from service.action_groups.handlers.system import SystemActions, system_group
from service.action_groups.operations import ActionGroup
from service.action_groups.registry import ActionGroupRegistry
from service.adapters.embeddings import build_embedder
from service.adapters.jira import JiraTracker, build_issue_tracker
from service.adapters.knowledge.memory import InMemoryChunkIndex
from service.adapters.knowledge.postgres import PostgresChunkIndex
from service.adapters.knowledge.sqlite import SqliteChunkIndex
from service.adapters.llm import build_llm
from service.adapters.llm.openai_compat import OpenAICompatibleLLM
from service.adapters.storage.action_calls import SqlActionCallLog
from service.adapters.storage.chat import SqlChatStore
from service.adapters.storage.engine import DatabaseReadiness, create_database_engine
from service.adapters.storage.findings import SqlFindingStore
from service.adapters.storage.jobs import SqlJobQueue
from service.adapters.storage.memory import InMemoryActionCallLog, InMemoryFindingStore, InMemoryJobQueue
from service.adapters.storage.memory_chat import InMemoryChatStore
from service.adapters.storage.memory_runs import InMemoryRunStore
from service.adapters.storage.migrate import current_revision, upgrade_to_head
from service.adapters.storage.runs import SqlRunStore
from service.adapters.tickets.ledger import SqlTicketLedger
from service.adapters.tickets.local import LocalIssueTracker, in_memory_local_tracker
from service.adapters.tickets.memory import InMemoryTicketLedger
from service.errors import ConfigurationError
from service.guardrails.gates import gate_issue_tracker, gate_llm
from service.jobs.group_commit import GroupCommit
from service.jobs.jira_webhooks import JIRA_WEBHOOK, jira_webhook_handler
from service.jobs.maintenance import PRUNE_ACTION_CALLS, prune_action_calls
from service.jobs.worker import Periodic, Worker
from service.knowledge_base.fusion import Fusion
from service.knowledge_base.job import KB_EMBED, KB_SYNC, kb_embed_handler, kb_sync_handler
from service.knowledge_base.library import KnowledgeBase
from service.knowledge_base.retrieval import HybridRetriever
from service.knowledge_base.selection import SelectionRules
from service.orchestrator.chat import CHAT, ChatService
from service.orchestrator.job import (
    RunAdvancer,
)
from service.orchestrator.runs import WORKFLOW_RUN, RunService
from service.ports.action_call_log import ActionCallLog, ReadinessProbe
from service.ports.chat_store import ChatStore
from service.ports.chunk_index import ChunkIndex
from service.ports.embedder import Embedder
from service.ports.finding_store import FindingStore
from service.ports.issue_tracker import IssueTracker
from service.ports.job_queue import JobQueue
from service.ports.llm import LLM
from service.ports.run_store import RunStore
from service.ports.ticket_ledger import TicketLedger
from service.quality.checkers import all_checkers
from service.quality.job import QUALITY_CHECK, quality_check_handler
from service.settings import Settings
from service.tickets.filing import FilingPolicy, TicketFiler
from service.traces.recorder import SpanSink
from service.workflow_wiring import WORKFLOWS as WORKFLOWS
from service.workflow_wiring import action_policy as action_policy
from service.workflow_wiring import api_repository_check as api_repository_check
from service.workflow_wiring import chat_service as chat_service
from service.workflow_wiring import default_budget as default_budget
from service.workflow_wiring import planner_for as planner_for
from service.workflow_wiring import run_service as run_service
from service.workflow_wiring import ticket_project as ticket_project
from service.workflow_wiring import workflow_engine as workflow_engine
from service.workflow_wiring import workflow_handlers as workflow_handlers

GroupFactory = Callable[["Container"], ActionGroup]


@dataclass
class Container:
    """Everything the edges (REST, Bedrock endpoint, Lambda, CLI) need, built once."""

    settings: Settings
    registry: ActionGroupRegistry
    dispatcher: ActionDispatcher
    recorder: CallRecorder
    job_queue: JobQueue
    finding_store: FindingStore
    storage_backend: str
    embedder: Embedder  # loads its model on the first embedding call, never at start-up
    chunk_index: ChunkIndex
    knowledge: KnowledgeBase
    issue_tracker: IssueTracker
    ticket_ledger: TicketLedger
    ticket_filer: TicketFiler
    run_store: RunStore
    runs: RunService
    job_intake: GroupCommit  # queues jobs from request handlers, many per transaction
    llm: LLM | None = None  # None: no model configured, the deterministic planner runs
    # Receive every recorded span (OpenTelemetry export when TICKETSMITH_TELEMETRY__OTLP_ENDPOINT is set).
    trace_sinks: list[SpanSink] = field(default_factory=list)
    readiness: list[ReadinessProbe] = field(default_factory=list)
    chat_store: ChatStore = field(default_factory=InMemoryChatStore)
    chat: ChatService | None = None  # set by build_container (it needs the finished registry)
    started_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    _closers: list[Callable[[], None]] = field(default_factory=list)

    def close(self) -> None:
        """Release connections and pools. Safe to call twice."""
        while self._closers:
            self._closers.pop()()


def build_container(
    settings: Settings,
    *,
    call_log: ActionCallLog | None = None,
    in_memory: bool = False,
    extra_groups: Iterable[GroupFactory] = (),
    chunk_index: ChunkIndex | None = None,
    embedder: Embedder | None = None,
    issue_tracker: IssueTracker | None = None,
    llm: LLM | None = None,
) -> Container:
    """Build the container for ``settings``.

    ``call_log`` replaces the database-backed audit log (no database is opened then); ``in_memory`` uses the
    in-memory one (for commands that never serve, such as schema export); ``extra_groups`` adds action groups,
    each built from the finished container. Raises :class:`ConfigurationError` for a bad database URL or an
    invalid action-group definition. ``embedder`` replaces the one ``settings.embeddings`` picks (not yet loaded);
    ``chunk_index`` the knowledge index :func:`build_chunk_index` picks. ``issue_tracker`` replaces the one
    chosen from settings (Jira when ``TICKETSMITH_JIRA__URL`` is set, else the local dry-run store in the service
    database). ``llm`` replaces the model ``settings.llm`` picks (:func:`build_llm`; None there when no model is
    configured).
    """
    job_queue: JobQueue
    finding_store: FindingStore
    ticket_ledger: TicketLedger
    local_tracker: LocalIssueTracker
    run_store: RunStore
    chat_store: ChatStore
    if in_memory and call_log is None:
        call_log = InMemoryActionCallLog()
    registry = ActionGroupRegistry()
    closers: list[Callable[[], None]] = []
    readiness: list[ReadinessProbe] = []
    engine: Engine | None = None
    if call_log is None:
        engine = create_database_engine(settings.resolved_database_url, echo=settings.database.echo_sql)
        closers.append(engine.dispose)
        if settings.database.auto_migrate:
            upgrade_to_head(engine)
        call_log = SqlActionCallLog(engine)
        job_queue = SqlJobQueue(engine)
        finding_store = SqlFindingStore(engine)
        ticket_ledger = SqlTicketLedger(engine)
        local_tracker = LocalIssueTracker(engine)
        run_store = SqlRunStore(engine)
        chat_store = SqlChatStore(engine)
        readiness.append(DatabaseReadiness(engine))
        backend = make_url(settings.resolved_database_url).get_backend_name()
    else:
        job_queue = InMemoryJobQueue()
        finding_store = InMemoryFindingStore()
        ticket_ledger = InMemoryTicketLedger()
        local_tracker = in_memory_local_tracker()
        run_store = InMemoryRunStore()
        chat_store = InMemoryChatStore()
        backend = "memory"
    jira_tracker = None if issue_tracker else build_issue_tracker(settings)  # None: no Jira configured
    if isinstance(jira_tracker, JiraTracker):
        closers.append(jira_tracker.close)
    tracker: IssueTracker = issue_tracker or jira_tracker or local_tracker
    tracker = gate_issue_tracker(settings, tracker)  # secrets never reach a ticket or comment
    recorder = CallRecorder(call_log)
    closers.append(recorder.close)
    dispatcher = ActionDispatcher(
        registry=registry, recorder=recorder, timeout_seconds=settings.server.handler_timeout_seconds
    )
    embedder = embedder or build_embedder(settings)
    llm = llm if llm is not None else build_llm(settings)
    if isinstance(llm, OpenAICompatibleLLM):
        closers.append(llm.close)
    llm = gate_llm(settings, llm)  # prompts to hosted models pass the redaction gate
    if chunk_index is None:
        chunk_index = build_chunk_index(settings, engine=engine, closers=closers)
    # Hybrid search runs its lexical half here while the query is embedded and searched densely.
    search_pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="kb-search")
    closers.append(search_pool.shutdown)
    job_intake = GroupCommit(job_queue)
    closers.append(job_intake.close)
    container = Container(
        settings=settings,
        registry=registry,
        dispatcher=dispatcher,
        recorder=recorder,
        job_queue=job_queue,
        finding_store=finding_store,
        storage_backend=backend,
        embedder=embedder,
        chunk_index=chunk_index,
        knowledge=_knowledge_base(settings, chunk_index, embedder, search_pool),
        issue_tracker=tracker,
        ticket_ledger=ticket_ledger,
        ticket_filer=TicketFiler(tracker, ticket_ledger, filing_policy(settings)),
        run_store=run_store,
        runs=run_service(settings, run_store, job_queue, llm),
        job_intake=job_intake,
        llm=llm,
        trace_sinks=build_trace_sinks(settings, closers),
        readiness=readiness,
        chat_store=chat_store,
        _closers=closers,
    )
    registry.add(
        system_group(
            SystemActions(
                registry=registry,
                recorder=recorder,
                storage=backend,
                auth_enabled=settings.auth_enabled,
                started_at=container.started_at,
            )
        )
    )
    registry.add(
        quality_group(
            QualityActions(queue=job_queue, store=finding_store, allowed_roots=settings.quality.allowed_roots)
        )
    )
    registry.add(codebase_group(CodebaseActions(container.knowledge)))
    registry.add(
        jira_group(
            JiraActions(
                tracker=container.issue_tracker, filer=container.ticket_filer, default_project=ticket_project(settings)
            )
        )
    )
    registry.add(runs_group(RunsActions(service=container.runs, check_repository=api_repository_check(container))))
    for factory in extra_groups:
        registry.add(factory(container))
    dispatcher.policy = action_policy(container).allows
    container.chat = chat_service(container)
    container.runs.resume_with(CHAT, container.chat.resumer)
    return container


def _knowledge_base(
    settings: Settings, chunk_index: ChunkIndex, embedder: Embedder, search_pool: ThreadPoolExecutor
) -> KnowledgeBase:
    indexing, tuning = settings.indexing, settings.knowledge_base
    fusion = Fusion(
        method=tuning.fusion,
        lexical_weight=tuning.lexical_weight,
        dense_weight=tuning.dense_weight,
        rrf_k=tuning.rrf_k,
    )
    return KnowledgeBase(
        chunk_index,
        embedder,
        retriever=HybridRetriever(
            chunk_index, embedder, fusion=fusion, candidates=tuning.candidates, executor=search_pool
        ),
        data_dir=settings.data_dir,
        rules=SelectionRules(max_file_bytes=indexing.max_file_bytes, max_document_bytes=indexing.max_document_bytes),
        embed_batch=settings.embeddings.batch_size,
    )


def build_trace_sinks(settings: Settings, closers: list[Callable[[], None]]) -> list[SpanSink]:
    """The OpenTelemetry exporter when ``settings.telemetry.otlp_endpoint`` is set, else none. Raises
    :class:`ConfigurationError` when the endpoint is set but the ``otel`` extra is not installed."""
    if not settings.telemetry.otlp_endpoint:
        return []
    try:
        from service.traces.otel import build_otel_sink
    except ImportError as exc:
        raise ConfigurationError(
            f"OpenTelemetry export needs the otel extra ({exc})",
            hint="pip install 'ticketsmith[otel]', or unset TICKETSMITH_TELEMETRY__OTLP_ENDPOINT",
        ) from None
    sink = build_otel_sink(settings.telemetry)
    if sink is None:
        return []
    closers.append(sink.close)
    return [sink]


def filing_policy(settings: Settings) -> FilingPolicy:
    """How the ticket filer treats duplicates and closed tickets, from the Jira and ticket settings."""
    return FilingPolicy(
        closed_ticket_policy=settings.jira.closed_ticket_policy,
        reopen_status=settings.jira.reopen_status,
        marker_label=settings.tickets.marker_label,
        claim_stale_seconds=settings.tickets.claim_stale_seconds,
        wait_seconds=settings.tickets.wait_seconds,
    )


def build_chunk_index(
    settings: Settings, *, engine: Engine | None, closers: list[Callable[[], None]] | None = None
) -> ChunkIndex:
    """The knowledge index ``settings.knowledge_base.index_backend`` names; in memory when ``engine`` is None
    (in-memory containers). ``auto`` is PostgreSQL when the service database is, else the embedded SQLite file
    ``<data_dir>/index/knowledge.db``. Raises :class:`ConfigurationError` for postgres without PostgreSQL.
    """
    if engine is None:
        return InMemoryChunkIndex()
    backend = settings.knowledge_base.index_backend
    on_postgres = engine.dialect.name == "postgresql"
    if backend == "postgres" or (backend == "auto" and on_postgres):
        if not on_postgres:
            raise ConfigurationError(
                "the postgres knowledge index needs a PostgreSQL database",
                hint="set TICKETSMITH_DATABASE_URL to PostgreSQL, or TICKETSMITH_KNOWLEDGE_BASE__INDEX_BACKEND=sqlite",
            )
        return PostgresChunkIndex(engine)
    embedded = SqliteChunkIndex(settings.data_dir / "index" / "knowledge.db")
    if closers is not None:
        closers.append(embedded.close)
    return embedded


def scratch_chunk_index(directory: Path) -> tuple[ChunkIndex, Callable[[], None]]:
    """An empty index of the embedded kind in ``directory`` (for evaluations, never the user's index), and the
    function that closes it."""
    index = SqliteChunkIndex(directory / "scratch-index.sqlite3")
    return index, index.close


def build_worker(container: Container, *, worker_id: str, engine: RunAdvancer | None = None) -> Worker:
    """A job worker for every job kind this service defines, with its periodic housekeeping. ``engine``
    replaces the workflow engine :func:`workflow_engine` builds from the container."""
    jobs = container.settings.jobs
    periodic: tuple[Periodic, ...] = ()
    if jobs.call_retention_days > 0:
        periodic = (
            Periodic(
                kind=PRUNE_ACTION_CALLS,
                every=timedelta(days=1),
                payload={"older_than_days": jobs.call_retention_days},
            ),
        )
    return Worker(
        queue=container.job_queue,
        handlers={
            PRUNE_ACTION_CALLS: prune_action_calls(container.recorder.log),
            JIRA_WEBHOOK: jira_webhook_handler(container.settings.triggers, container.job_queue),
            QUALITY_CHECK: quality_check_handler(
                container.finding_store, all_checkers, scratch_parent=container.settings.data_dir / "scratch"
            ),
            KB_SYNC: kb_sync_handler(container.knowledge, container.job_queue),
            KB_EMBED: kb_embed_handler(container.knowledge),
            **workflow_handlers(container, engine),
        },
        worker_id=worker_id,
        lease_seconds=jobs.lease_seconds,
        poll_interval=jobs.poll_interval_seconds,
        periodic=periodic,
        renewing={WORKFLOW_RUN},  # a run is bounded by its own budget, and keeps its lease while it runs
    )


def redacted_database_url(settings: Settings) -> str:
    """The database URL with any password masked, for logs and messages."""
    return make_url(settings.resolved_database_url).render_as_string(hide_password=True)


def migrate_database(settings: Settings) -> str | None:
    """Apply pending migrations to the configured database and return the revision it is at."""
    engine = create_database_engine(settings.resolved_database_url, echo=settings.database.echo_sql)
    try:
        upgrade_to_head(engine)
        return current_revision(engine)
    finally:
        engine.dispose()
