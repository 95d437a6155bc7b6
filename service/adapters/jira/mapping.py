"""Jira payloads to domain objects and back: issues, comments, create fields discovered from createmeta.

Issue shape: ``IssueBean`` (``id``, ``key``, ``fields.{summary,description,labels,issuetype,project,status,
created,updated}``), status category keys ``new``/``indeterminate``/``done`` (OpenAPI v3 ``StatusCategory``).
Createmeta: ``FieldCreateMetadata`` (``fieldId``, ``name``, ``required``, ``hasDefaultValue``, ``schema``,
``allowedValues``) from ``/issue/createmeta/{project}/issuetypes/{id}`` (Cloud v3 and DC 8.4+ v2).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from service.domain.tickets import Comment, StatusCategory, Ticket, TicketDraft
from service.errors import InvalidInput
from service.tickets.limits import cut_body, cut_summary, fingerprint_label, label

# Fields every draft fills itself, or that Jira fills (reporter), so they are never "missing" from a draft.
FILLED_BY_US = frozenset({"project", "issuetype", "summary", "description", "labels", "priority", "reporter"})
EPIC_LINK_CUSTOM = "com.pyxis.greenhopper.jira:gh-epic-link"  # Data Center's Epic Link custom field type
BodyToText = Callable[[Any], str]


def adf_to_text(node: Any) -> str:
    """Plain text of an ADF document: blocks on their own lines, hard breaks as newlines."""
    if isinstance(node, str):
        return node
    if not isinstance(node, Mapping):
        return ""
    kind = node.get("type")
    if kind == "text":
        return str(node.get("text", ""))
    if kind == "hardBreak":
        return "\n"
    children = [adf_to_text(child) for child in node.get("content") or []]
    if kind in {"doc", "bulletList", "orderedList", "table", "tableRow", "listItem", "blockquote"}:
        return "\n".join(c for c in children if c)
    return "".join(children)


def wiki_to_text(body: Any) -> str:
    return body if isinstance(body, str) else ""


def parse_time(value: Any) -> datetime | None:
    """Jira's ``2026-01-05T09:00:00.000+0000`` timestamps."""
    if not isinstance(value, str) or not value:
        return None
    for pattern in ("%Y-%m-%dT%H:%M:%S.%f%z", "%Y-%m-%dT%H:%M:%S%z"):
        try:
            return datetime.strptime(value, pattern)
        except ValueError:
            continue
    return None


def category(raw: Any) -> StatusCategory:
    key = (raw or {}).get("statusCategory", {}).get("key") if isinstance(raw, Mapping) else None
    try:
        return StatusCategory(str(key))
    except ValueError:
        return StatusCategory.NEW  # "undefined" (id 1) is Jira's category for no category


def ticket_from_issue(raw: Mapping[str, Any], *, site: str, text_of: BodyToText) -> Ticket:
    """A :class:`Ticket` from an issue bean fetched with (at least) :data:`TICKET_FIELDS`."""
    fields = raw.get("fields") or {}
    status = fields.get("status") or {}
    return Ticket(
        key=str(raw["key"]),
        id=str(raw["id"]),
        url=f"{site}/browse/{raw['key']}",
        project_key=str((fields.get("project") or {}).get("key") or str(raw["key"]).rsplit("-", 1)[0]),
        summary=str(fields.get("summary") or ""),
        description=text_of(fields.get("description")),
        issue_type=str((fields.get("issuetype") or {}).get("name") or ""),
        status=str(status.get("name") or ""),
        status_category=category(status),
        labels=tuple(str(x) for x in fields.get("labels") or ()),
        created=parse_time(fields.get("created")),
        updated=parse_time(fields.get("updated")),
    )


TICKET_FIELDS = ("summary", "description", "labels", "issuetype", "project", "status", "created", "updated")


def comment_from_raw(raw: Mapping[str, Any], *, text_of: BodyToText) -> Comment:
    author = raw.get("author") or {}
    return Comment(
        id=str(raw["id"]),
        body=text_of(raw.get("body")),
        author=str(author.get("displayName") or author.get("name") or author.get("accountId") or ""),
        created=parse_time(raw.get("created")),
    )


