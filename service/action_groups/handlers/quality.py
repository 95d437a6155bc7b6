"""The ``quality`` action group: run the checks on a repository, read the findings, explain a rule."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path

import anyio.to_thread
from pydantic import BaseModel, ConfigDict, Field

from service.action_groups.operations import ActionGroup, CallContext, NoParams, Operation
from service.domain.findings import Category, Finding, Severity
from service.domain.jobs import JobState
from service.errors import Forbidden, InvalidInput, NotFound
from service.ports.finding_store import FindingStore
from service.ports.job_queue import JobQueue
from service.quality.job import QUALITY_CHECK, check_payload
from service.quality.rules import explain


class StartCheckBody(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    path: str = Field(min_length=1, max_length=4096, description="Path of a git repository on the service host.")
    since: str | None = Field(
        default=None, max_length=200, description="Only check files changed since this commit, branch or tag."
    )


class CheckRunStatus(BaseModel):
    run_id: str = Field(alias="runId", description="Id of the check run; use it to read its findings.")
    state: str = Field(description="queued, running, succeeded or failed.")
    error: str | None = Field(default=None, description="Why the run failed, when it did.")
    commit: str | None = Field(default=None, description="Commit checked, once finished.")
    files_checked: int | None = Field(default=None, alias="filesChecked", description="Files checked.")
    findings_count: int | None = Field(default=None, alias="findingsCount", description="Findings stored.")
    skipped: list[str] = Field(default_factory=list, description="Checkers that could not run, with the reason.")


class RunParams(BaseModel):
    run_id: str = Field(alias="runId", min_length=1, max_length=64, description="Id from startCheck.")


class FindingsParams(RunParams):
    min_severity: Severity | None = Field(
        default=None, alias="minSeverity", description="Only findings at least this severe."
    )
    category: Category | None = Field(default=None, description="Only findings of this category.")
    path_prefix: str | None = Field(
        default=None, alias="pathPrefix", max_length=1000, description="Only findings in paths starting with this."
    )
    limit: int = Field(default=50, ge=1, le=200, description="How many findings, 1 to 200 (default 50).")
    offset: int = Field(default=0, ge=0, description="How many to skip, for paging.")


class FindingOut(BaseModel):
    rule_id: str = Field(alias="ruleId", description="Rule, e.g. ruff.F401 or bandit.B602.")
    category: str = Field(description="lint, security, complexity, secrets, markers or hygiene.")
    severity: str = Field(description="critical, high, medium, low or info.")
    path: str = Field(description="File, relative to the repository root ('' for the repository).")
    start_line: int = Field(alias="startLine", description="First line (0 for a whole file).")
    end_line: int = Field(alias="endLine", description="Last line.")
    symbol: str = Field(description="Enclosing class or function.")
    message: str = Field(description="What is wrong.")
    snippet: str = Field(description="The code concerned (secrets redacted).")
    fingerprint: str = Field(description="Stable id of this finding across commits.")

    @classmethod
    def of(cls, finding: Finding) -> FindingOut:
        return cls(
            ruleId=finding.rule_id,
            category=finding.category.value,
            severity=finding.severity.value,
            path=finding.path,
            startLine=finding.start_line,
            endLine=finding.end_line,
            symbol=finding.symbol,
            message=finding.message,
            snippet=finding.snippet,
            fingerprint=finding.fingerprint,
        )


class FindingList(BaseModel):
    findings: list[FindingOut] = Field(description="Worst first, then by path and line.")


class RuleParams(BaseModel):
    rule_id: str = Field(alias="ruleId", min_length=1, max_length=200, description="Rule id from a finding.")


class RuleOut(BaseModel):
    rule_id: str = Field(alias="ruleId", description="Rule id.")
    tool: str = Field(description="The analyser that reports it.")
    title: str = Field(description="Short name of the rule.")
    explanation: str = Field(description="What it means and how to fix it (Markdown).")
    help_url: str | None = Field(default=None, alias="helpUrl", description="Documentation of the rule.")


class QualityActions:
    """Handlers of the ``quality`` group. Repositories must lie under one of ``allowed_roots``."""

    def __init__(
        self,
        *,
        queue: JobQueue,
        store: FindingStore,
        allowed_roots: Sequence[Path],
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._queue = queue
        self._store = store
        self._roots = [root.resolve() for root in allowed_roots]
        self._clock = clock

    def _allowed(self, raw: str) -> Path:
        path = Path(raw).expanduser().resolve()
        if not any(path.is_relative_to(root) for root in self._roots):
            raise Forbidden(
                f"{raw} is outside the repositories this service may check",
                hint="add its parent to TICKETSMITH_QUALITY__ALLOWED_ROOTS",
            )
        if not (path / ".git").exists():
            raise InvalidInput(f"{raw} is not a git repository")
        return path

    async def start(self, ctx: CallContext, params: NoParams, body: StartCheckBody | None) -> CheckRunStatus:
        assert body is not None  # the operation declares a body, so validation guarantees one
        root = self._allowed(body.path)
        job = await anyio.to_thread.run_sync(
            lambda: self._queue.enqueue(kind=QUALITY_CHECK, payload=check_payload(root, body.since), now=self._clock())
        )
        return CheckRunStatus(runId=job.id, state=job.state.value)

    async def status(self, ctx: CallContext, params: RunParams, body: None) -> CheckRunStatus:
        job = await anyio.to_thread.run_sync(lambda: self._queue.get(job_id=params.run_id))
        if job.kind != QUALITY_CHECK:
            raise NotFound(f"no check run {params.run_id!r}")
        if job.state is not JobState.SUCCEEDED:
            return CheckRunStatus(runId=job.id, state=job.state.value, error=job.last_error)
        run = await anyio.to_thread.run_sync(lambda: self._store.get_run(run_id=job.id))
        return CheckRunStatus(
            runId=run.id,
            state=job.state.value,
            commit=run.commit,
            filesChecked=run.files_checked,
            findingsCount=run.findings_count,
            skipped=[f"{s.checker}: {s.reason}" for s in run.skipped],
        )

    async def findings(self, ctx: CallContext, params: FindingsParams, body: None) -> FindingList:
        found = await anyio.to_thread.run_sync(
            lambda: self._store.findings(
                run_id=params.run_id,
                min_severity=params.min_severity,
                category=params.category,
                path_prefix=params.path_prefix,
                limit=params.limit,
                offset=params.offset,
            )
        )
        return FindingList(findings=[FindingOut.of(f) for f in found])

    async def rule(self, ctx: CallContext, params: RuleParams, body: None) -> RuleOut:
        explained = await anyio.to_thread.run_sync(explain, params.rule_id)
        return RuleOut(
            ruleId=explained.rule_id,
            tool=explained.tool,
            title=explained.title,
            explanation=explained.explanation,
            helpUrl=explained.help_url,
        )


def quality_group(actions: QualityActions) -> ActionGroup:
    """The ``quality`` action group bound to ``actions``."""
    return ActionGroup(
        name="quality",
        description="Quality checks of a git repository: lint, security, complexity, secrets, markers, hygiene.",
        prefix="/v1/quality",
        operations=(
            Operation(
                operation_id="startCheck",
                method="POST",
                path="/runs",
                summary="Start a quality check",
                description=(
                    "Starts the quality checks on a repository (or only on the files changed since a commit) "
                    "and returns the run id at once; poll getCheckRun until it has finished."
                ),
                params=NoParams,
                body=StartCheckBody,
                response=CheckRunStatus,
                handler=actions.start,
            ),
            Operation(
                operation_id="getCheckRun",
                method="GET",
                path="/runs/{runId}",
                summary="Get a check run",
                description="Returns the state of a check run and, once finished, how many findings it stored.",
                params=RunParams,
                response=CheckRunStatus,
                handler=actions.status,
            ),
            Operation(
                operation_id="listFindings",
                method="GET",
                path="/runs/{runId}/findings",
                summary="List findings",
                description="Lists the findings of a finished check run, worst first, with optional filters.",
                params=FindingsParams,
                response=FindingList,
                handler=actions.findings,
            ),
            Operation(
                operation_id="explainRule",
                method="GET",
                path="/rules/{ruleId}",
                summary="Explain a rule",
                description="Explains what a finding's rule means and how to fix what it reports.",
                params=RuleParams,
                response=RuleOut,
                handler=actions.rule,
            ),
        ),
    )
