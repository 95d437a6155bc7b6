"""The state behind the fake Jira: projects, issues, comments, links, a small workflow and a JQL subset.

Representations follow Atlassian's Cloud v3 OpenAPI document (``tests/fixtures/jira/jira-cloud-platform-openapi-
v3.json``: ``IssueBean``, ``Comment``, ``Transitions``, ``IssueTypeIssueCreateMetadata``) and, for v2 on
Server/Data Center, the same beans with wiki-text bodies and ``values`` pages in createmeta (DC 8.4+
``/issue/createmeta/{project}/issuetypes``, as the ``jira`` library reads them: ``project_issue_types``).
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

STATUSES: dict[str, tuple[str, str, int]] = {
    # name -> (status id, statusCategory key, statusCategory id); keys as Jira reports them.
    "To Do": ("10000", "new", 2),
    "In Progress": ("3", "indeterminate", 4),
    "Done": ("10001", "done", 3),
}
CATEGORY_NAMES = {"new": "To Do", "indeterminate": "In Progress", "done": "Done"}
# (transition name, from status, to status); ids are project-specific (see FakeProject.transition_base).
WORKFLOW = (
    ("Start progress", "To Do", "In Progress"),
    ("Done", "In Progress", "Done"),
    ("Stop progress", "In Progress", "To Do"),
    ("Close", "To Do", "Done"),
    ("Reopen", "Done", "To Do"),
)
LINK_TYPES = (
    ("10000", "Blocks", "is blocked by", "blocks"),
    ("10001", "Cloners", "is cloned by", "clones"),
    ("10002", "Duplicate", "is duplicated by", "duplicates"),
    ("10003", "Relates", "relates to", "relates to"),
)
EPOCH = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)


class JiraFault(Exception):
    """A Jira error answer: HTTP status and the ``{"errorMessages": [...], "errors": {...}}`` body."""

    def __init__(self, status: int, messages: list[str] | None = None, errors: dict[str, str] | None = None) -> None:
        super().__init__(status, messages, errors)
        self.status = status
        self.body: dict[str, Any] = {"errorMessages": messages or [], "errors": errors or {}}


@dataclass
class FieldMeta:
    """One create field of an issue type (``FieldCreateMetadata`` in the OpenAPI document)."""

    field_id: str
    name: str
    required: bool
    has_default: bool = False
    schema: dict[str, Any] = field(default_factory=lambda: {"type": "string", "system": "summary"})
    allowed: list[str] | None = None

    def to_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "fieldId": self.field_id,
            "key": self.field_id,
            "name": self.name,
            "required": self.required,
            "hasDefaultValue": self.has_default,
            "operations": ["set"],
            "schema": self.schema,
        }
        if self.allowed is not None:
            body["allowedValues"] = [{"id": str(20000 + i), "value": v} for i, v in enumerate(self.allowed)]
        return body


def standard_fields() -> list[FieldMeta]:
    return [
        FieldMeta("summary", "Summary", True),
        FieldMeta("issuetype", "Issue Type", True, schema={"type": "issuetype", "system": "issuetype"}),
        FieldMeta("project", "Project", True, schema={"type": "project", "system": "project"}),
        FieldMeta("reporter", "Reporter", True, has_default=True, schema={"type": "user", "system": "reporter"}),
        FieldMeta("description", "Description", False, schema={"type": "string", "system": "description"}),
        FieldMeta("labels", "Labels", False, schema={"type": "array", "items": "string", "system": "labels"}),
        FieldMeta("priority", "Priority", False, has_default=True, schema={"type": "priority", "system": "priority"}),
    ]


@dataclass
class FakeProject:
    key: str
    id: str
    name: str
    issue_types: dict[str, str]  # name -> id
    transition_base: int
    extra_fields: dict[str, list[FieldMeta]] = field(default_factory=dict)  # issue type name -> extra fields

    def fields_for(self, issue_type: str) -> list[FieldMeta]:
        return standard_fields() + self.extra_fields.get(issue_type, [])

    def transitions(self) -> list[tuple[str, str, str, str]]:
        """(id, name, from, to), with ids offset per project like real workflows."""
        return [(str(self.transition_base + 10 * i), n, f, t) for i, (n, f, t) in enumerate(WORKFLOW)]


@dataclass
class FakeIssue:
    id: int
    key: str
    project: FakeProject
    issue_type: str
    summary: str
    description: Any
    labels: list[str]
    status: str
    created: datetime
    updated: datetime
    extra: dict[str, Any] = field(default_factory=dict)
    comments: list[dict[str, Any]] = field(default_factory=list)


def jira_time(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.000+0000")


def adf_text(node: Any) -> str:
    """Plain text of an ADF node (paragraph breaks as newlines), for v2 reads of v3-written bodies."""
    if isinstance(node, str):
        return node
    if not isinstance(node, dict):
        return ""
    if node.get("type") == "text":
        return str(node.get("text", ""))
    parts = [adf_text(child) for child in node.get("content", [])]
    return ("\n" if node.get("type") == "doc" else "").join(parts)


def is_adf(doc: Any) -> bool:
    """ADF-shaped: a ``doc`` of version 1 whose nodes all have a type, text nodes non-empty text."""

    def node_ok(node: Any) -> bool:
        if not isinstance(node, dict) or not isinstance(node.get("type"), str):
            return False
        if node["type"] == "text":
            return isinstance(node.get("text"), str) and bool(node["text"])
        content = node.get("content", [])
        return isinstance(content, list) and all(node_ok(child) for child in content)

    return (
        isinstance(doc, dict)
        and doc.get("type") == "doc"
        and doc.get("version") == 1
        and isinstance(doc.get("content"), list)
        and all(node_ok(child) for child in doc["content"])
    )


# --- JQL subset ------------------------------------------------------------------------------------------

_TOKEN = re.compile(r'\s*(?:(?P<str>"(?:[^"\\]|\\.)*")|(?P<op>!=|=|\(|\)|,)|(?P<word>[^\s=!(),"]+))')
JQL_FIELDS = {"project", "labels", "statuscategory", "status", "key", "issuekey", "issuetype", "type"}
ORDER_FIELDS = {"created", "key", "updated"}


def _tokens(jql: str) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    pos = 0
    while pos < len(jql.rstrip()):
        match = _TOKEN.match(jql, pos)
        if not match or match.end() == pos:
            raise JiraFault(400, [f"Error in the JQL Query: unexpected character at position {pos}."])
        pos = match.end()
        kind = match.lastgroup or "word"
        value = match.group(kind)
        out.append((kind, value[1:-1].replace('\\"', '"') if kind == "str" else value))
    return out


@dataclass
class Jql:
    clauses: list[tuple[str, str, list[str]]]  # (field, op in {=, !=, in, not in}, values)
    order: list[tuple[str, bool]]  # (field, descending)


def parse_jql(jql: str) -> Jql:
    """Parse the supported subset; anything else is a 400 like Jira's JQL errors."""
    tokens = _tokens(jql)
    clauses: list[tuple[str, str, list[str]]] = []
    order: list[tuple[str, bool]] = []
    i = 0

    def word(at: int) -> str:
        return tokens[at][1].lower() if at < len(tokens) and tokens[at][0] == "word" else ""

    while i < len(tokens):
        if word(i) == "order" and word(i + 1) == "by":
            i += 2
            while i < len(tokens):
                name = tokens[i][1].lower()
                if name not in ORDER_FIELDS:
                    raise JiraFault(400, [f"Not able to sort using field '{tokens[i][1]}'."])
                desc = word(i + 1) == "desc"
                i += 2 if word(i + 1) in {"asc", "desc"} else 1
                order.append((name, desc))
                if i < len(tokens) and tokens[i][1] == ",":
                    i += 1
            break
        if clauses:
            if word(i) != "and":
                raise JiraFault(400, [f"Error in the JQL Query: expecting 'AND' but got '{tokens[i][1]}'."])
            i += 1
        name = tokens[i][1].lower() if i < len(tokens) else ""
        if name not in JQL_FIELDS:
            raise JiraFault(400, [f"Field '{name}' does not exist or you do not have permission to view it."])
        i += 1
        if word(i) == "not" and word(i + 1) == "in":
            op, i = "not in", i + 2
        elif word(i) == "in":
            op, i = "in", i + 1
        elif i < len(tokens) and tokens[i][1] in {"=", "!="}:
            op, i = tokens[i][1], i + 1
        else:
            raise JiraFault(400, [f"Error in the JQL Query: expecting an operator after '{name}'."])
        values: list[str] = []
        if op in {"in", "not in"}:
            if i >= len(tokens) or tokens[i][1] != "(":
                raise JiraFault(400, ["Error in the JQL Query: expecting '(' after IN."])
            i += 1
            while i < len(tokens) and tokens[i][1] != ")":
                if tokens[i][1] != ",":
                    values.append(tokens[i][1])
                i += 1
            i += 1
        else:
            if i >= len(tokens):
                raise JiraFault(400, [f"Error in the JQL Query: expecting a value after '{name}'."])
            values.append(tokens[i][1])
            i += 1
        clauses.append((name, op, values))
    return Jql(clauses, order)