@dataclass(frozen=True)
class CreateField:
    """One field of an issue type's create screen."""

    field_id: str
    name: str
    required: bool
    has_default: bool
    schema: Mapping[str, Any]
    allowed: tuple[str, ...]

    @property
    def is_epic_link(self) -> bool:
        return self.schema.get("custom") == EPIC_LINK_CUSTOM or self.field_id == "parent"

    @classmethod
    def from_raw(cls, raw: Mapping[str, Any]) -> CreateField:
        allowed = tuple(
            str(v.get("value") or v.get("name") or v.get("id"))
            for v in raw.get("allowedValues") or ()
            if isinstance(v, Mapping)
        )
        return cls(
            field_id=str(raw.get("fieldId") or raw.get("key") or raw.get("id")),
            name=str(raw.get("name") or ""),
            required=bool(raw.get("required")),
            has_default=bool(raw.get("hasDefaultValue")),
            schema=raw.get("schema") or {},
            allowed=allowed,
        )

    def describe(self) -> str:
        choice = f"; one of: {', '.join(self.allowed)}" if self.allowed else ""
        return f"{self.name} ({self.field_id}{choice})"


def unfillable(fields: Iterable[CreateField]) -> list[CreateField]:
    """Required fields without a default that a draft does not fill by itself."""
    return [f for f in fields if f.required and not f.has_default and f.field_id not in FILLED_BY_US]


def _value_for(meta: CreateField, value: Any) -> Any:
    """Plain strings become the shape the field type takes (option/array of options, epic/parent links)."""
    kind = meta.schema.get("type")
    if meta.field_id == "parent" and isinstance(value, str):
        return {"key": value}
    if kind == "option" and isinstance(value, str):
        return {"value": value}
    if kind == "array" and meta.schema.get("items") == "option" and isinstance(value, list | tuple):
        return [{"value": v} if isinstance(v, str) else v for v in value]
    return value


def draft_fields(
    draft: TicketDraft, *, issue_type_id: str, create_fields: Iterable[CreateField], render: Callable[[str], Any]
) -> dict[str, Any]:
    """The ``fields`` of a create request for ``draft``, or InvalidInput naming what is missing or unknown.

    ``draft.fields`` may name fields by id (``customfield_10050``), by their create-screen name (``Team``), or
    ``epic`` for the epic link (Data Center's Epic Link field or Cloud's ``parent``), found from createmeta.
    """
    metas = list(create_fields)
    labels = [label(x) for x in draft.labels]
    if draft.fingerprint:
        labels.append(fingerprint_label(draft.fingerprint))
    fields: dict[str, Any] = {
        "project": {"key": draft.project_key},
        "issuetype": {"id": issue_type_id},
        "summary": cut_summary(draft.summary),
        "description": render(cut_body(draft.description)),
        "labels": list(dict.fromkeys(labels)),
    }
    if draft.priority:
        fields["priority"] = {"name": draft.priority}
    by_id = {m.field_id: m for m in metas}
    by_name = {m.name.lower(): m for m in metas}
    epic = next((m for m in metas if m.is_epic_link), None)
    for name, value in draft.fields.items():
        meta = by_id.get(name) or by_name.get(name.lower()) or (epic if name.lower() == "epic" else None)
        if meta is None:
            raise InvalidInput(
                f"{draft.project_key} {draft.issue_type}: no create field called {name!r}",
                hint=f"use one of: {', '.join(sorted(m.describe() for m in metas))}",
            )
        fields[meta.field_id] = _value_for(meta, value)
    missing = [m for m in unfillable(metas) if m.field_id not in fields]
    if missing:
        raise InvalidInput(
            f"{draft.project_key} {draft.issue_type} requires {', '.join(m.describe() for m in missing)}",
            hint="pass them in the draft's fields by name or id, or give them a default in Jira's field configuration",
            details={"missing": [m.field_id for m in missing]},
        )
    return fields
