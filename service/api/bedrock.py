"""``POST /v1/bedrock/actions``: a Bedrock action-group Lambda event in, the response envelope out.

Useful behind a thin Lambda forwarder, for replaying recorded events, and for return of control. The body is
read raw, not validated by FastAPI, so that a malformed event is still answered with a Bedrock envelope
(HTTP 200, the error in ``httpStatusCode`` or ``responseState``) that the agent can read.

The endpoint is a plain Starlette route rather than a FastAPI one: it takes no typed parameters, and FastAPI's
per-request dependency machinery cost about a quarter of the endpoint's time (bench/bedrock_dispatch.py). Its
OpenAPI description is added to the document by :func:`describe`.
"""

from __future__ import annotations

import json
from typing import Any

from fastapi import Request, Response
from starlette.routing import Route

from service.action_groups.dispatcher import ActionDispatcher
from service.action_groups.envelope import ActionEvent
from service.api.auth import principal_of
from service.domain.action_calls import Trigger

BEDROCK_ACTIONS_PATH = "/v1/bedrock/actions"
_COMPONENTS = "#/components/schemas/{model}"


async def invoke_bedrock_action(request: Request) -> Response:
    """Answer the event in the body with its envelope (always HTTP 200 once authenticated)."""
    dispatcher: ActionDispatcher = request.app.state.container.dispatcher
    payload = await request.body()
    envelope = await dispatcher.handle_event_bytes(payload, trigger=Trigger.BEDROCK, principal=principal_of(request))
    return Response(content=json.dumps(envelope, ensure_ascii=False), media_type="application/json")


route = Route(BEDROCK_ACTIONS_PATH, invoke_bedrock_action, methods=["POST"], include_in_schema=False)


def describe(document: dict[str, Any]) -> None:
    """Add the endpoint (and the event's schemas) to an OpenAPI document built by FastAPI."""
    event_schema = ActionEvent.model_json_schema(by_alias=True, ref_template=_COMPONENTS)
    schemas = document.setdefault("components", {}).setdefault("schemas", {})
    schemas.update(event_schema.pop("$defs", {}))
    schemas["ActionEvent"] = event_schema
    document.setdefault("paths", {})[BEDROCK_ACTIONS_PATH] = {
        "post": {
            "tags": ["bedrock"],
            "operationId": "invokeBedrockAction",
            "summary": "Answer a Bedrock action-group event",
            "description": (
                "Takes the event Bedrock sends to an action group's Lambda function (OpenAPI or function-details "
                "form) and returns the response envelope. Errors are reported inside the envelope, never as HTTP "
                "errors."
            ),
            "requestBody": {
                "required": True,
                "content": {"application/json": {"schema": {"$ref": _COMPONENTS.format(model="ActionEvent")}}},
            },
            "responses": {
                "200": {
                    "description": "The Bedrock response envelope.",
                    "content": {"application/json": {"schema": {"type": "object"}}},
                }
            },
        }
    }