def _matches(issue: FakeIssue, name: str, op: str, values: list[str]) -> bool:
    wanted = {v.lower() for v in values}
    if name == "labels":
        have = {label.lower() for label in issue.labels}
    elif name == "project":
        have = {issue.project.key.lower(), issue.project.id}
    elif name == "statuscategory":
        category = STATUSES[issue.status][1]
        have = {category, CATEGORY_NAMES[category].lower(), str(STATUSES[issue.status][2])}
    elif name == "status":
        have = {issue.status.lower(), STATUSES[issue.status][0]}
    elif name in {"key", "issuekey"}:
        have = {issue.key.lower(), str(issue.id)}
    else:  # issuetype / type
        have = {issue.issue_type.lower()}
    hit = bool(have & wanted)
    return hit if op in {"=", "in"} else not hit


class IssueStore:
    """Projects and issues; every method is called under the server's lock."""

    def __init__(self, projects: list[FakeProject], *, account: dict[str, Any]) -> None:
        self.projects = {p.key: p for p in projects}
        self.issues: dict[str, FakeIssue] = {}
        self.links: list[tuple[str, str, str, str]] = []  # (id, type name, inward key, outward key)
        self.account = account
        self._ids = itertools.count(10001)
        self._numbers: dict[str, itertools.count[int]] = {p.key: itertools.count(1) for p in projects}
        self._clock = itertools.count(0)

    def now(self) -> datetime:
        return EPOCH + timedelta(seconds=next(self._clock))

    def project(self, key_or_id: str) -> FakeProject:
        for project in self.projects.values():
            if key_or_id in {project.key, project.id}:
                return project
        raise JiraFault(404, [f"No project could be found with key '{key_or_id}'."])

    def issue(self, key_or_id: str) -> FakeIssue:
        for issue in self.issues.values():
            if key_or_id in {issue.key, str(issue.id)}:
                return issue
        raise JiraFault(404, ["Issue does not exist or you do not have permission to see it."])

    def add_issue(self, project: FakeProject, issue_type: str, fields: dict[str, Any]) -> FakeIssue:
        moment = self.now()
        number = next(self._numbers[project.key])
        known = {"project", "issuetype", "summary", "description", "labels", "priority", "reporter"}
        issue = FakeIssue(
            id=next(self._ids),
            key=f"{project.key}-{number}",
            project=project,
            issue_type=issue_type,
            summary=str(fields["summary"]),
            description=fields.get("description"),
            labels=list(fields.get("labels") or []),
            status="To Do",
            created=moment,
            updated=moment,
            extra={k: v for k, v in fields.items() if k not in known},
        )
        self.issues[issue.key] = issue
        return issue

    def search(self, jql: str, *, bounded: bool) -> list[FakeIssue]:
        query = parse_jql(jql)
        if bounded and not query.clauses:
            raise JiraFault(400, ["Unbounded JQL queries are not allowed here. Please add a search restriction."])
        for name, _, values in query.clauses:
            if name == "project":
                for value in values:
                    if not any(value.lower() in {p.key.lower(), p.id} for p in self.projects.values()):
                        raise JiraFault(400, [f"The value '{value}' does not exist for the field 'project'."])
        found = [i for i in self.issues.values() if all(_matches(i, n, o, v) for n, o, v in query.clauses)]
        found.sort(key=lambda i: (i.project.key, i.id))
        for name, desc in reversed(query.order):
            key_of = {"created": lambda i: i.created, "updated": lambda i: i.updated, "key": lambda i: i.id}[name]
            found.sort(key=key_of, reverse=desc)
        return found

    def link_type(self, name: str) -> tuple[str, str, str, str]:
        for link_type in LINK_TYPES:
            if name.lower() in {link_type[1].lower(), link_type[2], link_type[3]}:
                return link_type
        raise JiraFault(404, [f"No issue link type with name '{name}' found."])
