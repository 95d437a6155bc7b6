"""Bedrock action-group events in, response envelopes out.

Wire formats: https://docs.aws.amazon.com/bedrock/latest/userguide/agents-lambda.html (input event and
response, both forms). Facts that shape this module:

* every parameter ``value`` is a string whatever its declared ``type``; arrays and objects come stringified;
* ``apiPath`` is the schema's template path; path, query and header parameters all arrive in ``parameters``;
* the body is a flat ``properties`` list under its media type;
* the response echoes ``actionGroup``, ``apiPath``, ``httpMethod`` (or ``function``) exactly as received,
  and ``responseBody[...].body`` is a JSON *string*;
* function-details responses put the body under ``TEXT`` and may say ``responseState`` FAILURE or REPROMPT.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from service.errors import InvalidInput, TicketsmithError

MESSAGE_VERSION = "1.0"
JSON_MEDIA_TYPE = "application/json"


class EventParameter(BaseModel):
    """One ``{name, type, value}`` entry of ``parameters`` or of a body's ``properties``."""

    model_config = ConfigDict(extra="ignore")

    name: str = Field(min_length=1)
    type: str | None = None
    value: Any = None


class EventAgent(BaseModel):
    model_config = ConfigDict(extra="ignore")

    name: str | None = None
    id: str | None = None
    alias: str | None = None
    version: str | None = None


class EventMediaBody(BaseModel):
    model_config = ConfigDict(extra="ignore")

    properties: list[EventParameter] = Field(default_factory=list)


class EventRequestBody(BaseModel):
    model_config = ConfigDict(extra="ignore")

    content: dict[str, EventMediaBody] = Field(default_factory=dict)


class ActionEvent(BaseModel):
    """A Bedrock action-group Lambda input event, in either form.

    The OpenAPI form has ``apiPath`` and ``httpMethod`` (and maybe ``requestBody``); the function-details form
    has ``function``. ``parameters`` and ``requestBody`` are optional in both.
    """

    model_config = ConfigDict(extra="ignore")

    message_version: Literal["1.0"] = Field(alias="messageVersion")
    action_group: str = Field(alias="actionGroup", min_length=1)
    api_path: str | None = Field(default=None, alias="apiPath")
    http_method: str | None = Field(default=None, alias="httpMethod")
    function: str | None = None
    parameters: list[EventParameter] | None = None
    request_body: EventRequestBody | None = Field(default=None, alias="requestBody")
    session_id: str | None = Field(default=None, alias="sessionId")
    input_text: str | None = Field(default=None, alias="inputText")
    agent: EventAgent | None = None
    session_attributes: dict[str, str] | None = Field(default=None, alias="sessionAttributes")
    prompt_session_attributes: dict[str, str] | None = Field(default=None, alias="promptSessionAttributes")

    @property
    def is_function_form(self) -> bool:
        return self.function is not None


@dataclass
class Echo:
    """What the response must repeat from the event; taken leniently even from an event that fails to parse."""

    action_group: str = ""
    api_path: str | None = None
    http_method: str | None = None
    function: str | None = None
    session_attributes: dict[str, str] | None = None
    prompt_session_attributes: dict[str, str] | None = None
    extras: dict[str, Any] = field(default_factory=dict)

    @property
    def is_function_form(self) -> bool:
        return self.function is not None and self.api_path is None


def _string_map(value: object) -> dict[str, str] | None:
    if isinstance(value, dict) and all(isinstance(k, str) and isinstance(v, str) for k, v in value.items()):
        return dict(value)
    return None


def echo_of(raw: object) -> Echo:
    """Pick the fields to echo from a raw event, keeping only those of the right type."""
    if not isinstance(raw, dict):
        return Echo()

    def text(key: str) -> str | None:
        value = raw.get(key)
        return value if isinstance(value, str) else None

    return Echo(
        action_group=text("actionGroup") or "",
        api_path=text("apiPath"),
        http_method=text("httpMethod"),
        function=text("function"),
        session_attributes=_string_map(raw.get("sessionAttributes")),
        prompt_session_attributes=_string_map(raw.get("promptSessionAttributes")),
    )


