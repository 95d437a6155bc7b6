"""An Amazon Bedrock agent, invoked through ``InvokeAgent``, whose return-of-control actions run here.

One :meth:`BedrockAgentSession.invoke` is one run (workflow ``agent``) in the run store. Each round calls
``invoke_agent`` on an injected boto3 ``bedrock-agent-runtime`` client and reads its ``completion`` event stream
(botocore ``ResponseStream``): ``chunk`` bytes are the answer (``attribution.citations`` its citations),
``trace`` events (``TracePart``) are stored as spans, Bedrock's own event kept unchanged under the attribute
``bedrock_trace``, and a ``returnControl`` event (``ReturnControlPayload``) hands the agent's actions to us.
Each ``invocationInputs[]`` item, ``apiInvocationInput`` or ``functionInvocationInput``, becomes the action-group
event it would have been for a Lambda function and runs through the dispatcher (trigger ``bedrock``), so the
same handlers, allow-lists and audit record apply. The next round sends ``sessionState.invocationId`` and
``returnControlInvocationResults`` (``apiResult`` / ``functionResult``, botocore ``InvocationResultMember``) on
the same ``sessionId``, until a round ends without handing control back, or ``max_rounds`` rounds were made
(the run then ends ``stopped``). Wire formats: https://docs.aws.amazon.com/bedrock/latest/APIReference/API_agent-runtime_InvokeAgent.html
and https://docs.aws.amazon.com/bedrock/latest/userguide/agents-returncontrol.html.

Confirmation: an input whose ``actionInvocationType`` is ``USER_CONFIRMATION`` or ``USER_CONFIRMATION_AND_RESULT``
(``x-requireConfirmation`` in the agent's schema), or one naming an operation of ours that requires confirmation,
is put to ``confirm`` first. When Bedrock asked, the result carries ``confirmationState`` ``CONFIRM`` or ``DENY``;
a denied action is never run, and its result says it was declined.

Errors: :mod:`service.orchestrator.bedrock_agent_errors`. Trace events received before an error are stored;
the run ends ``failed`` with the error, and the error's ``details`` name the run.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any, Protocol

from botocore.exceptions import BotoCoreError, ClientError

from service.domain.action_calls import Trigger
from service.domain.principals import LOCAL_OPERATOR, Principal
from service.domain.runs import Budget, Run, RunState, Usage
from service.errors import InvalidInput, NotFound, TicketsmithError, UpstreamFailed
from service.orchestrator.bedrock_agent_errors import agent_error, check_ids
from service.orchestrator.bedrock_agent_results import (
    JSON_MEDIA_TYPE,
    ActionOutcome,
    action_event,
    declined,
    observed,
    outcome,
)
from service.orchestrator.bedrock_agent_trace import TraceState, parameter_values, trace_span
from service.ports.run_store import RunStore
from service.traces.bedrock import as_json
from service.traces.recorder import Scrub, SpanSink, TraceRecorder

__all__ = ["ActionOutcome", "AgentAnswer", "BedrockAgentSession", "Confirm", "PendingAction", "check_ids"]

log = logging.getLogger(__name__)

WORKFLOW = "agent"
"""The workflow name of InvokeAgent runs."""

MAX_ROUNDS = 10
CONFIRMING_TYPES = frozenset({"USER_CONFIRMATION", "USER_CONFIRMATION_AND_RESULT"})


class AgentRuntime(Protocol):
    """The one method of a boto3 ``bedrock-agent-runtime`` client we call."""

    def invoke_agent(self, **kwargs: Any) -> Mapping[str, Any]: ...


class LocalActions(Protocol):
    """What answers a Bedrock action-group event (the :class:`~service.action_groups.dispatcher.ActionDispatcher`)."""

    async def handle_event(self, raw: object, *, trigger: Trigger, principal: Principal) -> dict[str, Any]: ...


class _Operation(Protocol):
    @property
    def operation_id(self) -> str: ...

    @property
    def require_confirmation(self) -> bool: ...


class OperationLookup(Protocol):
    """Finds the operation an invocation input names (the action-group registry); raises ``NotFound``."""

    def by_route(self, group_name: str, method: str, api_path: str) -> tuple[_Operation, Mapping[str, str]]: ...

    def by_function(self, group_name: str, function: str) -> _Operation: ...


@dataclass(frozen=True, slots=True)
class PendingAction:
    """An action the agent wants to run here, waiting for the user's yes or no.

    ``action`` is ``<group>.<operationId>`` (the route or function as sent when no operation of ours has it);
    ``parameters`` holds the input's parameters and body properties by name (values are strings).
    """

    action: str
    action_group: str
    api_path: str | None
    http_method: str | None
    function: str | None
    parameters: dict[str, Any]
    reason: str


Confirm = Callable[[PendingAction], bool]
"""Asks the user; True confirms. Runs on the event loop's thread and may block it (the CLI asks at the terminal)."""


