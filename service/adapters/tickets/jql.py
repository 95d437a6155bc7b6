"""The subset of JQL the local ticket store understands, evaluated over tickets in memory.

Supported (https://support.atlassian.com/jira-software-cloud/docs/jql-fields/ for the field names): clauses
``field = v``, ``!=``, ``~`` (contains, case-insensitive), ``!~``, ``in (a, b)``, ``not in (...)``,
``is [not] empty``, joined with ``and``/``or``/``not`` and parentheses, then ``order by f [asc|desc], ...``.
Fields: project, key (issuekey), labels, status, statusCategory, issuetype (type), priority, summary,
description, text (summary or description), created, updated. Keywords are case-insensitive; so are values,
as in Jira. Anything else is :class:`InvalidInput` naming what was not understood, the way Jira answers 400.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from service.domain.tickets import StatusCategory, Ticket
from service.errors import InvalidInput

Predicate = Callable[[Ticket], bool]
MAX_NESTING = 50

_TOKEN = re.compile(
    r"""\s*(?:(?P<str>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*')|(?P<op>!=|!~|=|~|\(|\)|,)|(?P<word>[^\s=!~(),"']+))"""
)
_CATEGORY_NAMES = {
    "to do": StatusCategory.NEW,
    "new": StatusCategory.NEW,
    "in progress": StatusCategory.IN_PROGRESS,
    "indeterminate": StatusCategory.IN_PROGRESS,
    "done": StatusCategory.DONE,
}
_ALIASES = {"issuekey": "key", "type": "issuetype", "statuscategory": "statuscategory"}
_FIELDS = {
    "project",
    "key",
    "labels",
    "status",
    "statuscategory",
    "issuetype",
    "priority",
    "summary",
    "description",
    "text",
}
_ORDER_FIELDS = {"key", "created", "updated", "summary", "status", "priority", "issuetype", "project"}


@dataclass(frozen=True)
class _Tok:
    kind: str  # "str", "op" or "word"
    text: str

    def is_word(self, *words: str) -> bool:
        return self.kind == "word" and self.text.lower() in words


def _tokens(jql: str) -> list[_Tok]:
    tokens: list[_Tok] = []
    at = 0
    while at < len(jql):
        if jql[at:].strip() == "":
            break
        match = _TOKEN.match(jql, at)
        if match is None or match.end() == at:
            raise InvalidInput(f"JQL not understood at {jql[at : at + 20]!r}", hint="check the quotes and operators")
        kind = match.lastgroup or "word"
        text = match.group(kind)
        if kind == "str":
            text = re.sub(r"\\(.)", r"\1", text[1:-1])
        tokens.append(_Tok(kind, text))
        at = match.end()
    return tokens


def _values(ticket: Ticket, field: str) -> list[str]:
    """The ticket's values for ``field``, lower-cased (labels are many; an unset priority is none)."""
    single: dict[str, str] = {
        "project": ticket.project_key,
        "key": ticket.key,
        "status": ticket.status,
        "issuetype": ticket.issue_type,
        "summary": ticket.summary,
        "description": ticket.description,
    }
    if field == "labels":
        return [label.lower() for label in ticket.labels]
    if field == "statuscategory":
        return [ticket.status_category.value]
    if field == "text":
        return [ticket.summary.lower(), ticket.description.lower()]
    if field == "priority":
        return []
    return [single[field].lower()] if single[field] else []


def _normal(field: str, value: str) -> str:
    if field == "statuscategory":
        category = _CATEGORY_NAMES.get(value.lower())
        if category is None:
            raise InvalidInput(f"the value {value!r} does not exist for the field 'statusCategory'")
        return category.value
    return value.lower()


