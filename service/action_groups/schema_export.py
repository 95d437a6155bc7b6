"""Write ``agent_schemas/<group>.json`` from the registered operations, and check committed files against them.

The OpenAPI form is FastAPI's own document for the group's routes, downgraded to 3.0; the function-details
form (``agent_schemas/functions/<group>.json``) is botocore's ``FunctionSchema`` shape, for agents whose action
groups are defined with functions instead of an API schema.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any, NoReturn

from fastapi import Request
from fastapi.openapi.utils import get_openapi
from openapi_spec_validator import OpenAPIV30SpecValidator
from pydantic import BaseModel

from service.action_groups.constraints import HTTP_METHODS, SchemaProblem, bedrock_problems
from service.action_groups.openapi_downgrade import downgrade_to_30
from service.action_groups.operations import ActionGroup, AnyOperation
from service.action_groups.registry import ActionGroupRegistry
from service.action_groups.rest_binding import build_router

SCHEMA_VERSION = "1.0.0"
FUNCTIONS_DIR = "functions"
# botocore FunctionSchema: parameter types Bedrock accepts (no object), description limits.
FUNCTION_PARAMETER_TYPES = frozenset({"string", "number", "integer", "boolean", "array"})
MAX_FUNCTION_DESCRIPTION = 1200
MAX_PARAMETER_DESCRIPTION = 500


def _unbound(request: Request) -> NoReturn:
    raise RuntimeError("schema export routes are never served")


def openapi_document(group: ActionGroup) -> dict[str, Any]:
    """The group's OpenAPI 3.0 document, as Bedrock should receive it."""
    router = build_router(group, dispatcher_of=_unbound, principal_of=_unbound)
    document = get_openapi(
        title=f"Ticketsmith {group.name} actions",
        version=SCHEMA_VERSION,
        description=group.description,
        routes=router.routes,
    )
    document.pop("tags", None)
    return downgrade_to_30(document)


def _field_type(schema: dict[str, Any]) -> tuple[str, str]:
    """Bedrock function parameter type for a JSON schema, and a note to add to the description."""
    candidates = [schema, *schema.get("anyOf", [])]
    for candidate in candidates:
        kind = candidate.get("type")
        if kind in FUNCTION_PARAMETER_TYPES:
            return str(kind), ""
        if kind == "object" or "$ref" in candidate:
            return "string", " Pass a JSON object as text."
    return "string", ""


def _function_parameters(op: AnyOperation) -> dict[str, dict[str, Any]]:
    parameters: dict[str, dict[str, Any]] = {}
    models: list[type[BaseModel]] = [op.params] + ([op.body] if op.body is not None else [])
    for model in models:
        properties = model.model_json_schema(by_alias=True).get("properties", {})
        for name, info in model.model_fields.items():
            key = info.alias or name
            kind, note = _field_type(properties.get(key, {}))
            description = f"{info.description or ''}{note}".strip()
            parameters[key] = {
                "description": description[:MAX_PARAMETER_DESCRIPTION],
                "type": kind,
                "required": info.is_required(),
            }
    return parameters


def function_schema(group: ActionGroup) -> dict[str, Any]:
    """The group as a Bedrock ``functionSchema`` (``{"functions": [...]}``); function names are operationIds."""
    functions = []
    for op in group.operations:
        entry: dict[str, Any] = {
            "name": op.operation_id,
            "description": op.description[:MAX_FUNCTION_DESCRIPTION],
            "parameters": _function_parameters(op),
        }
        if op.require_confirmation:
            entry["requireConfirmation"] = "ENABLED"
        functions.append(entry)
    return {"functions": functions}


def render(document: dict[str, Any]) -> str:
    """The canonical text of a schema file: two-space JSON, keys in generation order, final newline."""
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"


