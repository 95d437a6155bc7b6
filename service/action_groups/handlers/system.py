"""The ``system`` action group: what this service is, what it offers, and what has been called."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import anyio.to_thread
from pydantic import BaseModel, ConfigDict, Field

from service import __version__
from service.action_groups.audit import CallRecorder
from service.action_groups.constraints import SchemaProblem, bedrock_problems
from service.action_groups.operations import ActionGroup, CallContext, NoParams, Operation
from service.action_groups.registry import ActionGroupRegistry
from service.domain.action_calls import ActionCall
from service.errors import NotFound


class ServiceInfo(BaseModel):
    name: str = Field(description="Always 'ticketsmith'.")
    version: str = Field(description="Version of the running service.")
    storage: str = Field(description="Database backend in use: sqlite or postgresql.")
    auth_enabled: bool = Field(description="True when API keys are required.")
    action_groups: list[str] = Field(description="Action groups the caller may use.")
    started_at: datetime = Field(description="When the service started (UTC).")
    uptime_seconds: float = Field(description="Seconds since start.")


class OperationSummary(BaseModel):
    operation_id: str = Field(description="operationId, also the function name in the function-details form.")
    method: str = Field(description="HTTP method.")
    path: str = Field(description="Full path, as Bedrock sends it in apiPath.")
    description: str = Field(description="What the operation does.")
    requires_confirmation: bool = Field(description="True when Bedrock asks the user before calling it.")


class ActionGroupSummary(BaseModel):
    name: str = Field(description="Action group name.")
    description: str = Field(description="What the group is for.")
    operations: list[OperationSummary] = Field(description="Its operations.")


class ActionGroupList(BaseModel):
    action_groups: list[ActionGroupSummary] = Field(description="Action groups the caller may use.")


class CallRecord(BaseModel):
    id: str = Field(description="Call id.")
    trigger: str = Field(description="How the call arrived: rest, bedrock, lambda or cli.")
    action_group: str = Field(description="Action group called.")
    operation_id: str = Field(description="Operation called.")
    principal: str = Field(description="Name of the API key that called (never the key).")
    status_code: int = Field(description="200 on success, else the error status.")
    error_code: str | None = Field(default=None, description="Error token when the call failed.")
    duration_ms: float = Field(description="Handler time in milliseconds.")
    session_id: str | None = Field(default=None, description="Bedrock session id, when there was one.")
    started_at: datetime = Field(description="When the call started (UTC).")

    @classmethod
    def of(cls, call: ActionCall) -> CallRecord:
        return cls(
            id=call.id,
            trigger=call.trigger.value,
            action_group=call.action_group,
            operation_id=call.operation_id,
            principal=call.principal,
            status_code=call.status_code,
            error_code=call.error_code,
            duration_ms=call.duration_ms,
            session_id=call.session_id,
            started_at=call.started_at,
        )


class CallList(BaseModel):
    calls: list[CallRecord] = Field(description="Newest first.")


class ListCallsParams(BaseModel):
    limit: int = Field(default=20, ge=1, le=200, description="How many calls to return, 1 to 200 (default 20).")
    action_group: str | None = Field(default=None, alias="actionGroup", description="Only calls of this action group.")


class GetCallParams(BaseModel):
    call_id: str = Field(alias="callId", min_length=1, max_length=64, description="Id of the call, from listCalls.")


class LintSchemaBody(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    document: dict[str, Any] = Field(description="An OpenAPI document for a Bedrock action group, as a JSON object.")
    group_name: str | None = Field(
        default=None, alias="groupName", description="The action group name to check as well (optional)."
    )


class LintProblem(BaseModel):
    operation: str = Field(description="Where the problem is: METHOD path, or 'document'.")
    rule: str = Field(description="The Bedrock rule broken.")
    message: str = Field(description="What is wrong and how to fix it.")

    @classmethod
    def of(cls, problem: SchemaProblem) -> LintProblem:
        return cls(operation=problem.operation, rule=problem.rule, message=problem.message)


class LintReport(BaseModel):
    valid: bool = Field(description="True when Bedrock should accept the document.")
    problems: list[LintProblem] = Field(description="Every rule the document breaks.")


class SystemActions:
    """Handlers of the ``system`` group. ``registry`` may still be filling when this is built."""

    def __init__(
        self,
        *,
        registry: ActionGroupRegistry,
        recorder: CallRecorder,
        storage: str,
        auth_enabled: bool,
        started_at: datetime,
    ) -> None:
        self._registry = registry
        self._recorder = recorder
        self._storage = storage
        self._auth_enabled = auth_enabled
        self._started_at = started_at

    def _visible_groups(self, ctx: CallContext) -> list[ActionGroup]:
        return [g for g in self._registry if ctx.principal.may_call(g.name)]

    async def info(self, ctx: CallContext, params: NoParams, body: None) -> ServiceInfo:
        now = datetime.now(UTC)
        return ServiceInfo(
            name="ticketsmith",
            version=__version__,
            storage=self._storage,
            auth_enabled=self._auth_enabled,
            action_groups=[g.name for g in self._visible_groups(ctx)],
            started_at=self._started_at,
            uptime_seconds=round((now - self._started_at).total_seconds(), 3),
        )

    async def list_groups(self, ctx: CallContext, params: NoParams, body: None) -> ActionGroupList:
        return ActionGroupList(
            action_groups=[
                ActionGroupSummary(
                    name=g.name,
                    description=g.description,
                    operations=[
                        OperationSummary(
                            operation_id=op.operation_id,
                            method=op.method,
                            path=g.full_path(op),
                            description=op.description,
                            requires_confirmation=op.require_confirmation,
                        )
                        for op in g.operations
                    ],
                )
                for g in self._visible_groups(ctx)
            ]
        )

    async def list_calls(self, ctx: CallContext, params: ListCallsParams, body: None) -> CallList:
        if params.action_group is not None and not ctx.principal.may_call(params.action_group):
            return CallList(calls=[])
        calls = await anyio.to_thread.run_sync(self._read_own_writes, params.limit, params.action_group)
        return CallList(calls=[CallRecord.of(c) for c in calls if ctx.principal.may_call(c.action_group)])

    def _read_own_writes(self, limit: int, action_group: str | None) -> list[ActionCall]:
        self._recorder.flush()
        return self._recorder.log.recent(limit=limit, action_group=action_group)

    async def get_call(self, ctx: CallContext, params: GetCallParams, body: None) -> CallRecord:
        await anyio.to_thread.run_sync(self._recorder.flush)
        call = await anyio.to_thread.run_sync(lambda: self._recorder.log.get(call_id=params.call_id))
        if not ctx.principal.may_call(call.action_group):
            raise NotFound(f"no action call {params.call_id!r}")
        return CallRecord.of(call)

    async def lint_schema(self, ctx: CallContext, params: NoParams, body: LintSchemaBody | None) -> LintReport:
        assert body is not None  # the operation declares a body, so validation guarantees one
        problems = bedrock_problems(body.document, group_name=body.group_name)
        return LintReport(valid=not problems, problems=[LintProblem.of(p) for p in problems])


def system_group(actions: SystemActions) -> ActionGroup:
    """The ``system`` action group bound to ``actions``."""
    return ActionGroup(
        name="system",
        description="Facts about this Ticketsmith service: its version, its action groups and recent calls.",
        prefix="/v1/system",
        operations=(
            Operation(
                operation_id="getServiceInfo",
                method="GET",
                path="/info",
                summary="Service information",
                description="Returns the service version, storage backend and the action groups you may use.",
                params=NoParams,
                response=ServiceInfo,
                handler=actions.info,
            ),
            Operation(
                operation_id="listActionGroups",
                method="GET",
                path="/action-groups",
                summary="List action groups",
                description="Lists the action groups you may use with each operation's path and purpose.",
                params=NoParams,
                response=ActionGroupList,
                handler=actions.list_groups,
            ),
            Operation(
                operation_id="listCalls",
                method="GET",
                path="/calls",
                summary="List recent action calls",
                description="Lists the most recent action-group calls, newest first, with outcome and duration.",
                params=ListCallsParams,
                response=CallList,
                handler=actions.list_calls,
            ),
            Operation(
                operation_id="getCall",
                method="GET",
                path="/calls/{callId}",
                summary="Get one action call",
                description="Returns one recorded action-group call by its id.",
                params=GetCallParams,
                response=CallRecord,
                handler=actions.get_call,
            ),
            Operation(
                operation_id="lintActionSchema",
                method="POST",
                path="/schema-lint",
                summary="Check an action-group schema",
                description=(
                    "Checks an OpenAPI document against the rules Bedrock applies to action-group schemas "
                    "and lists every problem with its fix."
                ),
                params=NoParams,
                body=LintSchemaBody,
                response=LintReport,
                handler=actions.lint_schema,
            ),
        ),
    )
