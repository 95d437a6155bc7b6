"""The one way into an action handler: scope check, time limit, error wrapping and the audit record.

REST routes, the Bedrock endpoint, the Lambda entry point and the CLI all call :meth:`ActionDispatcher.run`
(the Bedrock paths through :meth:`ActionDispatcher.handle_event`), so every trigger gets the same rules.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import logging
import secrets
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel

from service.action_groups.audit import CallRecorder
from service.action_groups.coercion import raw_values, validate_model
from service.action_groups.envelope import (
    JSON_MEDIA_TYPE,
    ActionEvent,
    Echo,
    echo_of,
    error_envelope,
    parse_event,
    success_envelope,
)
from service.action_groups.operations import ActionGroup, AnyOperation, CallContext
from service.action_groups.registry import ActionGroupRegistry
from service.domain.action_calls import ActionCall, Trigger
from service.domain.principals import Principal
from service.errors import Cancelled, Forbidden, HandlerFailed, HandlerTimeout, InvalidInput, TicketsmithError
from service.guardrails.policy import Decision

logger = logging.getLogger(__name__)

# Call ids: random per process, then a counter. Unique across processes and replicas, ordered within one,
# and without the system call per request that uuid4 makes.
_ID_PREFIX = secrets.token_hex(8)
_ID_COUNTER = itertools.count()


class ActionDispatcher:
    """Runs operations of registered action groups for any trigger.

    ``timeout_seconds`` bounds every handler; ``recorder`` receives a record of every call, whatever its
    outcome; ``clock`` returns the current UTC time (injected for tests).
    """

    def __init__(
        self,
        *,
        registry: ActionGroupRegistry,
        recorder: CallRecorder,
        timeout_seconds: float,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.registry = registry
        # The per-trigger allow-lists (set by the composition root); None allows every call.
        self.policy: Callable[[Trigger, str], Decision] | None = None
        self._recorder = recorder
        self._timeout = timeout_seconds
        self._clock = clock

    async def run(
        self,
        group: ActionGroup,
        op: AnyOperation,
        ctx: CallContext,
        params: BaseModel,
        body: BaseModel | None,
    ) -> BaseModel:
        """Call ``op``'s handler with already-validated ``params`` and ``body``.

        Raises :class:`Forbidden` when ``ctx.principal`` may not call ``group``, :class:`HandlerTimeout` past
        the time limit, the handler's own :class:`TicketsmithError`, or :class:`HandlerFailed` wrapping any
        other exception. Every outcome is handed to the recorder.
        """
        started_at = self._clock()
        started = time.perf_counter()
        error: TicketsmithError | None = None
        try:
            if not ctx.principal.may_call(group.name):
                raise Forbidden(
                    f"API key {ctx.principal.name!r} may not call action group {group.name!r}",
                    hint="add the group to the key's action_groups in TICKETSMITH_API_KEYS",
                )
            self._enforce_policy(group, op, ctx)
            try:
                async with asyncio.timeout(self._timeout):
                    result: BaseModel = await op.handler(ctx, params, body)
                    return result
            except TimeoutError:
                raise HandlerTimeout(
                    f"{group.name}.{op.operation_id} did not finish within {self._timeout:g} s",
                    hint="try a narrower request, or raise TICKETSMITH_SERVER__HANDLER_TIMEOUT_SECONDS",
                ) from None
        except TicketsmithError as exc:
            error = exc
            raise
        except asyncio.CancelledError:
            error = Cancelled(f"{group.name}.{op.operation_id} was cancelled: the caller went away")
            raise
        except Exception as exc:
            logger.exception("handler %s.%s failed", group.name, op.operation_id)
            # The exception's own text stays in the log: it may hold connection strings or other secrets.
            error = HandlerFailed(
                f"{group.name}.{op.operation_id} failed ({type(exc).__name__})",
                hint="the service log has the traceback",
            )
            raise error from exc
        finally:
            self._record(group, op, ctx, started_at, time.perf_counter() - started, error)

    def _enforce_policy(self, group: ActionGroup, op: AnyOperation, ctx: CallContext) -> None:
        """Refuse a call the trigger's allow-list does not allow. A write that needs a confirmation is refused
        from Bedrock and Lambda (nobody confirmed it: the operation lacks x-requireConfirmation); from REST and the
        CLI the call itself is the person's explicit request."""
        if self.policy is None:
            return
        decision = self.policy(ctx.trigger, f"{group.name}.{op.operation_id}")
        unconfirmed = decision.needs_confirmation and ctx.trigger in (Trigger.BEDROCK, Trigger.LAMBDA)
        if not decision.allowed or unconfirmed:
            raise Forbidden(
                decision.reason,
                hint=f"allow it for the {ctx.trigger.value} trigger in TICKETSMITH_GUARDRAILS__ALLOWED_ACTIONS",
            )

    def _record(
        self,
        group: ActionGroup,
        op: AnyOperation,
        ctx: CallContext,
        started_at: datetime,
        elapsed: float,
        error: TicketsmithError | None,
    ) -> None:
        call = ActionCall(
            id=f"{_ID_PREFIX}{next(_ID_COUNTER):010x}",
            trigger=ctx.trigger,
            action_group=group.name,
            operation_id=op.operation_id,
            principal=ctx.principal.name,
            status_code=error.status_code if error else 200,
            error_code=error.code if error else None,
            duration_ms=round(elapsed * 1000, 3),
            session_id=ctx.session_id,
            started_at=started_at,
        )
        self._recorder.submit(call)

    async def call(
        self,
        group_name: str,
        operation_id: str,
        ctx: CallContext,
        values: Mapping[str, Any],
    ) -> BaseModel:
        """Validate loose ``values`` (parameters and body fields together) and run the operation.

        Used by the CLI and by function-details events. Raises :class:`NotFound`, :class:`ValidationFailed`
        and everything :meth:`run` raises.
        """
        op = self.registry.by_function(group_name, operation_id)
        return await self._validate_and_run(self.registry.group(group_name), op, ctx, values)

    async def _validate_and_run(
        self, group: ActionGroup, op: AnyOperation, ctx: CallContext, values: Mapping[str, Any]
    ) -> BaseModel:
        params = validate_model(op.params, values, where="parameters")
        body = validate_model(op.body, values, where="request body") if op.body is not None else None
        return await self.run(group, op, ctx, params, body)

    async def handle_event(self, raw: object, *, trigger: Trigger, principal: Principal) -> dict[str, Any]:
        """Answer a decoded Bedrock action-group event with a response envelope. Never raises."""
        try:
            event = parse_event(raw)
            group = self.registry.group(event.action_group)
            op, path_values = self._operation_for(event)
            ctx = CallContext(
                trigger=trigger,
                principal=principal,
                session_id=event.session_id,
                input_text=event.input_text,
                session_attributes=dict(event.session_attributes or {}),
                prompt_session_attributes=dict(event.prompt_session_attributes or {}),
            )
            result = await self._validate_and_run(group, op, ctx, path_values | _event_values(event))
        except TicketsmithError as exc:
            return error_envelope(echo_of(raw), exc)
        except Exception as exc:  # a bug of ours must still answer with an envelope, not a dropped call
            logger.exception("unexpected failure while handling a Bedrock event")
            return error_envelope(echo_of(raw), HandlerFailed(f"internal error: {type(exc).__name__}"))
        # Attribute maps go back when the event had them or the handler set some.
        echo = Echo(
            action_group=event.action_group,
            api_path=event.api_path,
            http_method=event.http_method,
            function=event.function,
            session_attributes=(
                ctx.session_attributes if event.session_attributes is not None or ctx.session_attributes else None
            ),
            prompt_session_attributes=(
                ctx.prompt_session_attributes
                if event.prompt_session_attributes is not None or ctx.prompt_session_attributes
                else None
            ),
        )
        return success_envelope(echo, result.model_dump_json(by_alias=True))

    def _operation_for(self, event: ActionEvent) -> tuple[AnyOperation, dict[str, str]]:
        if event.function is not None:
            return self.registry.by_function(event.action_group, event.function), {}
        # parse_event guarantees both for the OpenAPI form
        assert event.api_path is not None
        assert event.http_method is not None
        return self.registry.by_route(event.action_group, event.http_method, event.api_path)

    async def handle_event_bytes(self, payload: bytes, *, trigger: Trigger, principal: Principal) -> dict[str, Any]:
        """Decode a JSON event and answer it; undecodable input gets an error envelope too."""
        try:
            raw = json.loads(payload)
        except (ValueError, UnicodeDecodeError) as exc:
            error = InvalidInput(
                f"the request body is not valid JSON: {exc}",
                hint="send the Bedrock action-group event as a JSON object",
            )
            return error_envelope(echo_of(None), error)
        except RecursionError:  # the JSON decoder recurses once per nested array or object
            error = InvalidInput("the request body nests too deeply", hint="send a Bedrock action-group event")
            return error_envelope(echo_of(None), error)
        return await self.handle_event(raw, trigger=trigger, principal=principal)


def _event_values(event: ActionEvent) -> dict[str, Any]:
    """Parameters and body properties as one mapping; body properties win on a clash.

    Bedrock sometimes sends body fields as parameters and the other way round, so both are offered to both
    models; each model keeps only its own fields.
    """
    values = raw_values(event.parameters or [])
    if event.request_body is not None and JSON_MEDIA_TYPE in event.request_body.content:
        values.update(raw_values(event.request_body.content[JSON_MEDIA_TYPE].properties))
    return values