def parse_event(raw: object) -> ActionEvent:
    """Validate a decoded event. Raises :class:`InvalidInput` saying which fields are wrong and how."""
    if not isinstance(raw, dict):
        raise InvalidInput(
            f"a Bedrock action-group event must be a JSON object, not {type(raw).__name__}",
            hint="send the event Bedrock passes to the action group's Lambda function, unchanged",
        )
    try:
        event = ActionEvent.model_validate(raw)
    except ValidationError as exc:
        problems = [f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}" for err in exc.errors()]
        raise InvalidInput(
            "malformed Bedrock action-group event: " + "; ".join(problems),
            hint="events need messageVersion '1.0', actionGroup, and either apiPath+httpMethod or function",
            details=[{"loc": list(err["loc"]), "msg": err["msg"], "type": err["type"]} for err in exc.errors()],
        ) from None
    has_api = event.api_path is not None or event.http_method is not None
    if event.is_function_form and has_api:
        raise InvalidInput("the event has both function and apiPath/httpMethod; it must be one form or the other")
    if not event.is_function_form and not (event.api_path and event.http_method):
        raise InvalidInput(
            "the event names no operation: it needs apiPath and httpMethod (OpenAPI form) or function",
            hint="check the action group's schema; apiPath must be a path from it, e.g. /v1/system/info",
        )
    if event.request_body is not None:
        other = sorted(media for media in event.request_body.content if media != JSON_MEDIA_TYPE)
        if other:
            raise InvalidInput(f"unsupported request body media type(s) {other}; only application/json is accepted")
    return event


def _attributes(echo: Echo, envelope: dict[str, Any]) -> dict[str, Any]:
    if echo.session_attributes is not None:
        envelope["sessionAttributes"] = echo.session_attributes
    if echo.prompt_session_attributes is not None:
        envelope["promptSessionAttributes"] = echo.prompt_session_attributes
    return envelope


def success_envelope(echo: Echo, body_json: str) -> dict[str, Any]:
    """The envelope for a handler result already serialised to a JSON string."""
    if echo.is_function_form:
        response: dict[str, Any] = {
            "actionGroup": echo.action_group,
            "function": echo.function,
            "functionResponse": {"responseBody": {"TEXT": {"body": body_json}}},
        }
    else:
        response = {
            "actionGroup": echo.action_group,
            "apiPath": echo.api_path or "",
            "httpMethod": echo.http_method or "",
            "httpStatusCode": 200,
            "responseBody": {JSON_MEDIA_TYPE: {"body": body_json}},
        }
    return _attributes(echo, {"messageVersion": MESSAGE_VERSION, "response": response})


def error_envelope(echo: Echo, error: TicketsmithError) -> dict[str, Any]:
    """The envelope for a failure: a 4xx ``httpStatusCode`` (OpenAPI form) or ``responseState`` (function form).

    Function-details groups get ``REPROMPT`` for errors the model can fix by changing its input and
    ``FAILURE`` for the rest, as the Bedrock documentation defines them.
    """
    body_json = json.dumps(error.to_dict(), ensure_ascii=False)
    if echo.is_function_form:
        response: dict[str, Any] = {
            "actionGroup": echo.action_group,
            "function": echo.function,
            "functionResponse": {
                "responseState": "REPROMPT" if error.retryable else "FAILURE",
                "responseBody": {"TEXT": {"body": body_json}},
            },
        }
    else:
        response = {
            "actionGroup": echo.action_group,
            "apiPath": echo.api_path or "",
            "httpMethod": echo.http_method or "",
            "httpStatusCode": error.status_code,
            "responseBody": {JSON_MEDIA_TYPE: {"body": body_json}},
        }
    return _attributes(echo, {"messageVersion": MESSAGE_VERSION, "response": response})
