"""InvokeAgent's failures as our errors, and the ids it accepts.

::

    AccessDeniedException, ResourceNotFoundException, ValidationException,
    bad, expired or missing credentials                           ConfigurationError with a hint
    ConflictException (the session is busy)                       Conflict
    ThrottlingException, ServiceQuotaExceededException, ModelNotReadyException, InternalServerException,
    BadGatewayException, DependencyFailedException, unreachable endpoint, anything else   UpstreamFailed

The same names arrive as exception events inside the ``completion`` stream (``throttlingException``, ...: botocore
raises ``EventStreamError``, a ``ClientError``) or as the HTTP error of the call itself (botocore ``ResponseStream``
and ``InvokeAgent`` errors).
"""

from __future__ import annotations

import re

from botocore.exceptions import (
    ClientError,
    EndpointConnectionError,
    NoCredentialsError,
    ParamValidationError,
    PartialCredentialsError,
)

from service.errors import ConfigurationError, Conflict, InvalidInput, TicketsmithError, UpstreamFailed

# botocore InvokeAgentRequest: agentId/agentAliasId at most 10 of [0-9a-zA-Z], sessionId 2..100.
_AGENT_ID = re.compile(r"^[0-9a-zA-Z]{1,10}$")
_SESSION_ID = re.compile(r"^[0-9a-zA-Z._:-]{2,100}$")

_CONFIGURATION_HINTS = {
    "AccessDeniedException": "grant bedrock:InvokeAgent on the agent alias "
    "(arn:aws:bedrock:<region>:<account>:agent-alias/<agent id>/<alias id>) to these AWS credentials",
    "ResourceNotFoundException": "check --agent-id and --alias-id, and that the agent is in the region used "
    "(--region, TICKETSMITH_LLM__REGION or the AWS profile's)",
    "ValidationException": "check the agent and alias ids, that the alias points at a prepared version, and that "
    "the agent's action groups match the results sent back",
    "UnrecognizedClientException": "check the AWS credentials",
    "ExpiredTokenException": "refresh the AWS credentials",
}
_UPSTREAM_HINTS = {
    "ThrottlingException": "retry later, or ask for a higher InvokeAgent quota",
    "ServiceQuotaExceededException": "a Bedrock quota was reached: retry later or ask for a higher quota",
    "ModelNotReadyException": "the agent's model is not ready yet: retry in a minute",
    "DependencyFailedException": "a resource the agent uses (a Lambda function, knowledge base or guardrail) "
    "failed: see its logs",
    "BadGatewayException": "retry later; if it persists check the Bedrock service health",
    "InternalServerException": "retry later; if it persists check the Bedrock service health",
}


def check_ids(agent_id: str, alias_id: str, session_id: str) -> None:
    """Raise :class:`InvalidInput` for ids InvokeAgent would refuse (botocore's patterns)."""
    for name, value in (("agent id", agent_id), ("alias id", alias_id)):
        if not _AGENT_ID.match(value):
            raise InvalidInput(f"{name} {value!r} is not 1 to 10 letters and digits", hint="copy it from the console")
    if not _SESSION_ID.match(session_id):
        raise InvalidInput(
            f"session id {session_id!r} must be 2 to 100 of letters, digits and ._:-",
            hint="leave --session-id out to start a new session",
        )


def _code(exc: ClientError) -> tuple[str, str]:
    error = exc.response.get("Error", {})
    code = str(error.get("Code", "") or "")
    # Exception events are named in lower camel case (throttlingException), HTTP errors in upper.
    return code[:1].upper() + code[1:], str(error.get("Message", "") or "") or str(exc)


def agent_error(exc: Exception, *, agent_id: str, alias_id: str) -> TicketsmithError:
    """Our error for a botocore exception raised by ``invoke_agent`` or by its event stream."""
    where = f"Bedrock agent {agent_id} alias {alias_id}"
    if isinstance(exc, ClientError):
        code, message = _code(exc)
        details = {"agentId": agent_id, "agentAliasId": alias_id, "code": code}
        if code in _CONFIGURATION_HINTS:
            return ConfigurationError(
                f"{where} refused: {code}: {message}", hint=_CONFIGURATION_HINTS[code], details=details
            )
        if code == "ConflictException":
            return Conflict(
                f"{where}: {message}",
                hint="another request is using this session: wait for it, or leave --session-id out",
                details=details,
            )
        hint = _UPSTREAM_HINTS.get(code, "retry later; if it persists check the Bedrock service health")
        return UpstreamFailed(f"{where} failed: {code or 'error'}: {message}", hint=hint, details=details)
    if isinstance(exc, NoCredentialsError | PartialCredentialsError):
        return ConfigurationError(
            "no AWS credentials for Bedrock", hint="configure AWS credentials (profile, environment or role)"
        )
    if isinstance(exc, ParamValidationError):
        return InvalidInput(f"botocore refused the InvokeAgent request: {exc}", hint="upgrade boto3 if it is old")
    if isinstance(exc, EndpointConnectionError):
        return UpstreamFailed(f"cannot reach the Bedrock agent runtime: {exc}", hint="check the network and the region")
    return UpstreamFailed(f"{where} failed: {type(exc).__name__}: {exc}", hint="retry later")
