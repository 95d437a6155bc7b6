"""How an action-group operation is declared: one definition serves REST, Bedrock events, Lambda and the CLI.

An :class:`Operation` names its HTTP method and path, its ``operationId`` (which is also its function name in
the function-details form), a description the model reads, a pydantic model for its parameters (path and query),
an optional pydantic model for its JSON body, a response model, and an async handler
``handler(ctx, params, body) -> response``. The REST binding, the Bedrock dispatcher and the schema exporter
all read the same definition, so they cannot disagree about names, types or validation.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Generic, Literal, TypeVar

from pydantic import BaseModel, ConfigDict

from service.domain.action_calls import Trigger
from service.domain.principals import Principal

HttpMethod = Literal["GET", "POST", "PUT", "PATCH", "DELETE"]

# botocore CreateAgentActionGroupRequest.actionGroupName and FunctionSchema name pattern.
BEDROCK_NAME_PATTERN = re.compile(r"^([0-9a-zA-Z][_-]?){1,100}$")
# Bedrock asks for "simple alphanumeric" operationIds with hyphen or underscore separators, and tool-use
# models reject long ones (see agent_schemas/README.md); we keep ours at 32 characters or fewer.
OPERATION_ID_PATTERN = re.compile(r"^[A-Za-z][A-Za-z0-9]*([_-][A-Za-z0-9]+)*$")
MAX_OPERATION_ID_LENGTH = 32
MAX_OPERATIONS_PER_GROUP = 11
PATH_PARAMETER = re.compile(r"{([A-Za-z_][A-Za-z0-9_]*)}")


class NoParams(BaseModel):
    """Parameters of an operation that takes none."""

    model_config = ConfigDict(extra="ignore")


@dataclass
class CallContext:
    """What a handler knows about the call besides its parameters.

    ``session_attributes`` and ``prompt_session_attributes`` start as the Bedrock event's and are returned in
    the envelope, so a handler may change them. For REST and CLI calls they start empty.
    """

    trigger: Trigger
    principal: Principal
    session_id: str | None = None
    input_text: str | None = None
    session_attributes: dict[str, str] = field(default_factory=dict)
    prompt_session_attributes: dict[str, str] = field(default_factory=dict)


P = TypeVar("P", bound=BaseModel)
B = TypeVar("B", bound=BaseModel)
R = TypeVar("R", bound=BaseModel)

Handler = Callable[[CallContext, P, B | None], Awaitable[R]]


@dataclass(frozen=True)
class Operation(Generic[P, B, R]):
    """One action: a REST route, a Bedrock API operation and a Bedrock function, all at once.

    ``path`` is relative to the group's prefix and may hold ``{name}`` placeholders naming fields of
    ``params``. ``body`` must be None for GET and DELETE (Bedrock forbids bodies there). ``writes`` marks an
    operation that changes state; ``require_confirmation`` makes Bedrock ask the user before calling it.
    """

    operation_id: str
    method: HttpMethod
    path: str
    summary: str
    description: str
    params: type[P]
    response: type[R]
    handler: Handler[P, B, R]
    body: type[B] | None = None
    writes: bool = False
    require_confirmation: bool = False

    def path_parameter_names(self) -> list[str]:
        """Names of the ``{placeholders}`` in ``path``, in order."""
        return PATH_PARAMETER.findall(self.path)


AnyOperation = Operation[Any, Any, Any]


@dataclass(frozen=True)
class ActionGroup:
    """A named set of at most 11 operations, exported as one ``agent_schemas/<name>.json``.

    ``prefix`` is where its REST routes live (``/v1/<something>``); Bedrock's ``apiPath`` is the full path
    (prefix + operation path), so one schema file serves both.
    """

    name: str
    description: str
    prefix: str
    operations: tuple[AnyOperation, ...]

    def full_path(self, operation: AnyOperation) -> str:
        """The operation's path as it appears in OpenAPI and in Bedrock's ``apiPath``."""
        return f"{self.prefix}{operation.path}"

    def operation_table(self) -> Mapping[str, AnyOperation]:
        """Operations by ``operationId``."""
        return {op.operation_id: op for op in self.operations}