class _Parser:
    def __init__(self, jql: str) -> None:
        self._tokens = _tokens(jql)
        self._at = 0
        self._depth = 0

    def _peek(self) -> _Tok | None:
        return self._tokens[self._at] if self._at < len(self._tokens) else None

    def _next(self, what: str) -> _Tok:
        token = self._peek()
        if token is None:
            raise InvalidInput(f"JQL ends where {what} was expected")
        self._at += 1
        return token

    def _expect_op(self, op: str) -> None:
        token = self._next(f"{op!r}")
        if token.kind != "op" or token.text != op:
            raise InvalidInput(f"expected {op!r} in JQL, found {token.text!r}")

    def parse(self) -> tuple[Predicate, list[tuple[str, bool]]]:
        predicate: Predicate = lambda _ticket: True  # noqa: E731 - an empty query matches everything
        token = self._peek()
        if token is not None and not token.is_word("order"):
            predicate = self._or()
        order: list[tuple[str, bool]] = []
        token = self._peek()
        if token is not None:
            if not token.is_word("order"):
                raise InvalidInput(f"unexpected {token.text!r} in JQL")
            self._at += 1
            if not self._next("'by'").is_word("by"):
                raise InvalidInput("expected 'order by' in JQL")
            order = self._order()
        return predicate, order

    def _order(self) -> list[tuple[str, bool]]:
        order: list[tuple[str, bool]] = []
        while True:
            field = self._field(self._next("a field to order by"), _ORDER_FIELDS)
            descending = False
            token = self._peek()
            if token is not None and token.is_word("asc", "desc"):
                descending = token.text.lower() == "desc"
                self._at += 1
            order.append((field, descending))
            token = self._peek()
            if token is None:
                return order
            self._expect_op(",")

    def _or(self) -> Predicate:
        parts = [self._and()]
        while (token := self._peek()) is not None and token.is_word("or"):
            self._at += 1
            parts.append(self._and())
        return parts[0] if len(parts) == 1 else lambda t: any(p(t) for p in parts)

    def _and(self) -> Predicate:
        parts = [self._not()]
        while (token := self._peek()) is not None and token.is_word("and"):
            self._at += 1
            parts.append(self._not())
        return parts[0] if len(parts) == 1 else lambda t: all(p(t) for p in parts)

    def _not(self) -> Predicate:
        # Each nested ( or not recurses; deep nesting is refused before Python's recursion limit is reached.
        self._depth += 1
        try:
            if self._depth > MAX_NESTING:
                raise InvalidInput(
                    f"the JQL nests parentheses or 'not' more than {MAX_NESTING} deep", hint="simplify the query"
                )
            return self._not_inner()
        finally:
            self._depth -= 1

    def _not_inner(self) -> Predicate:
        token = self._peek()
        if token is not None and token.is_word("not"):
            self._at += 1
            inner = self._not()
            return lambda t: not inner(t)
        if token is not None and token.kind == "op" and token.text == "(":
            self._at += 1
            inner = self._or()
            self._expect_op(")")
            return inner
        return self._clause()

    @staticmethod
    def _field(token: _Tok, allowed: set[str]) -> str:
        name = _ALIASES.get(token.text.lower(), token.text.lower())
        if token.kind == "op" or name not in allowed:
            raise InvalidInput(
                f"field {token.text!r} does not exist or is not supported here",
                hint=f"use one of: {', '.join(sorted(allowed))}",
            )
        return name

    def _value(self) -> str:
        token = self._next("a value")
        if token.kind == "op":
            raise InvalidInput(f"expected a value in JQL, found {token.text!r}")
        return token.text

    def _clause(self) -> Predicate:
        field = self._field(self._next("a field"), _FIELDS)
        token = self._next("an operator")
        if token.is_word("is"):
            negate = (nxt := self._next("'empty'")).is_word("not")
            if negate:
                nxt = self._next("'empty'")
            if not nxt.is_word("empty", "null"):
                raise InvalidInput("expected 'is empty' or 'is not empty' in JQL")
            return lambda t: bool(_values(t, field)) == negate
        if token.is_word("in") or token.is_word("not"):
            negate = token.is_word("not")
            if negate and not self._next("'in'").is_word("in"):
                raise InvalidInput("expected 'not in' in JQL")
            self._expect_op("(")
            wanted = {_normal(field, self._value())}
            while (sep := self._next("',' or ')'")).text == ",":
                wanted.add(_normal(field, self._value()))
            if sep.text != ")":
                raise InvalidInput(f"expected ')' in JQL, found {sep.text!r}")
            return lambda t: bool(wanted & set(_values(t, field))) != negate
        if token.kind != "op" or token.text not in ("=", "!=", "~", "!~"):
            raise InvalidInput(f"operator {token.text!r} is not supported", hint="use =, !=, ~, !~, in, not in, is")
        value = _normal(field, self._value())
        if token.text in ("~", "!~"):
            contains = token.text == "~"
            return lambda t: any(value in v for v in _values(t, field)) == contains
        equal = token.text == "="
        return lambda t: (value in _values(t, field)) == equal


def _sort_key(ticket: Ticket, field: str) -> Any:
    if field in ("key", "created"):
        return (ticket.project_key, int(ticket.id))
    if field == "updated":
        return ticket.updated or ticket.created
    return str(getattr(ticket, {"issuetype": "issue_type", "project": "project_key"}.get(field, field)) or "")


def compile_jql(jql: str) -> Callable[[list[Ticket]], list[Ticket]]:
    """A function that filters and orders tickets as ``jql`` asks (default order: newest first, as Jira)."""
    predicate, order = _Parser(jql).parse()

    def run(tickets: list[Ticket]) -> list[Ticket]:
        found = [t for t in tickets if predicate(t)]
        for field, descending in reversed(order or [("created", True)]):
            found.sort(key=lambda t: _sort_key(t, field), reverse=descending)
        return found

    return run
