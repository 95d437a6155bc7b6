"""Rewrite the OpenAPI 3.1 that FastAPI and pydantic v2 emit into the 3.0 that Bedrock accepts.

Bedrock rejects 3.1 documents (https://docs.aws.amazon.com/bedrock/latest/userguide/agents-api-schema.html)
and ``enum`` anywhere. The same problem and a shallow fix are recorded in
aws-powertools/powertools-lambda-python issues #3731 and #4196; this rewrite is deeper: it handles nullable
unions, ``type`` lists, ``examples``, ``const``, ``enum`` and numeric ``exclusiveMinimum``/``exclusiveMaximum``
at any depth, and moves the allowed values of an enum or const into the description where the model reads them.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

OPENAPI_30 = "3.0.0"
_DROPPED = ("contentMediaType", "contentEncoding", "$schema", "$id")

Schema = dict[str, Any]


def _note(schema: Schema, text: str) -> None:
    description = str(schema.get("description") or "").rstrip()
    if text in description:
        return
    schema["description"] = f"{description} {text}".strip() if description else text


def _is_null(schema: Any) -> bool:
    return isinstance(schema, dict) and schema.get("type") == "null" and len(schema) == 1


def _collapse_nullable_union(schema: Schema, key: str) -> None:
    branches = schema.get(key)
    if not isinstance(branches, list) or not any(_is_null(b) for b in branches):
        return
    rest = [b for b in branches if not _is_null(b)]
    schema["nullable"] = True
    del schema[key]
    if len(rest) > 1:
        schema[key] = rest
    elif rest:
        only = rest[0]
        if "$ref" in only:
            # In 3.0 a $ref's siblings are ignored, so wrap it to keep "nullable" meaningful.
            schema["allOf"] = [only]
        else:
            for name, value in only.items():
                schema.setdefault(name, value)


def _downgrade_schema(schema: Schema) -> None:
    for key in ("anyOf", "oneOf"):
        _collapse_nullable_union(schema, key)
    kind = schema.get("type")
    if isinstance(kind, list):
        non_null = [k for k in kind if k != "null"]
        if "null" in kind:
            schema["nullable"] = True
        schema["type"] = non_null[0] if len(non_null) == 1 else "string"
        if len(non_null) > 1:
            _note(schema, f"Accepts {' or '.join(non_null)} written as a string.")
    if "examples" in schema:
        examples = schema.pop("examples")
        if isinstance(examples, list) and examples:
            schema.setdefault("example", examples[0])
    if "const" in schema:
        value = schema.pop("const")
        _note(schema, f"Always {value!r}.")
    if "enum" in schema:
        values = [v for v in schema.pop("enum") if v is not None]
        _note(schema, "One of: " + ", ".join(repr(v) if not isinstance(v, str) else v for v in values) + ".")
    for bound, flag in (("exclusiveMinimum", "minimum"), ("exclusiveMaximum", "maximum")):
        value = schema.get(bound)
        if isinstance(value, int | float) and not isinstance(value, bool):
            schema[flag] = value
            schema[bound] = True
    for key in _DROPPED:
        schema.pop(key, None)


def _each_schema(schema: Any, visit: Callable[[Schema], None]) -> None:
    if not isinstance(schema, dict):
        return
    visit(schema)
    for key in ("properties", "patternProperties"):
        for sub in (schema.get(key) or {}).values():
            _each_schema(sub, visit)
    for key in ("items", "additionalProperties", "not"):
        _each_schema(schema.get(key), visit)
    for key in ("allOf", "anyOf", "oneOf"):
        for sub in schema.get(key) or []:
            _each_schema(sub, visit)


def _content_schemas(content: Any) -> list[Any]:
    if not isinstance(content, dict):
        return []
    return [media.get("schema") for media in content.values() if isinstance(media, dict)]


def downgrade_to_30(document: dict[str, Any]) -> dict[str, Any]:
    """A copy of ``document`` as OpenAPI 3.0.0, with every schema rewritten for Bedrock. Idempotent."""
    doc = copy.deepcopy(document)
    doc["openapi"] = OPENAPI_30
    doc.pop("jsonSchemaDialect", None)
    doc.pop("webhooks", None)
    roots: list[Any] = list((doc.get("components", {}).get("schemas") or {}).values())
    for item in (doc.get("paths") or {}).values():
        for op in item.values():
            if not isinstance(op, dict):
                continue
            roots.extend(p.get("schema") for p in op.get("parameters", []) if isinstance(p, dict))
            roots.extend(_content_schemas((op.get("requestBody") or {}).get("content")))
            for response in (op.get("responses") or {}).values():
                if isinstance(response, dict):
                    roots.extend(_content_schemas(response.get("content")))
    for root in roots:
        _each_schema(root, _downgrade_schema)
    return doc
