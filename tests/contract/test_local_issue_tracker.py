"""The local dry-run ticket store: in memory, on SQLite and on PostgreSQL it behaves like a small Jira."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine

from service.adapters.tickets.local import LocalIssueTracker, in_memory_local_tracker
from service.domain.tickets import StatusCategory, TicketDraft
from service.errors import InvalidInput, NotFound

FP = "00c0ffee00c0ffee"


@pytest.fixture
def tracker(database: Engine | None) -> LocalIssueTracker:
    return in_memory_local_tracker() if database is None else LocalIssueTracker(database)


def draft(summary: str = "Unused import in a.py", **changes: object) -> TicketDraft:
    values: dict[str, object] = {
        "project_key": "LOCAL",
        "summary": summary,
        "description": "## Finding\n\n`import os` is unused.",
        "labels": ("quality",),
        "fingerprint": FP,
    }
    values.update(changes)
    return TicketDraft(**values)  # type: ignore[arg-type]


def test_create_get_and_keys(tracker: LocalIssueTracker) -> None:
    assert (tracker.name, tracker.sends) == ("local", False)
    first = tracker.create(draft=draft())
    second = tracker.create(draft=draft("Second", project_key="OPS", fingerprint=None, issue_type="bug"))
    assert first.key == "LOCAL-1"
    assert second.key.startswith("OPS-")
    assert first.labels == ("quality", f"ts-fp-{FP}")
    assert (first.status, first.status_category, first.issue_type) == ("To Do", StatusCategory.NEW, "Task")
    assert second.issue_type == "Bug"
    assert tracker.get(key="local-1") == first
    assert first.created is not None
    assert first.created.tzinfo is not None
    for missing in ("LOCAL-99", "OPS-1" if second.key != "OPS-1" else "LOCAL-2", "nonsense"):
        with pytest.raises(NotFound):
            tracker.get(key=missing)


@pytest.mark.parametrize(
    ("changes", "names"),
    [
        ({"summary": "x" * 256}, "summary"),
        ({"summary": "  "}, "summary"),
        ({"summary": "two\nlines"}, "summary"),
        ({"description": "x" * 32_768}, "description"),
        ({"labels": ("has space",)}, "label"),
        ({"issue_type": "Saga"}, "issuetype"),
        ({"project_key": "lower"}, "project"),
    ],
)
def test_refuses_what_jira_refuses(tracker: LocalIssueTracker, changes: dict[str, object], names: str) -> None:
    with pytest.raises(InvalidInput) as raised:
        tracker.create(draft=draft(**changes))  # type: ignore[arg-type]
    assert names in raised.value.message
    assert tracker.search(jql="") == []


def test_create_many_reports_each_draft(tracker: LocalIssueTracker) -> None:
    results = tracker.create_many(drafts=[draft("a"), draft("b", labels=("bad label",)), draft("c")])
    assert [type(r).__name__ for r in results] == ["Ticket", "InvalidInput", "Ticket"]


def test_jql_subset(tracker: LocalIssueTracker) -> None:
    a = tracker.create(draft=draft("Alpha bug", issue_type="Bug"))
    b = tracker.create(draft=draft("Beta", labels=("ts-suggest",), fingerprint=None))
    c = tracker.create(draft=draft("Gamma", project_key="OPS", fingerprint=None, labels=()))
    tracker.transition(key=b.key, status="done")

    def keys(jql: str) -> list[str]:
        return [t.key for t in tracker.search(jql=jql)]

    assert keys("project = LOCAL ORDER BY key ASC") == [a.key, b.key]
    assert keys("project in (LOCAL, ops) order by created desc") == [c.key, b.key, a.key]
    assert keys(f'labels = "ts-fp-{FP}"') == [a.key]
    assert keys("labels in (ts-suggest, nothing) AND statusCategory = Done") == [b.key]
    assert keys('status != "Done" AND (issuetype = Bug OR project = OPS) ORDER BY key') == [a.key, c.key]
    assert keys('summary ~ "alp" or text ~ gamma order by key') == [a.key, c.key]
    assert keys("labels is empty") == [c.key]
    assert keys("not project = LOCAL") == [c.key]
    assert keys(f"key not in ({a.key}, {c.key})") == [b.key]
    assert len(tracker.search(jql="order by key", limit=2)) == 2
    for bad in ("projekt = X", "project ==", "project = X order key", "(project = X", 'summary ~ "open'):
        with pytest.raises(InvalidInput):
            tracker.search(jql=bad)


def test_find_by_label_is_per_project(tracker: LocalIssueTracker) -> None:
    mine = tracker.create(draft=draft())
    tracker.create(draft=draft(project_key="OPS"))
    assert [t.key for t in tracker.find_by_label(project_key="LOCAL", label=f"ts-fp-{FP}")] == [mine.key]
    assert tracker.find_by_label(project_key="LOCAL", label="absent") == []
    odd = tracker.create(draft=draft(labels=("50%_done", "été", 'say-"hi"'), fingerprint=None))
    for name in ("50%_done", "été", 'say-"hi"'):
        assert [t.key for t in tracker.find_by_label(project_key="LOCAL", label=name)] == [odd.key]
    assert tracker.find_by_label(project_key="LOCAL", label="50%") == [], "a label matches whole, not as a pattern"


def test_comments_transitions_links_and_labels(tracker: LocalIssueTracker) -> None:
    ticket = tracker.create(draft=draft())
    other = tracker.create(draft=draft("Other", fingerprint=None))
    first = tracker.comment(key=ticket.key, body="**seen** again")
    tracker.comment(key=ticket.key, body="and again")
    assert [c.body for c in tracker.comments(key=ticket.key)] == ["**seen** again", "and again"]
    assert tracker.comments(key=ticket.key)[0].id == first.id
    with pytest.raises(InvalidInput):
        tracker.comment(key=ticket.key, body="   ")
    with pytest.raises(NotFound):
        tracker.comment(key="LOCAL-404", body="x")

    moved = tracker.transition(key=ticket.key, status="in progress")
    assert (moved.status, moved.status_category) == ("In Progress", StatusCategory.IN_PROGRESS)
    assert tracker.transition(key=ticket.key, status="In Progress") == tracker.get(key=ticket.key)
    done = tracker.transition(key=ticket.key, status="DONE")
    assert done.status_category is StatusCategory.DONE
    with pytest.raises(InvalidInput) as raised:
        tracker.transition(key=ticket.key, status="Blocked")
    assert "To Do" in (raised.value.hint or "")

    tracker.link(from_key=other.key, to_key=ticket.key)
    tracker.link(from_key=other.key, to_key=ticket.key, link_type="relates")
    assert tracker.links(key=ticket.key) == [(other.key, "Relates", ticket.key)]
    with pytest.raises(InvalidInput):
        tracker.link(from_key=other.key, to_key=ticket.key, link_type="Causes-ish")
    with pytest.raises(NotFound):
        tracker.link(from_key=other.key, to_key="LOCAL-404")

    relabelled = tracker.set_labels(key=ticket.key, labels=["a", "b", "a"])
    assert relabelled.labels == ("a", "b")
    assert tracker.set_labels(key=ticket.key, labels=["a", "b"]).labels == ("a", "b")
    with pytest.raises(InvalidInput):
        tracker.set_labels(key=ticket.key, labels=["no spaces please"])


def test_check_says_nothing_is_sent(tracker: LocalIssueTracker) -> None:
    report = tracker.check(project_key="LOCAL")
    assert report.ok
    assert report.tracker == "local"
    assert report.url is None
    assert "nothing is sent" in (report.account or "")
    assert "Bug" in report.issue_types
