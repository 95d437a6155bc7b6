"""The registry of action groups: checks each definition once, then answers lookups by path or function."""

from __future__ import annotations

import functools
import re
from collections.abc import Iterator

from pydantic import BaseModel

from service.action_groups.operations import (
    BEDROCK_NAME_PATTERN,
    MAX_OPERATION_ID_LENGTH,
    MAX_OPERATIONS_PER_GROUP,
    OPERATION_ID_PATTERN,
    ActionGroup,
    AnyOperation,
)
from service.errors import ConfigurationError, NotFound


@functools.cache
def _template_pattern(template: str) -> re.Pattern[str]:
    parts = re.split(r"({[A-Za-z_][A-Za-z0-9_]*})", template)
    return re.compile(
        "".join(f"(?P<{part[1:-1]}>[^/]+)" if part.startswith("{") else re.escape(part) for part in parts)
    )


def _undocumented_fields(model: type[BaseModel]) -> list[str]:
    return [name for name, info in model.model_fields.items() if not (info.description or "").strip()]


def definition_problems(group: ActionGroup) -> list[str]:
    """Everything wrong with ``group`` as a Bedrock action group, in words; empty when it is fine.

    The same rules as ``ticketsmith schemas check`` applies to exported files, checked on the definition so a
    mistake fails at start-up rather than in the Bedrock console.
    """
    problems: list[str] = []
    if not BEDROCK_NAME_PATTERN.match(group.name):
        problems.append(f"group name {group.name!r} does not match ([0-9a-zA-Z][_-]?){{1,100}}")
    if group.prefix and (not group.prefix.startswith("/") or group.prefix.endswith("/")):
        problems.append(f"group {group.name!r}: prefix {group.prefix!r} must start with / and not end with /")
    if len(group.operations) > MAX_OPERATIONS_PER_GROUP:
        problems.append(
            f"group {group.name!r} has {len(group.operations)} operations; Bedrock allows {MAX_OPERATIONS_PER_GROUP}"
        )
    seen_ids: set[str] = set()
    seen_routes: set[tuple[str, str]] = set()
    for op in group.operations:
        where = f"{group.name}.{op.operation_id}"
        if op.operation_id in seen_ids:
            problems.append(f"{where}: duplicate operationId")
        seen_ids.add(op.operation_id)
        route = (op.method, group.full_path(op))
        if route in seen_routes:
            problems.append(f"{where}: duplicate route {op.method} {group.full_path(op)}")
        seen_routes.add(route)
        if not OPERATION_ID_PATTERN.match(op.operation_id) or len(op.operation_id) > MAX_OPERATION_ID_LENGTH:
            problems.append(
                f"{where}: operationId must be letters and digits with single - or _ separators, "
                f"at most {MAX_OPERATION_ID_LENGTH} characters"
            )
        if not op.description.strip():
            problems.append(f"{where}: description is empty")
        if not op.path.startswith("/") and op.path != "":
            problems.append(f"{where}: path {op.path!r} must start with /")
        if op.body is not None and op.method in ("GET", "DELETE"):
            problems.append(f"{where}: {op.method} operations cannot take a request body on Bedrock")
        problems.extend(f"{where}: parameter {name!r} has no description" for name in _undocumented_fields(op.params))
        if op.body is not None:
            problems.extend(
                f"{where}: body field {name!r} has no description" for name in _undocumented_fields(op.body)
            )
            overlap = set(op.params.model_fields) & set(op.body.model_fields)
            if overlap:
                problems.append(f"{where}: names used both as parameter and body field: {sorted(overlap)}")
        wire_names = {info.alias or name for name, info in op.params.model_fields.items()}
        for name in op.path_parameter_names():
            if name not in wire_names:
                problems.append(f"{where}: path placeholder {{{name}}} is not a field of {op.params.__name__}")
    return problems


class ActionGroupRegistry:
    """Holds the action groups the service exposes. Lookups are exact and case-insensitive on the method."""

    def __init__(self) -> None:
        self._groups: dict[str, ActionGroup] = {}
        self._by_route: dict[tuple[str, str, str], AnyOperation] = {}
        self._ordered: list[ActionGroup] = []

    def add(self, group: ActionGroup) -> None:
        """Register ``group``. Raises :class:`ConfigurationError` naming every problem in its definition."""
        problems = definition_problems(group)
        if group.name in self._groups:
            problems.append(f"action group {group.name!r} is registered twice")
        if problems:
            raise ConfigurationError(
                "invalid action group definition: " + "; ".join(problems),
                hint="fix the operation definitions; `ticketsmith schemas check` lists the Bedrock rules",
            )
        self._groups[group.name] = group
        self._ordered = sorted(self._groups.values(), key=lambda g: g.name)
        for op in group.operations:
            self._by_route[(group.name, op.method, group.full_path(op))] = op

    def __iter__(self) -> Iterator[ActionGroup]:
        return iter(self._ordered)

    def __len__(self) -> int:
        return len(self._groups)

    def group(self, name: str) -> ActionGroup:
        """The group called ``name``. Raises :class:`NotFound` listing the known groups."""
        try:
            return self._groups[name]
        except KeyError:
            raise NotFound(
                f"unknown action group {name!r}",
                hint=f"known action groups: {', '.join(sorted(self._groups)) or '(none)'}",
            ) from None

    def by_route(self, group_name: str, method: str, api_path: str) -> tuple[AnyOperation, dict[str, str]]:
        """The operation of ``group_name`` at ``method`` ``api_path``, and any path values found in it.

        Bedrock sends the schema's template path (``/calls/{callId}``), with the values in ``parameters``; a
        caller that substituted the values into the path (``/calls/abc``) is matched too, and the values come back.
        """
        group = self.group(group_name)
        op = self._by_route.get((group.name, method.upper(), api_path))
        if op is not None:
            return op, {}
        for candidate in group.operations:
            if candidate.method != method.upper() or not candidate.path_parameter_names():
                continue
            match = _template_pattern(group.full_path(candidate)).fullmatch(api_path)
            if match:
                return candidate, match.groupdict()
        known = ", ".join(f"{o.method} {group.full_path(o)}" for o in group.operations)
        raise NotFound(
            f"action group {group_name!r} has no operation {method.upper()} {api_path}",
            hint=f"operations of {group_name}: {known}",
        )

    def by_function(self, group_name: str, function: str) -> AnyOperation:
        """The operation of ``group_name`` whose ``operationId`` is ``function`` (function-details form)."""
        group = self.group(group_name)
        op = group.operation_table().get(function)
        if op is None:
            raise NotFound(
                f"action group {group_name!r} has no function {function!r}",
                hint=f"functions of {group_name}: {', '.join(o.operation_id for o in group.operations)}",
            )
        return op