def export(registry: ActionGroupRegistry, directory: Path, *, functions: bool = False) -> list[Path]:
    """Write every group's schema (and, with ``functions``, its function-details form). Returns the paths."""
    directory.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    for group in registry:
        target = directory / f"{group.name}.json"
        target.write_text(render(openapi_document(group)), encoding="utf-8")
        written.append(target)
        if functions:
            (directory / FUNCTIONS_DIR).mkdir(exist_ok=True)
            target = directory / FUNCTIONS_DIR / f"{group.name}.json"
            target.write_text(render(function_schema(group)), encoding="utf-8")
            written.append(target)
    return written


def _operations(document: dict[str, Any]) -> dict[str, Any]:
    table: dict[str, Any] = {}
    for path, item in (document.get("paths") or {}).items():
        if isinstance(item, dict):
            for method in HTTP_METHODS:
                if method in item:
                    op = item[method]
                    name = op.get("operationId") if isinstance(op, dict) else None
                    table[f"{name or '?'} ({method.upper()} {path})"] = op
    return table


def _drift(name: str, committed: dict[str, Any], expected: dict[str, Any]) -> Iterable[SchemaProblem]:
    ours, theirs = _operations(expected), _operations(committed)
    for key in sorted(set(ours) | set(theirs)):
        if key not in theirs:
            yield SchemaProblem(key, "drift", f"in the code but not in agent_schemas/{name}.json")
        elif key not in ours:
            yield SchemaProblem(key, "drift", f"in agent_schemas/{name}.json but not in the code")
        elif ours[key] != theirs[key]:
            yield SchemaProblem(key, "drift", f"agent_schemas/{name}.json differs from the code")
    rest_ours = {k: v for k, v in expected.items() if k != "paths"}
    rest_theirs = {k: v for k, v in committed.items() if k != "paths"}
    if rest_ours != rest_theirs:
        changed = sorted(k for k in set(rest_ours) | set(rest_theirs) if rest_ours.get(k) != rest_theirs.get(k))
        yield SchemaProblem("document", "drift", f"agent_schemas/{name}.json differs in {', '.join(changed)}")


def _load(path: Path) -> tuple[dict[str, Any] | None, SchemaProblem | None]:
    try:
        loaded = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None, SchemaProblem("document", "missing", f"{path} does not exist")
    except ValueError as exc:
        return None, SchemaProblem("document", "json", f"{path} is not valid JSON: {exc}")
    if not isinstance(loaded, dict):
        return None, SchemaProblem("document", "json", f"{path} does not hold a JSON object")
    return loaded, None


def check(registry: ActionGroupRegistry, directory: Path) -> dict[str, list[SchemaProblem]]:
    """Problems per schema file: missing, drifted from the code, invalid OpenAPI 3.0, or against Bedrock rules.

    Files for groups the code does not register are reported too. An empty dict means all is well.
    """
    report: dict[str, list[SchemaProblem]] = {}
    known = {group.name for group in registry}
    for group in registry:
        path = directory / f"{group.name}.json"
        committed, problem = _load(path)
        problems = [problem] if problem else []
        if committed is not None:
            problems.extend(_drift(group.name, committed, openapi_document(group)))
            problems.extend(bedrock_problems(committed, group_name=group.name))
            problems.extend(
                SchemaProblem("document", "openapi-3.0", error.message)
                for error in OpenAPIV30SpecValidator(committed).iter_errors()
            )
        functions_path = directory / FUNCTIONS_DIR / path.name
        if functions_path.exists():
            committed_functions, problem = _load(functions_path)
            if problem:
                problems.append(problem)
            elif committed_functions != function_schema(group):
                problems.append(
                    SchemaProblem("document", "drift", f"{functions_path} differs from the code; export again")
                )
        if problems:
            report[str(path)] = problems
    for stray in sorted(directory.glob("*.json")):
        if stray.stem not in known:
            report[str(stray)] = [
                SchemaProblem("document", "orphan", f"no action group {stray.stem!r} is registered; delete the file")
            ]
    return report
