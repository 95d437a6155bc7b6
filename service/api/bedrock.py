"""``POST /v1/bedrock/actions``: a Bedrock action-group Lambda event in, the response envelope out.

Useful behind a thin Lambda forwarder, for replaying recorded events, and for return of control. The body is
read raw, not validated by FastAPI, so that a malformed event is still answered with a Bedrock envelope
(HTTP 200, the error in ``httpStatusCode`` or ``responseState``) that the agent can read.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request

from service.action_groups.dispatcher import ActionDispatcher
from service.action_groups.envelope import ActionEvent
from service.api.auth import principal_of, require_principal
from service.domain.action_calls import Trigger

BEDROCK_ACTIONS_PATH = "/v1/bedrock/actions"

_EVENT_SCHEMA = ActionEvent.model_json_schema(by_alias=True, ref_template="#/components/schemas/{model}")

router = APIRouter(tags=["bedrock"], dependencies=[Depends(require_principal)])


@router.post(
    BEDROCK_ACTIONS_PATH,
    operation_id="invokeBedrockAction",
    summary="Answer a Bedrock action-group event",
    description=(
        "Takes the event Bedrock sends to an action group's Lambda function (OpenAPI or function-details form) "
        "and returns the response envelope. Errors are reported inside the envelope, never as HTTP errors."
    ),
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": {k: v for k, v in _EVENT_SCHEMA.items() if k != "$defs"}}},
        }
    },
    response_model=dict[str, Any],
)
async def invoke_bedrock_action(request: Request) -> dict[str, Any]:
    dispatcher: ActionDispatcher = request.app.state.container.dispatcher
    payload = await request.body()
    return await dispatcher.handle_event_bytes(payload, trigger=Trigger.BEDROCK, principal=principal_of(request))
