"""The action groups as chat tools: one tool per operation, run through the dispatcher as the caller.

A tool is named ``<group>_<operationId>`` (Converse's name rule allows letters, digits, ``_`` and ``-``); its
input schema joins the operation's parameters and body (by their wire names). Calls go through
:meth:`ActionDispatcher.call` with trigger ``chat`` and the caller's principal, so key scopes, the per-trigger
allow-lists, time limits and the audit log apply as for any other call.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import anyio.from_thread
from pydantic import BaseModel

from service.action_groups.dispatcher import ActionDispatcher
from service.action_groups.operations import ActionGroup, AnyOperation, CallContext
from service.domain.action_calls import Trigger
from service.domain.llm import ToolSpec
from service.domain.principals import Principal
from service.orchestrator.chat_loop import ChatTool

EXCLUDED = frozenset({"runs.confirmRun"})
"""Never a tool: a model must not confirm the pause it is waiting in."""


def tool_name(group: ActionGroup, op: AnyOperation) -> str:
    return f"{group.name}_{op.operation_id}"


def input_schema(op: AnyOperation) -> dict[str, Any]:
    """One JSON Schema object holding the operation's parameters and body fields (wire names)."""
    properties: dict[str, Any] = {}
    required: list[str] = []
    definitions: dict[str, Any] = {}
    models: list[type[BaseModel]] = [op.params] + ([op.body] if op.body is not None else [])
    for model in models:
        schema = model.model_json_schema(by_alias=True, ref_template="#/$defs/{model}")
        definitions.update(schema.get("$defs", {}))
        properties.update(schema.get("properties", {}))
        required.extend(name for name in schema.get("required", []) if name not in required)
    result: dict[str, Any] = {"type": "object", "properties": properties}
    if required:
        result["required"] = required
    if definitions:
        result["$defs"] = definitions
    return result


def chat_tools(dispatcher: ActionDispatcher, principal: Principal) -> dict[str, ChatTool]:
    """The operations ``principal`` may call, as tools keyed by name. A tool's ``run`` blocks: call it from a
    worker thread started by anyio (it calls the async dispatcher through ``anyio.from_thread``)."""
    tools: dict[str, ChatTool] = {}
    for group in dispatcher.registry:
        if not principal.may_call(group.name):
            continue
        for op in group.operations:
            action = f"{group.name}.{op.operation_id}"
            if action in EXCLUDED:
                continue
            name = tool_name(group, op)
            spec = ToolSpec(name=name, description=f"{op.summary}. {op.description}", input_schema=input_schema(op))
            tools[name] = ChatTool(spec=spec, action=action, run=_runner(dispatcher, group.name, op, principal))
    return tools


def _runner(
    dispatcher: ActionDispatcher, group: str, op: AnyOperation, principal: Principal
) -> Callable[[dict[str, Any]], dict[str, Any]]:
    operation_id = op.operation_id

    def run(values: Mapping[str, Any]) -> dict[str, Any]:
        ctx = CallContext(trigger=Trigger.CHAT, principal=principal)
        result = anyio.from_thread.run(dispatcher.call, group, operation_id, ctx, dict(values))
        dumped: Any = result.model_dump(by_alias=True, mode="json")
        return dumped if isinstance(dumped, dict) else {"result": dumped}

    return run
