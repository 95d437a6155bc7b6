"""The 3.1 → 3.0 rewrite and the Bedrock rule checker, on documents written to break each rule."""

from __future__ import annotations

from typing import Any

import pytest
from openapi_spec_validator import OpenAPIV30SpecValidator

from service.action_groups.constraints import bedrock_problems
from service.action_groups.openapi_downgrade import downgrade_to_30


def _doc(schema: dict[str, Any], **operation: Any) -> dict[str, Any]:
    op = {
        "operationId": "getThing",
        "description": "Gets the thing.",
        "responses": {"200": {"description": "ok", "content": {"application/json": {"schema": schema}}}},
    } | operation
    return {"openapi": "3.1.0", "info": {"title": "t", "version": "1"}, "paths": {"/thing": {"get": op}}}


PYDANTIC_31_SCHEMA = {
    "type": "object",
    "properties": {
        "note": {"anyOf": [{"type": "string"}, {"type": "null"}], "default": None, "description": "A note."},
        "child": {"anyOf": [{"$ref": "#/components/schemas/Child"}, {"type": "null"}]},
        "kind": {"type": "string", "enum": ["bug", "smell"], "description": "Kind."},
        "fixed": {"const": "v1"},
        "tags": {"type": ["array", "null"], "items": {"type": "string"}, "examples": [["a"]]},
        "score": {"type": "number", "exclusiveMinimum": 0},
        "nested": {"type": "object", "properties": {"deep": {"enum": [1, 2]}}},
    },
}


def test_pydantic_31_constructs_become_30() -> None:
    document = _doc(PYDANTIC_31_SCHEMA)
    document["components"] = {"schemas": {"Child": {"type": "object", "properties": {"x": {"type": "integer"}}}}}
    downgraded = downgrade_to_30(document)
    props = downgraded["paths"]["/thing"]["get"]["responses"]["200"]["content"]["application/json"]["schema"][
        "properties"
    ]
    assert props["note"] == {"type": "string", "nullable": True, "default": None, "description": "A note."}
    assert props["child"] == {"allOf": [{"$ref": "#/components/schemas/Child"}], "nullable": True}
    assert props["kind"] == {"type": "string", "description": "Kind. One of: bug, smell."}
    assert props["fixed"] == {"description": "Always 'v1'."}
    assert props["tags"] == {"type": "array", "nullable": True, "items": {"type": "string"}, "example": ["a"]}
    assert props["score"] == {"type": "number", "minimum": 0, "exclusiveMinimum": True}
    assert props["nested"]["properties"]["deep"] == {"description": "One of: 1, 2."}
    assert downgraded["openapi"] == "3.0.0"
    assert list(OpenAPIV30SpecValidator(downgraded).iter_errors()) == []
    assert bedrock_problems(downgraded) == []
    assert downgrade_to_30(downgraded) == downgraded, "the rewrite is idempotent"


def test_input_document_is_not_modified() -> None:
    document = _doc(PYDANTIC_31_SCHEMA)
    before = repr(document)
    downgrade_to_30(document)
    assert repr(document) == before


def test_property_named_like_a_keyword_is_not_a_problem() -> None:
    document = downgrade_to_30(
        _doc({"type": "object", "properties": {"enum": {"type": "string"}, "const": {"type": "integer"}}})
    )
    assert bedrock_problems(document) == []


GOOD = downgrade_to_30(_doc({"type": "object"}))


def _broken(path: list[str], value: Any) -> dict[str, Any]:
    document = downgrade_to_30(_doc({"type": "object"}))
    node = document
    for key in path[:-1]:
        node = node[key]
    if value is None:
        del node[path[-1]]
    else:
        node[path[-1]] = value
    return document


GET_OP = ["paths", "/thing", "get"]
RULE_CASES = [
    ("openapi-3.0", _broken(["openapi"], "3.1.0")),
    ("operation-id", _broken([*GET_OP, "operationId"], None)),
    ("operation-id", _broken([*GET_OP, "operationId"], "get thing!")),
    ("operation-id", _broken([*GET_OP, "operationId"], "x" * 33)),
    ("description", _broken([*GET_OP, "description"], None)),
    ("responses", _broken([*GET_OP, "responses"], None)),
    ("responses", _broken([*GET_OP, "responses"], {"200": {"description": "ok"}})),
    (
        "parameter-description",
        _broken([*GET_OP, "parameters"], [{"name": "q", "in": "query", "schema": {"type": "string"}}]),
    ),
    (
        "no-enum",
        _broken(
            [*GET_OP, "parameters"],
            [{"name": "q", "in": "query", "description": "q", "schema": {"type": "string", "enum": ["a"]}}],
        ),
    ),
    ("no-body", _broken([*GET_OP, "requestBody"], {"content": {"application/json": {"schema": {"type": "object"}}}})),
    ("path", _broken(["paths"], {"thing": GOOD["paths"]["/thing"]})),
    ("paths", _broken(["paths"], {})),
]


@pytest.mark.parametrize(("rule", "document"), RULE_CASES, ids=[f"{r}-{i}" for i, (r, _) in enumerate(RULE_CASES)])
def test_each_bedrock_rule_is_reported(rule: str, document: dict[str, Any]) -> None:
    assert rule in {p.rule for p in bedrock_problems(document)}


def test_body_media_type_and_operation_count_and_group_name() -> None:
    post = {
        "operationId": "putThing",
        "description": "Puts.",
        "requestBody": {"content": {"text/plain": {"schema": {"type": "string"}}}},
        "responses": GOOD["paths"]["/thing"]["get"]["responses"],
    }
    document = downgrade_to_30(_doc({"type": "object"}))
    document["paths"]["/thing"]["post"] = post
    for index in range(11):
        document["paths"][f"/more/{index}"] = {"get": GOOD["paths"]["/thing"]["get"] | {"operationId": f"op{index}"}}
    rules = {p.rule for p in bedrock_problems(document, group_name="_bad")}
    assert {"body-media-type", "max-operations", "group-name"} <= rules
    assert bedrock_problems(GOOD, group_name="ticket-smith_2") == []