@dataclass(frozen=True, slots=True)
class AgentAnswer:
    """What one :meth:`BedrockAgentSession.invoke` came to. ``stopped_by`` is ``rounds`` when the agent still
    wanted to act after ``max_rounds`` rounds (the text is then what it said so far)."""

    run: Run
    session_id: str
    text: str
    citations: list[dict[str, Any]]
    rounds: int
    actions: tuple[ActionOutcome, ...]
    stopped_by: str | None = None


def _unchanged(value: Any) -> Any:
    return value


@dataclass
class _Progress:
    """What one :meth:`BedrockAgentSession.invoke` has gathered so far."""

    recorder: TraceRecorder
    trace: TraceState = field(default_factory=TraceState)
    answer: list[str] = field(default_factory=list)
    citations: list[dict[str, Any]] = field(default_factory=list)
    actions: list[ActionOutcome] = field(default_factory=list)
    rounds: int = 0
    began: float = field(default_factory=time.perf_counter)

    def usage(self) -> Usage:
        return Usage(
            steps=self.rounds,
            input_tokens=self.trace.input_tokens,
            output_tokens=self.trace.output_tokens,
            seconds=time.perf_counter() - self.began,
        )


class BedrockAgentSession:
    """Invokes Bedrock agents and answers their return-of-control actions with the local handlers.

    ``client`` is a boto3 ``bedrock-agent-runtime`` client; ``dispatcher`` answers action-group events (the
    container's dispatcher, which applies the ``bedrock`` trigger's allow-list); ``registry`` tells which of our
    operations need confirmation; runs and spans go to ``store`` (every attribute through ``scrub``, every span
    to ``sinks``). ``principal`` is who the actions run as; ``run_principal`` the name recorded on the run.
    """

    def __init__(
        self,
        client: AgentRuntime,
        *,
        dispatcher: LocalActions,
        registry: OperationLookup,
        store: RunStore,
        confirm: Confirm,
        principal: Principal = LOCAL_OPERATOR,
        run_principal: str = "cli",
        trigger: Trigger = Trigger.CLI,
        budget: Budget | None = None,
        max_rounds: int = MAX_ROUNDS,
        scrub: Scrub = _unchanged,
        sinks: Sequence[SpanSink] = (),
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        new_id: Callable[[], str] = lambda: uuid.uuid4().hex,
    ) -> None:
        if max_rounds < 1:
            raise InvalidInput(f"max_rounds must be at least 1, not {max_rounds}")
        self._client = client
        self._dispatcher = dispatcher
        self._registry = registry
        self._store = store
        self._confirm = confirm
        self._principal = principal
        self._run_principal = run_principal
        self._trigger = trigger
        self._budget = budget or Budget()
        self._max_rounds = max_rounds
        self._scrub = scrub
        self._sinks = tuple(sinks)
        self._clock = clock
        self._new_id = new_id

    async def invoke(
        self,
        *,
        agent_id: str,
        alias_id: str,
        text: str,
        session_id: str | None = None,
        enable_trace: bool = True,
    ) -> AgentAnswer:
        """Ask the agent ``text`` on ``session_id`` (a new session when None) and answer its actions until it
        gives a final answer. Raises :class:`InvalidInput` for bad ids or an empty message, and the errors of
        the module docstring (after storing the run as failed)."""
        session = session_id or uuid.uuid4().hex
        check_ids(agent_id, alias_id, session)
        if not text.strip():
            raise InvalidInput("the message is empty", hint="say what the agent should do")
        run = self._start(agent_id, alias_id, session, text)
        recorder = TraceRecorder(self._store, run.id, scrub=self._scrub, sinks=self._sinks, clock=self._clock)
        progress = _Progress(recorder)
        ids = {"agentId": agent_id, "agentAliasId": alias_id}
        request: dict[str, Any] = {**ids, "sessionId": session, "enableTrace": enable_trace, "inputText": text}
        stopped_by: str | None = None
        try:
            while True:
                if progress.rounds == self._max_rounds:
                    stopped_by = "rounds"
                    break
                progress.rounds += 1
                returning = (request.get("sessionState") or {}).get("invocationId")
                with recorder.step("invoke_agent", round=progress.rounds, invocation_id=returning):
                    answered_on, control = await asyncio.to_thread(self._call, request, progress)
                session = answered_on or session
                if control is None:
                    break
                invocation_id = str(control.get("invocationId") or "")
                answered: list[ActionOutcome] = []
                with recorder.step("return_control", invocation_id=invocation_id):
                    for item in control.get("invocationInputs") or []:
                        answered.append(await self._answer(item, recorder, session, text))
                progress.actions.extend(answered)
                results = [done.result for done in answered]
                request = {
                    **ids,
                    "sessionId": session,
                    "enableTrace": enable_trace,
                    "sessionState": {"invocationId": invocation_id, "returnControlInvocationResults": results},
                }
        except TicketsmithError as exc:
            self._finish(run, RunState.FAILED, progress, error=f"{exc.code}: {exc.message}")
            if exc.details is None:
                exc.details = {"runId": run.id}
            elif isinstance(exc.details, dict):
                exc.details.setdefault("runId", run.id)
            raise
        except BaseException as exc:
            self._finish(run, RunState.FAILED, progress, error=f"interrupted: {type(exc).__name__}")
            raise
        reply = "".join(progress.answer)
        result = {
            "summary": reply,
            "text": reply,
            "citations": progress.citations,
            **ids,
            "sessionId": session,
            "rounds": progress.rounds,
            "actions": [done.as_dict() for done in progress.actions],
            "stopped_by": stopped_by,
        }
        final = RunState.STOPPED if stopped_by else RunState.SUCCEEDED
        return AgentAnswer(
            run=self._finish(run, final, progress, result=result),
            session_id=session,
            text=reply,
            citations=progress.citations,
            rounds=progress.rounds,
            actions=tuple(progress.actions),
            stopped_by=stopped_by,
        )

    def _start(self, agent_id: str, alias_id: str, session: str, text: str) -> Run:
        now = self._clock()
        parameters = {"agentId": agent_id, "agentAliasId": alias_id, "sessionId": session, "inputText": text}
        return self._store.create(
            Run.new(
                id=self._new_id(),
                workflow=WORKFLOW,
                state=RunState.RUNNING,
                trigger=self._trigger,
                principal=self._run_principal,
                parameters=self._scrub(parameters),
                budget=self._budget,
                step="invoke_agent",
                planner=f"bedrock-agent:{agent_id}/{alias_id}",
                now=now,
            )
        )

    def _finish(
        self,
        run: Run,
        final: RunState,
        progress: _Progress,
        *,
        result: dict[str, Any] | None = None,
        error: str | None = None,
    ) -> Run:
        now = self._clock()
        return self._store.save(
            replace(
                self._store.get(run.id),
                state=final,
                step=None,
                usage=progress.usage(),
                result=self._scrub(result) if result is not None else None,
                error=self._scrub(error) if error is not None else None,
                updated_at=now,
                finished_at=now,
            )
        )

    def _call(self, request: Mapping[str, Any], progress: _Progress) -> tuple[str | None, Mapping[str, Any] | None]:
        """One InvokeAgent call: record its events as they arrive; return the session id it answered on and its
        returnControl payload (None: the agent gave its final answer). Blocking: run it in a thread."""
        ids = {"agent_id": str(request["agentId"]), "alias_id": str(request["agentAliasId"])}
        try:
            response = self._client.invoke_agent(**request)
        except (ClientError, BotoCoreError) as exc:
            raise agent_error(exc, **ids) from exc
        controls: list[Mapping[str, Any]] = []
        try:
            for event in response["completion"]:
                self._take(event, progress, controls)
        except (ClientError, BotoCoreError) as exc:  # an exception event (EventStreamError) or a broken stream
            log.warning("bedrock agent stream error agent=%s error=%s", ids["agent_id"], type(exc).__name__)
            raise agent_error(exc, **ids) from exc
        if len(controls) > 1:
            raise UpstreamFailed(
                f"Bedrock handed control back {len(controls)} times in one response",
                hint="report it: each response should carry at most one returnControl event",
            )
        return response.get("sessionId"), controls[0] if controls else None

    @staticmethod
    def _take(event: Mapping[str, Any], progress: _Progress, controls: list[Mapping[str, Any]]) -> None:
        """One event of the stream: answer text, a trace span, or a returnControl payload kept in ``controls``."""
        if "chunk" in event:
            chunk = event["chunk"]
            data = chunk.get("bytes") or b""
            progress.answer.append(data.decode("utf-8", "replace") if isinstance(data, bytes) else str(data))
            cited = (chunk.get("attribution") or {}).get("citations") or []
            progress.citations.extend(as_json(dict(c)) for c in cited if isinstance(c, Mapping))
        elif "trace" in event:
            part = event["trace"]
            kind, name, attributes, status = trace_span(part, progress.trace)
            at = part.get("eventTime")
            progress.recorder.record(
                kind, name, attributes, started_at=at if isinstance(at, datetime) else None, status=status
            )
        elif "returnControl" in event:
            controls.append(event["returnControl"])

    def _pending(self, form: str, given: Mapping[str, Any], asked: bool) -> tuple[PendingAction, bool]:
        """The action an input names, and whether one of our operations requires confirming it."""
        group = str(given.get("actionGroup") or "")
        values = parameter_values(given.get("parameters"))
        api_path = given.get("apiPath") if form == "api" else None
        method = given.get("httpMethod") if form == "api" else None
        function = given.get("function") if form == "function" else None
        body = ((given.get("requestBody") or {}).get("content") or {}).get(JSON_MEDIA_TYPE) or {}
        values.update(parameter_values(body.get("properties")))
        action, ours = f"{group}.{function or f'{method} {api_path}'}", False
        try:
            if form == "api":
                operation, _ = self._registry.by_route(group, str(method or ""), str(api_path or ""))
            else:
                operation = self._registry.by_function(group, str(function or ""))
            action, ours = f"{group}.{operation.operation_id}", operation.require_confirmation
        except NotFound:
            pass  # the dispatcher answers the unknown operation with a 404 result
        reason = "the agent asks for confirmation" if asked else "this action needs a confirmation"
        pending = PendingAction(
            action=action,
            action_group=group,
            api_path=str(api_path) if api_path is not None else None,
            http_method=str(method) if method is not None else None,
            function=str(function) if function is not None else None,
            parameters=values,
            reason=reason,
        )
        return pending, ours

    async def _answer(
        self, item: Mapping[str, Any], recorder: TraceRecorder, session_id: str, text: str
    ) -> ActionOutcome:
        """Run (or, when declined, skip) one invocation input; return the result to send back."""
        if "apiInvocationInput" in item:
            form, given = "api", dict(item["apiInvocationInput"])
        elif "functionInvocationInput" in item:
            form, given = "function", dict(item["functionInvocationInput"])
        else:
            raise UpstreamFailed(
                f"Bedrock handed back an invocation input of an unknown kind: {sorted(item)}",
                hint="upgrade ticketsmith and boto3",
            )
        asked = given.get("actionInvocationType") in CONFIRMING_TYPES
        pending, ours = self._pending(form, given, asked)
        confirmation: str | None = None
        if asked or ours:
            approved = self._confirm(pending)
            decided = "confirmed" if approved else "declined"
            recorder.guardrail(
                decision="allow" if approved else "deny", action=pending.action, reason=f"{pending.reason}: {decided}"
            )
            confirmation = ("CONFIRM" if approved else "DENY") if asked else None
            if not approved:
                return declined(form, given, pending.action, confirmation)
        event = action_event(form, given, session_id=session_id, text=text)
        with recorder.tool(pending.action, pending.parameters) as call:
            envelope = await self._dispatcher.handle_event(event, trigger=Trigger.BEDROCK, principal=self._principal)
            answered = outcome(form, given, pending.action, envelope.get("response") or {}, confirmation)
            call.observation = observed(answered.result)
            call.extra.update(
                {
                    "execution": "RETURN_CONTROL",
                    "api_path": pending.api_path,
                    "http_method": pending.http_method,
                    "http_status_code": answered.status_code,
                    "response_state": answered.response_state,
                    "confirmation": confirmation,
                }
            )
            if (answered.status_code or 200) >= 400 or answered.response_state is not None:
                call.status = "error"
        return answered
