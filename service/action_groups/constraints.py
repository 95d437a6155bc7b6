"""The rules Bedrock applies to an action group's OpenAPI schema, checked on the document itself.

Sources: https://docs.aws.amazon.com/bedrock/latest/userguide/agents-api-schema.html (3.0 only, no ``enum``,
``operationId``/``description``/``responses`` on every operation, a ``description`` on every parameter, no body
on GET and DELETE), https://docs.aws.amazon.com/bedrock/latest/userguide/agents-lambda.html (at most 11 API
operations per group), and botocore's ``CreateAgentActionGroupRequest`` (group name pattern).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from service.action_groups.operations import (
    BEDROCK_NAME_PATTERN,
    MAX_OPERATION_ID_LENGTH,
    MAX_OPERATIONS_PER_GROUP,
    OPERATION_ID_PATTERN,
)

HTTP_METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")
JSON_MEDIA_TYPE = "application/json"
# JSON Schema keywords of OpenAPI 3.1 / draft 2020-12 that a 3.0 schema object does not have.
KEYWORDS_NOT_IN_30 = ("const", "$defs", "prefixItems", "contentMediaType", "contentEncoding", "examples", "if")


@dataclass(frozen=True, slots=True)
class SchemaProblem:
    """One broken rule: where (``METHOD /path``, or ``document``), which rule, and what to do."""

    operation: str
    rule: str
    message: str

    def __str__(self) -> str:
        return f"{self.operation}: [{self.rule}] {self.message}"


def _subschemas(schema: dict[str, Any], trail: str) -> Iterator[tuple[str, Any]]:
    for key in ("properties", "patternProperties", "$defs", "definitions"):
        value = schema.get(key)
        if isinstance(value, dict):
            for name, sub in value.items():
                yield f"{trail}/{key}/{name}", sub
    for key in ("items", "additionalProperties", "not"):
        if isinstance(schema.get(key), dict):
            yield f"{trail}/{key}", schema[key]
    for key in ("allOf", "anyOf", "oneOf", "prefixItems"):
        value = schema.get(key)
        if isinstance(value, list):
            for index, sub in enumerate(value):
                yield f"{trail}/{key}/{index}", sub


def _schema_problems(where: str, schema: Any, trail: str) -> Iterator[SchemaProblem]:
    """Problems in one JSON schema object and everything nested in it."""
    if not isinstance(schema, dict):
        return
    if "enum" in schema:
        yield SchemaProblem(where, "no-enum", f"{trail} uses enum; list the allowed values in the description")
    for keyword in KEYWORDS_NOT_IN_30:
        if keyword in schema:
            yield SchemaProblem(where, "openapi-3.0", f"{trail} uses {keyword!r}, which OpenAPI 3.0 lacks")
    if isinstance(schema.get("type"), list):
        yield SchemaProblem(where, "openapi-3.0", f"{trail} has a list as 'type'; use one type and nullable")
    for sub_trail, sub in _subschemas(schema, trail):
        yield from _schema_problems(where, sub, sub_trail)


def _content_problems(where: str, content: Any, trail: str) -> Iterator[SchemaProblem]:
    if isinstance(content, dict):
        for media, media_obj in content.items():
            if isinstance(media_obj, dict):
                yield from _schema_problems(where, media_obj.get("schema"), f"{trail}/{media}")


def bedrock_problems(document: dict[str, Any], *, group_name: str | None = None) -> list[SchemaProblem]:
    """Every Bedrock rule ``document`` breaks; empty when Bedrock should accept it.

    ``group_name``, when given, is checked against the action-group name pattern too.
    """
    problems: list[SchemaProblem] = []
    doc = "document"
    version = document.get("openapi")
    if not isinstance(version, str) or not version.startswith("3.0."):
        problems.append(SchemaProblem(doc, "openapi-3.0", f"'openapi' is {version!r}; Bedrock needs 3.0.x"))
    if group_name is not None and not BEDROCK_NAME_PATTERN.match(group_name):
        problems.append(SchemaProblem(doc, "group-name", f"{group_name!r} does not match ([0-9a-zA-Z][_-]?){{1,100}}"))
    paths = document.get("paths")
    if not isinstance(paths, dict) or not paths:
        problems.append(SchemaProblem(doc, "paths", "the document has no 'paths'"))
        paths = {}
    count = 0
    seen_ids: dict[str, str] = {}
    for path, item in paths.items():
        if not isinstance(path, str) or not path.startswith("/"):
            problems.append(SchemaProblem(str(path), "path", "every path must begin with '/'"))
        if not isinstance(item, dict):
            continue
        for method in HTTP_METHODS:
            op = item.get(method)
            if not isinstance(op, dict):
                continue
            count += 1
            where = f"{method.upper()} {path}"
            problems.extend(_operation_problems(where, method, op, item, seen_ids))
    if count > MAX_OPERATIONS_PER_GROUP:
        problems.append(
            SchemaProblem(
                doc, "max-operations", f"{count} operations; an action group allows {MAX_OPERATIONS_PER_GROUP}"
            )
        )
    components = document.get("components", {})
    schemas = components.get("schemas", {}) if isinstance(components, dict) else {}
    for name, schema in schemas.items() if isinstance(schemas, dict) else ():
        problems.extend(_schema_problems(doc, schema, f"#/components/schemas/{name}"))
    return problems


def _operation_problems(
    where: str, method: str, op: dict[str, Any], item: dict[str, Any], seen_ids: dict[str, str]
) -> Iterator[SchemaProblem]:
    operation_id = op.get("operationId")
    if not isinstance(operation_id, str) or not operation_id:
        yield SchemaProblem(where, "operation-id", "no operationId; Bedrock needs one on every operation")
    else:
        if not OPERATION_ID_PATTERN.match(operation_id) or len(operation_id) > MAX_OPERATION_ID_LENGTH:
            yield SchemaProblem(
                where,
                "operation-id",
                f"operationId {operation_id!r} must be letters and digits with single - or _ separators, "
                f"at most {MAX_OPERATION_ID_LENGTH} characters",
            )
        if operation_id in seen_ids:
            yield SchemaProblem(
                where, "operation-id", f"operationId {operation_id!r} is also used by {seen_ids[operation_id]}"
            )
        seen_ids[operation_id] = where
    if not str(op.get("description") or "").strip():
        yield SchemaProblem(where, "description", "no description; the model chooses operations by it")
    responses = op.get("responses")
    if not isinstance(responses, dict) or not responses:
        yield SchemaProblem(where, "responses", "no responses")
    else:
        for status, response in responses.items():
            content = response.get("content") if isinstance(response, dict) else None
            if not isinstance(content, dict) or not content:
                yield SchemaProblem(where, "responses", f"response {status} has no content")
                continue
            for media, media_obj in content.items():
                if not isinstance(media_obj, dict) or media_obj.get("schema") is None:
                    yield SchemaProblem(where, "responses", f"response {status} {media} has no schema")
            yield from _content_problems(where, content, f"responses/{status}")
    parameters = [*item.get("parameters", []), *op.get("parameters", [])]
    for param in parameters:
        if not isinstance(param, dict):
            continue
        name = param.get("name", "?")
        if not str(param.get("description") or "").strip():
            yield SchemaProblem(where, "parameter-description", f"parameter {name!r} has no description")
        yield from _schema_problems(where, param.get("schema"), f"parameters/{name}")
    body = op.get("requestBody")
    if body is not None:
        if method in ("get", "delete"):
            yield SchemaProblem(where, "no-body", f"{method.upper()} operations must not have a requestBody")
        content = body.get("content") if isinstance(body, dict) else None
        if isinstance(content, dict):
            for media in content:
                if media != JSON_MEDIA_TYPE:
                    yield SchemaProblem(
                        where, "body-media-type", f"request body media type {media!r}; use application/json"
                    )
            yield from _content_problems(where, content, "requestBody")
        else:
            yield SchemaProblem(where, "no-body", "requestBody has no content")
