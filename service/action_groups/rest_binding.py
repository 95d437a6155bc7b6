"""Bind action groups to FastAPI routes, so ``/openapi.json`` and ``agent_schemas/`` come from one definition.

Each operation becomes a route whose signature is built from its parameter model: fields named in the path
become path parameters, the rest query parameters, each with the field's description and constraints. FastAPI
then validates REST calls with the very models the Bedrock dispatcher validates events with.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Annotated, Any, cast

from fastapi import APIRouter, Path, Query, Request
from pydantic import BaseModel, Field

from service.action_groups.dispatcher import ActionDispatcher
from service.action_groups.operations import ActionGroup, AnyOperation, CallContext
from service.domain.action_calls import Trigger
from service.domain.principals import Principal

_REQUEST = "ts_request"
_BODY = "ts_body"


class ErrorDetail(BaseModel):
    code: str = Field(description="Stable error token, e.g. validation_failed, not_found, forbidden.")
    message: str = Field(description="What went wrong, in words.")
    retryable: bool = Field(description="True when the call may succeed with corrected input.")
    hint: str | None = Field(default=None, description="What to do about it.")
    details: Any = Field(default=None, description="Structured details, e.g. the invalid fields.")


class ErrorBody(BaseModel):
    """The JSON body of every error response, REST and Bedrock alike."""

    error: ErrorDetail = Field(description="The error.")


ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorBody, "description": text}
    for status, text in (
        (400, "The request is malformed."),
        (403, "The API key may not call this action group."),
        (404, "No such record."),
        (422, "A parameter or body field is missing or invalid."),
    )
}

DispatcherOf = Callable[[Request], ActionDispatcher]
PrincipalOf = Callable[[Request], Principal]


def _parameter(name: str, op: AnyOperation) -> inspect.Parameter:
    info = op.params.model_fields[name]
    location = Path if (info.alias or name) in op.path_parameter_names() else Query
    marker = location(description=info.description, alias=info.alias)
    # Built at run time from the field, so the route validates exactly what the model declares.
    annotation = cast(Any, Annotated)[(info.annotation, *info.metadata, marker)]
    default = inspect.Parameter.empty if info.is_required() else info.get_default(call_default_factory=True)
    return inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, annotation=annotation, default=default)


def _endpoint(group: ActionGroup, op: AnyOperation, dispatcher_of: DispatcherOf, principal_of: PrincipalOf) -> Any:
    field_keys = {name: info.alias or name for name, info in op.params.model_fields.items()}

    async def endpoint(**kwargs: Any) -> BaseModel:
        request: Request = kwargs.pop(_REQUEST)
        body: BaseModel | None = kwargs.pop(_BODY, None)
        params = op.params.model_validate({field_keys[name]: value for name, value in kwargs.items()})
        ctx = CallContext(trigger=Trigger.REST, principal=principal_of(request))
        return await dispatcher_of(request).run(group, op, ctx, params, body)

    parameters = [inspect.Parameter(_REQUEST, inspect.Parameter.KEYWORD_ONLY, annotation=Request)]
    parameters += [_parameter(name, op) for name in op.params.model_fields]
    if op.body is not None:
        parameters.append(inspect.Parameter(_BODY, inspect.Parameter.KEYWORD_ONLY, annotation=op.body))
    endpoint.__signature__ = inspect.Signature(parameters, return_annotation=op.response)  # type: ignore[attr-defined]
    endpoint.__name__ = op.operation_id
    endpoint.__doc__ = op.description
    return endpoint


def build_router(
    group: ActionGroup,
    *,
    dispatcher_of: DispatcherOf,
    principal_of: PrincipalOf,
) -> APIRouter:
    """An :class:`APIRouter` with one route per operation of ``group``, under the group's prefix."""
    router = APIRouter(prefix=group.prefix, tags=[group.name])
    for op in group.operations:
        extra = {"x-requireConfirmation": "ENABLED"} if op.require_confirmation else None
        router.add_api_route(
            op.path,
            _endpoint(group, op, dispatcher_of, principal_of),
            methods=[op.method],
            operation_id=op.operation_id,
            summary=op.summary,
            description=op.description,
            response_model=op.response,
            responses=ERROR_RESPONSES,
            openapi_extra=extra,
        )
    return router
