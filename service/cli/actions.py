"""`ticketsmith actions list|call` and `ticketsmith bedrock replay`: the handlers, locally."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from pydantic import BaseModel
from rich.table import Table

from service.action_groups.operations import CallContext
from service.cli._common import (
    EXIT_FAILED,
    JsonOption,
    actions_app,
    bedrock_app,
    fail,
    out,
    with_container,
)
from service.container import Container
from service.domain.action_calls import Trigger
from service.domain.principals import LOCAL_OPERATOR
from service.errors import InvalidInput


@actions_app.command("list")
def actions_list(as_json: JsonOption = False) -> None:
    """List action groups and their operations."""

    def rows(container: Container) -> list[dict[str, str]]:
        return [
            {
                "group": g.name,
                "operation": op.operation_id,
                "method": op.method,
                "path": g.full_path(op),
                "description": op.description,
            }
            for g in container.registry
            for op in g.operations
        ]

    listed = with_container(as_json, in_memory=True, work=rows)
    if as_json:
        out.print_json(data={"operations": listed})
        return
    table = Table("group", "operation", "method", "path", "description")
    for row in listed:
        table.add_row(*row.values())
    out.print(table)


def _parse_params(params: list[str], body: str | None) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for item in params:
        name, sep, value = item.partition("=")
        if not sep or not name:
            raise InvalidInput(f"--param {item!r} is not NAME=VALUE")
        values[name] = value
    if body is not None:
        try:
            decoded = json.loads(body)
        except ValueError as exc:
            raise InvalidInput(f"--body is not valid JSON: {exc}") from None
        if not isinstance(decoded, dict):
            raise InvalidInput("--body must be a JSON object")
        values.update(decoded)
    return values


@actions_app.command("call")
def actions_call(
    group: Annotated[str, typer.Argument(help="Action group name, e.g. system.")],
    operation: Annotated[str, typer.Argument(help="operationId, e.g. getServiceInfo.")],
    param: Annotated[list[str] | None, typer.Option("--param", "-p", help="NAME=VALUE; repeatable.")] = None,
    body: Annotated[str | None, typer.Option("--body", help="JSON object of body fields.")] = None,
    as_json: JsonOption = False,
) -> None:
    """Call an operation through the same handlers the service uses."""

    def work(container: Container) -> BaseModel:
        values = _parse_params(param or [], body)
        ctx = CallContext(trigger=Trigger.CLI, principal=LOCAL_OPERATOR)
        return asyncio.run(container.dispatcher.call(group, operation, ctx, values))

    result = with_container(as_json, in_memory=False, work=work)
    out.print_json(result.model_dump_json(by_alias=True))


@bedrock_app.command("replay")
def bedrock_replay(
    event_file: Annotated[Path, typer.Argument(help="A Bedrock action-group event as JSON ('-' for stdin).")],
    as_json: JsonOption = False,
) -> None:
    """Answer a recorded Bedrock event locally and print the response envelope."""
    try:
        payload = sys.stdin.buffer.read() if str(event_file) == "-" else event_file.read_bytes()
    except OSError as exc:
        fail(InvalidInput(f"cannot read {event_file}: {exc.strerror}"), as_json=as_json)

    def work(container: Container) -> dict[str, Any]:
        return asyncio.run(
            container.dispatcher.handle_event_bytes(payload, trigger=Trigger.CLI, principal=LOCAL_OPERATOR)
        )

    envelope = with_container(as_json, in_memory=False, work=work)
    out.print_json(data=envelope)
    response = envelope.get("response", {})
    failed = response.get("httpStatusCode", 200) >= 400 or "responseState" in response.get("functionResponse", {})
    if failed:
        raise typer.Exit(EXIT_FAILED)
