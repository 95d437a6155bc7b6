"""Answers to Bedrock's return-of-control inputs: the action-group event an input stands for, and the result
(``apiResult`` / ``functionResult``, botocore ``InvocationResultMember``) sent back for it.

An ``apiInvocationInput`` (``actionGroup``, ``apiPath``, ``httpMethod``, ``parameters``, ``requestBody``) or a
``functionInvocationInput`` (``actionGroup``, ``function``, ``parameters``) plus ``messageVersion`` is the
Lambda event Bedrock would have sent, so the dispatcher answers it; its Lambda response becomes the result:
``apiResult{actionGroup, apiPath, httpMethod, httpStatusCode, responseBody{"application/json": {body}}}`` or
``functionResult{actionGroup, function, responseBody{"TEXT": {body}}, responseState?}``, with
``confirmationState`` when Bedrock asked for a confirmation and ``agentId`` when the input named one.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from service.errors import Forbidden

JSON_MEDIA_TYPE = "application/json"


@dataclass(frozen=True, slots=True)
class ActionOutcome:
    """One invocation input answered: what was sent back (``result``, an ``InvocationResultMember``)."""

    action: str
    executed: bool
    confirmation: str | None
    status_code: int | None
    response_state: str | None
    result: dict[str, Any]

    def as_dict(self) -> dict[str, Any]:
        return {
            "action": self.action,
            "executed": self.executed,
            "confirmationState": self.confirmation,
            "httpStatusCode": self.status_code,
            "responseState": self.response_state,
            "result": self.result,
        }


def action_event(form: str, given: Mapping[str, Any], *, session_id: str, text: str) -> dict[str, Any]:
    """The action-group event an invocation input (``form`` ``api`` or ``function``) stands for."""
    event: dict[str, Any] = {
        "messageVersion": "1.0",
        "actionGroup": given.get("actionGroup"),
        "parameters": given.get("parameters") or [],
        "sessionId": session_id,
        "inputText": text,
    }
    if form == "api":
        event |= {"apiPath": given.get("apiPath"), "httpMethod": given.get("httpMethod")}
        if given.get("requestBody") is not None:
            event["requestBody"] = given["requestBody"]
    else:
        event["function"] = given.get("function")
    return event


def _finish(form: str, given: Mapping[str, Any], result: dict[str, Any], confirmation: str | None) -> dict[str, Any]:
    if confirmation is not None:
        result["confirmationState"] = confirmation
    if given.get("agentId"):
        result["agentId"] = given["agentId"]
    return {"apiResult" if form == "api" else "functionResult": result}


def outcome(
    form: str, given: Mapping[str, Any], action: str, response: Mapping[str, Any], confirmation: str | None
) -> ActionOutcome:
    """The dispatcher's Lambda ``response`` as the result InvokeAgent takes back."""
    status: int | None = None
    state: str | None = None
    if form == "api":
        status = int(response.get("httpStatusCode") or 200)
        result: dict[str, Any] = {
            "actionGroup": response.get("actionGroup") or given.get("actionGroup"),
            "apiPath": response.get("apiPath") or given.get("apiPath"),
            "httpMethod": response.get("httpMethod") or given.get("httpMethod"),
            "httpStatusCode": status,
            "responseBody": response.get("responseBody") or {JSON_MEDIA_TYPE: {"body": ""}},
        }
    else:
        returned = response.get("functionResponse") or {}
        result = {
            "actionGroup": response.get("actionGroup") or given.get("actionGroup"),
            "function": response.get("function") or given.get("function"),
            "responseBody": returned.get("responseBody") or {"TEXT": {"body": ""}},
        }
        if returned.get("responseState"):
            state = result["responseState"] = str(returned["responseState"])
    return ActionOutcome(action, True, confirmation, status, state, _finish(form, given, result, confirmation))


def declined(form: str, given: Mapping[str, Any], action: str, confirmation: str | None) -> ActionOutcome:
    """The result for an action the user declined (never run). With ``confirmationState`` DENY Bedrock knows;
    without it (Bedrock did not ask, our operation wanted a confirmation) the result is a refusal: HTTP 403, or
    ``responseState`` FAILURE."""
    refused = Forbidden(f"the user declined {action}; it was not performed", hint="ask the user what to do instead")
    body = json.dumps(refused.to_dict(), ensure_ascii=False)
    result: dict[str, Any] = {"actionGroup": given.get("actionGroup")}
    status: int | None = None
    state: str | None = None
    if form == "api":
        result |= {"apiPath": given.get("apiPath"), "httpMethod": given.get("httpMethod")}
        result["responseBody"] = {JSON_MEDIA_TYPE: {"body": body}}
        if confirmation is None:
            status = result["httpStatusCode"] = Forbidden.status_code
    else:
        result |= {"function": given.get("function"), "responseBody": {"TEXT": {"body": body}}}
        if confirmation is None:
            state = result["responseState"] = "FAILURE"
    return ActionOutcome(action, False, confirmation, status, state, _finish(form, given, result, confirmation))


def observed(result: Mapping[str, Any]) -> Any:
    """The body a result sends back, decoded when it is JSON (for the trace)."""
    member: Mapping[str, Any] = next(iter(result.values()), {})
    media: Mapping[str, Any] = next(iter((member.get("responseBody") or {}).values()), {})
    body = media.get("body", "")
    try:
        return json.loads(body)
    except (TypeError, ValueError):
        return body
