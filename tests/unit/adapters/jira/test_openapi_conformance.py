"""Every call the Cloud adapter makes is a path of Atlassian's OpenAPI v3 document with a request body valid
against its schema, and every 2xx answer of the fake Jira is valid against the documented response schema.

Document: tests/fixtures/jira/jira-cloud-platform-openapi-v3.json (OpenAPI 3.0.1). Its schemas are checked with
JSON Schema draft 4 semantics, which is what OpenAPI 3.0 schemas are based on.
"""

from __future__ import annotations

import json
import random
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import cache
from typing import Any

import httpx
import jsonschema
import pytest

from service.adapters.jira import JiraTracker, RetryPolicy, build_issue_tracker
from service.domain.tickets import TicketDraft
from tests.fakes.jira_server import FIXTURES, FakeJira
from tests.fakes.jira_trackers import Sleeps, jira_settings


@cache
def spec() -> dict[str, Any]:
    return json.loads((FIXTURES / "jira-cloud-platform-openapi-v3.json").read_text(encoding="utf-8"))


@cache
def templates() -> list[tuple[re.Pattern[str], str]]:
    out = [(re.compile("^" + re.sub(r"\{[^}]+\}", "[^/]+", path) + "$"), path) for path in spec()["paths"]]
    # Literal paths before templated ones (/issue/bulk is not /issue/{issueIdOrKey}).
    return sorted(out, key=lambda item: item[1].count("{"))


def operation(method: str, path: str) -> dict[str, Any]:
    for pattern, template in templates():
        if pattern.match(path) and method.lower() in spec()["paths"][template]:
            found: dict[str, Any] = spec()["paths"][template][method.lower()]
            return found
    raise AssertionError(f"{method} {path} is not in Atlassian's OpenAPI document")


# Answers are checked for types and required properties only: the document's own examples carry properties its
# schemas do not list (serverInfo's defaultLocale), so "additionalProperties: false" is not reliable there.
Lenient = jsonschema.validators.create(
    meta_schema=jsonschema.Draft4Validator.META_SCHEMA,
    validators={k: v for k, v in jsonschema.Draft4Validator.VALIDATORS.items() if k != "additionalProperties"},
)


def check(schema: dict[str, Any], value: Any, what: str, *, strict: bool = True) -> None:
    root = {**schema, "components": spec()["components"]}
    validator = jsonschema.Draft4Validator(root) if strict else Lenient(root)
    errors = sorted(validator.iter_errors(value), key=lambda e: list(e.path))
    assert not errors, f"{what}: " + "; ".join(f"{list(e.path)}: {e.message}" for e in errors[:5])


@dataclass
class Recording(httpx.BaseTransport):
    """A real transport that keeps (method, path, request body, status, answer body) of every call."""

    inner: httpx.HTTPTransport = field(default_factory=httpx.HTTPTransport)
    calls: list[tuple[str, str, bytes, int, bytes]] = field(default_factory=list)

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        response = self.inner.handle_request(request)
        content = response.read()
        self.calls.append((request.method, request.url.path, request.content, response.status_code, content))
        return response

    def close(self) -> None:
        self.inner.close()


@pytest.fixture
def recorded(fake_jira_cloud: FakeJira) -> Iterator[tuple[JiraTracker, Recording]]:
    transport = Recording()
    policy = RetryPolicy(max_retries=0, sleep=Sleeps(), rng=random.Random(1))
    tracker = build_issue_tracker(jira_settings(fake_jira_cloud), policy=policy, transport=transport)
    assert isinstance(tracker, JiraTracker)
    yield tracker, transport
    tracker.close()


def test_cloud_calls_and_fake_answers_follow_the_openapi_document(recorded: tuple[JiraTracker, Recording]) -> None:
    tracker, transport = recorded
    assert tracker.check(project_key="OPS").ok
    body = "## Finding\n\n| a | b |\n|---|---|\n| 1 | 2 |\n\n```python\nx = 1\n```\n\n1. one\n2. *two*"
    one = tracker.create(draft=TicketDraft(project_key="OPS", summary="One", description=body, fingerprint="ab" * 8))
    tracker.create_many(
        drafts=[TicketDraft(project_key="OPS", summary=f"Bulk {n}", description="- x", labels=("a",)) for n in (1, 2)]
    )
    two = tracker.search(jql="project = OPS ORDER BY created DESC", limit=10)[0]
    tracker.find_by_label(project_key="OPS", label="ts-fp-" + "ab" * 8)
    tracker.comment(key=one.key, body="Seen again: `x = 1` in [a.py](https://example.com/a.py)")
    tracker.comments(key=one.key)
    tracker.transition(key=one.key, status="In Progress")
    tracker.link(from_key=one.key, to_key=two.key, link_type="Blocks")
    tracker.set_labels(key=one.key, labels=["fixed"])

    assert len(transport.calls) > 15
    for method, path, sent, status, answer in transport.calls:
        op = operation(method, path)
        if sent:
            schema = op["requestBody"]["content"]["application/json"]["schema"]
            check(schema, json.loads(sent), f"request {method} {path}")
        documented = op["responses"].get(str(status), {}).get("content", {}).get("application/json", {})
        assert 200 <= status < 300, (method, path, status)
        if answer and "schema" in documented:
            check(documented["schema"], json.loads(answer), f"answer to {method} {path}", strict=False)


def test_the_checks_do_refuse_bad_shapes() -> None:
    create = operation("POST", "/rest/api/3/issue")
    with pytest.raises(AssertionError, match="fields"):
        check(create["requestBody"]["content"]["application/json"]["schema"], {"fields": "nope"}, "request")
    answer = create["responses"]["201"]["content"]["application/json"]["schema"]
    with pytest.raises(AssertionError, match="id"):
        check(answer, {"id": 10000, "key": "ED-24"}, "answer", strict=False)  # id is a string in Jira
    with pytest.raises(AssertionError, match="not in Atlassian"):
        operation("GET", "/rest/api/3/nothing/here")
