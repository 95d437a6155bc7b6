"""Turn Bedrock's all-strings parameters into the typed models an operation declares.

Bedrock sends every value as a string and names the schema type beside it; arrays and objects arrive as
their JSON text, and some models write arrays as ``[a, b]`` without quotes. Scalars are left to pydantic's
lax mode (``"20"`` → ``20``, ``"true"`` → ``True``), which is the same coercion FastAPI applies to query
strings, so a value valid on one path is valid on the other.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Iterable, Mapping
from typing import Any

from pydantic import BaseModel, ValidationError

from service.action_groups.envelope import EventParameter
from service.errors import validation_failed

_STRUCTURED_TYPES = frozenset({"array", "object"})


def _decode(value: Any, declared_type: str | None) -> Any:
    if not isinstance(value, str):
        return value
    text = value.strip()
    structured = declared_type in _STRUCTURED_TYPES
    if structured or (declared_type is None and text[:1] in ("[", "{")):
        try:
            return json.loads(text)
        except RecursionError:  # nested too deeply to be a real value: left as text for validation to refuse
            return value
        except ValueError:
            if declared_type == "array" or (declared_type is None and text.startswith("[")):
                inner = text[1:-1] if text.startswith("[") and text.endswith("]") else text
                return [item.strip().strip("\"'") for item in inner.split(",") if item.strip()]
    return value


def raw_values(parameters: Iterable[EventParameter]) -> dict[str, Any]:
    """``{name: value}`` with stringified arrays and objects decoded. A later duplicate name wins."""
    return {p.name: _decode(p.value, (p.type or "").lower() or None) for p in parameters}


@functools.cache
def _structured_fields(model: type[BaseModel]) -> frozenset[str]:
    """Wire names of the fields that hold objects or arrays (including optional ones)."""
    names = set()
    for key, schema in model.model_json_schema(by_alias=True).get("properties", {}).items():
        options = [schema, *schema.get("anyOf", []), *schema.get("allOf", [])]
        if any(o.get("type") in _STRUCTURED_TYPES or "$ref" in o for o in options):
            names.add(key)
    return frozenset(names)


def validate_model(model: type[BaseModel], values: Mapping[str, Any], *, where: str) -> BaseModel:
    """Build ``model`` from ``values``, keeping only its fields (by name or alias).

    An object or array field given as JSON text is decoded first: function-details schemas have no object type,
    so such fields are declared as strings holding JSON. Raises :class:`ValidationFailed` naming each missing or
    mistyped field in words a model can act on.
    """
    structured = _structured_fields(model)
    accepted: dict[str, Any] = {}
    for name, info in model.model_fields.items():
        key = info.alias or name
        if key in values:
            accepted[key] = values[key]
        elif name in values:
            accepted[key] = values[name]
        else:
            continue
        if key in structured and isinstance(accepted[key], str):
            accepted[key] = _decode(accepted[key], "array" if accepted[key].lstrip().startswith("[") else "object")
    try:
        return model.model_validate(accepted)
    except ValidationError as exc:
        raise validation_failed(exc.errors(include_url=False), subject=where, loc_prefix=(where,)) from None
