"""Webhook triggers: which Jira events start which workflow, decided by configuration (``TICKETSMITH_TRIGGERS``).

A rule lists event types and conditions; every condition it sets must hold:

- ``labels``: the issue carries one of them. On ``jira:issue_updated`` the label must have been *added* by
  this change (the changelog's ``labels`` item), so unrelated edits of a labelled issue start nothing again.
- ``comment_prefix``: the comment's body starts with it (ignoring case and leading space). Comments arrive as
  ``comment_created`` or as a ``jira:issue_updated`` carrying a ``comment``.
- ``projects`` / ``issue_types``: the issue's project key / issue type name is one of these.

Payload shapes: ../shared reference "Payload shapes (admin webhooks, Cloud)" — ``issue.fields.labels``,
``issue.fields.project.key``, ``issue.fields.issuetype.name``, ``comment.body`` (wiki text), and
``changelog.items[].field/fromString/toString`` with labels space-separated.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from service.settings import TriggerRule


@dataclass(frozen=True, slots=True)
class PlannedRun:
    """A workflow run a rule asks for: the orchestrator starts it (until it exists, it is recorded)."""

    rule: str
    workflow: str
    issue_key: str | None
    project_key: str | None
    parameters: Mapping[str, str] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {
            "rule": self.rule,
            "workflow": self.workflow,
            "issue": self.issue_key,
            "project": self.project_key,
            "parameters": dict(self.parameters),
        }


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _list(value: Any) -> list[Any]:
    """A delivery's list, or [] for anything else: a malformed body plans nothing instead of failing the job."""
    return value if isinstance(value, list) else []


def _text(body: Any) -> str:
    """A comment body as text: wiki strings as they are, ADF documents by their text nodes (read without
    recursion, so however deeply a delivery nests its nodes the job does not fail)."""
    if isinstance(body, str):
        return body
    parts: list[str] = []
    pending: list[Any] = [body]
    while pending:
        node = pending.pop()
        if isinstance(node, str):  # a paragraph's closing newline, queued behind its children
            parts.append(node)
            continue
        if not isinstance(node, dict):
            continue
        text = node.get("text")
        parts.append(text if isinstance(text, str) else "")
        if node.get("type") == "paragraph":
            pending.append("\n")
        pending.extend(reversed([child for child in _list(node.get("content")) if isinstance(child, dict)]))
    return "".join(parts)


@dataclass(frozen=True, slots=True)
class WebhookEvent:
    """What the rules look at, read from a delivery's JSON body."""

    event: str
    issue_key: str | None
    project_key: str | None
    issue_type: str | None
    labels: frozenset[str]
    added_labels: frozenset[str] | None  # None: the change did not touch labels (or there is no changelog)
    comment: str | None

    @classmethod
    def of(cls, body: Mapping[str, Any]) -> WebhookEvent:
        issue = _dict(body.get("issue"))
        fields = _dict(issue.get("fields"))
        key = issue.get("key") if isinstance(issue.get("key"), str) else None
        project = _dict(fields.get("project")).get("key")
        if not isinstance(project, str) and key and "-" in key:
            project = key.rsplit("-", 1)[0]
        issue_type = _dict(fields.get("issuetype")).get("name")
        labels = frozenset(x for x in _list(fields.get("labels")) if isinstance(x, str))
        added: frozenset[str] | None = None
        for item in _list(_dict(body.get("changelog")).get("items")):
            item = _dict(item)
            if str(item.get("field", "")).lower() == "labels":
                before = set(str(item.get("fromString") or "").split())
                after = set(str(item.get("toString") or "").split())
                added = frozenset(after - before) | (added or frozenset())
                labels |= after
        comment = _dict(body.get("comment"))
        return cls(
            event=str(body.get("webhookEvent") or ""),
            issue_key=key,
            project_key=project if isinstance(project, str) else None,
            issue_type=issue_type if isinstance(issue_type, str) else None,
            labels=labels,
            added_labels=added,
            comment=_text(comment.get("body")) if comment else None,
        )


def _matches(rule: TriggerRule, event: WebhookEvent) -> str | None:
    """None when ``rule`` does not fire; else the text after the comment prefix ('' without one)."""
    if event.event not in rule.events:
        return None
    conditions = rule.conditions
    if conditions.projects and (event.project_key or "").upper() not in {p.upper() for p in conditions.projects}:
        return None
    if conditions.issue_types and (event.issue_type or "").lower() not in {t.lower() for t in conditions.issue_types}:
        return None
    if conditions.labels:
        wanted = set(conditions.labels)
        present = event.added_labels if event.event == "jira:issue_updated" else event.labels
        if not present or not wanted & present:
            return None
    if conditions.comment_prefix is not None:
        text = (event.comment or "").lstrip()
        if not text.lower().startswith(conditions.comment_prefix.lower()):
            return None
        return text[len(conditions.comment_prefix) :].strip()
    return ""


def plan_runs(rules: Sequence[TriggerRule], body: Mapping[str, Any]) -> list[PlannedRun]:
    """The runs the rules ask for on this delivery, in rule order (at most one per rule)."""
    event = WebhookEvent.of(body)
    runs: list[PlannedRun] = []
    for rule in rules:
        rest = _matches(rule, event)
        if rest is None:
            continue
        parameters = dict(rule.parameters)
        if rest:
            parameters.setdefault("arguments", rest)
        runs.append(
            PlannedRun(
                rule=rule.name,
                workflow=rule.workflow,
                issue_key=event.issue_key,
                project_key=event.project_key,
                parameters=parameters,
            )
        )
    return runs
