"""The IssueTracker contract, run against every adapter: Jira Cloud (v3) and Jira Data Center (v2, through the
``jira`` library) on the fake Jira over HTTP, and the local dry-run store.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace

import pytest

from service.adapters.tickets.local import in_memory_local_tracker
from service.domain.tickets import StatusCategory, TicketDraft
from service.errors import InvalidInput, NotFound
from service.guardrails.gates import RedactingIssueTracker
from service.ports.issue_tracker import IssueTracker
from tests.fakes.jira_server import FakeJira
from tests.fakes.jira_trackers import tracker_for

FP = "0123456789abcdef"


@pytest.fixture(
    params=[
        "jira-cloud",
        "jira-dc",
        "local",
        "local-redacting",
    ]
)
def tracker(request: pytest.FixtureRequest) -> Iterator[IssueTracker]:
    if request.param == "local":
        yield in_memory_local_tracker(projects=["OPS"])
        return
    if request.param == "local-redacting":  # the redaction gate is transparent to text without secrets
        yield RedactingIssueTracker(in_memory_local_tracker(projects=["OPS"]))
        return
    site: FakeJira = request.getfixturevalue("fake_jira_cloud" if request.param == "jira-cloud" else "fake_jira_dc")
    built = tracker_for(site)
    yield built
    built.close()


def draft(summary: str = "SQL injection in the login form", **overrides: object) -> TicketDraft:
    values: dict[str, object] = {
        "project_key": "OPS",
        "summary": summary,
        "description": "## Finding\n\nRule `S3649` in `app/login.py`:\n\n- first\n- second\n",
        "labels": ("ticketsmith", "security"),
        "fingerprint": FP,
    }
    return TicketDraft(**{**values, **overrides})  # type: ignore[arg-type]


def test_identity(tracker: IssueTracker) -> None:
    assert tracker.name in {"jira-cloud", "jira-dc", "local"}
    assert tracker.sends is (tracker.name != "local")


def test_create_then_get(tracker: IssueTracker) -> None:
    created = tracker.create(draft=draft())
    assert created.key.startswith("OPS-")
    assert created.project_key == "OPS"
    assert created.summary == "SQL injection in the login form"
    assert set(created.labels) == {"ticketsmith", "security", f"ts-fp-{FP}"}
    assert created.status_category is StatusCategory.NEW
    assert created.issue_type == "Task"
    assert "S3649" in created.description
    assert created.key in created.url
    assert tracker.get(key=created.key) == created


def test_unknown_issue_type_names_the_available_ones(tracker: IssueTracker) -> None:
    with pytest.raises(InvalidInput, match="Banana") as refused:
        tracker.create(draft=draft(issue_type="Banana"))
    assert refused.value.hint is not None
    assert "Task" in refused.value.hint


def test_get_unknown_key(tracker: IssueTracker) -> None:
    with pytest.raises(NotFound):
        tracker.get(key="OPS-999")


def test_create_many_keeps_order_and_reports_each_refusal(tracker: IssueTracker) -> None:
    results = tracker.create_many(
        drafts=[draft("first"), draft("second", issue_type="Banana"), draft("third", fingerprint="fedcba9876543210")]
    )
    assert [type(r).__name__ for r in results] == ["Ticket", "InvalidInput", "Ticket"]
    first, third = results[0], results[2]
    assert not isinstance(first, Exception)
    assert not isinstance(third, Exception)
    assert (first.summary, third.summary) == ("first", "third")
    assert tracker.create_many(drafts=[]) == []


def test_search_and_find_by_label(tracker: IssueTracker) -> None:
    keys = [tracker.create(draft=draft(f"finding {n}", fingerprint=f"{n:016x}")).key for n in range(4)]
    found = tracker.find_by_label(project_key="OPS", label=f"ts-fp-{2:016x}")
    assert [t.key for t in found] == [keys[2]]
    assert tracker.find_by_label(project_key="OPS", label="ts-fp-ffffffffffffffff") == []
    everything = tracker.search(jql="project = OPS ORDER BY created DESC", limit=50)
    assert [t.key for t in everything] == keys[::-1]
    assert [t.key for t in tracker.search(jql="project = OPS ORDER BY created DESC", limit=2)] == keys[:1:-1]
    assert all(t.summary.startswith("finding") for t in everything)


def test_comments_oldest_first(tracker: IssueTracker) -> None:
    key = tracker.create(draft=draft()).key
    first = tracker.comment(key=key, body="Still present in **v2.3**.")
    tracker.comment(key=key, body="Fixed by `a1b2c3`.")
    assert "v2.3" in first.body
    bodies = [c.body for c in tracker.comments(key=key)]
    assert len(bodies) == 2
    assert "v2.3" in bodies[0]
    assert "a1b2c3" in bodies[1]
    with pytest.raises(NotFound):
        tracker.comment(key="OPS-999", body="nobody home")


def test_transition_by_status_name(tracker: IssueTracker) -> None:
    key = tracker.create(draft=draft()).key
    moved = tracker.transition(key=key, status="in progress")
    assert (moved.status, moved.status_category) == ("In Progress", StatusCategory.IN_PROGRESS)
    assert tracker.transition(key=key, status="In Progress") == moved  # already there: nothing happens
    done = tracker.transition(key=key, status="DONE")
    assert done.status_category is StatusCategory.DONE
    with pytest.raises(InvalidInput) as refused:
        tracker.transition(key=key, status="Banana")
    assert refused.value.hint is not None
    assert "To Do" in refused.value.hint
    assert tracker.transition(key=key, status="To Do").status_category is StatusCategory.NEW


def test_link_is_idempotent(tracker: IssueTracker) -> None:
    one, two = tracker.create(draft=draft("one")).key, tracker.create(draft=draft("two")).key
    tracker.link(from_key=one, to_key=two)
    tracker.link(from_key=one, to_key=two)
    tracker.link(from_key=one, to_key=two, link_type="Duplicate")
    with pytest.raises(InvalidInput):
        tracker.link(from_key=one, to_key=two, link_type="Is Friends With")
    with pytest.raises(NotFound):
        tracker.link(from_key=one, to_key="OPS-999")


def test_set_labels_replaces_them(tracker: IssueTracker) -> None:
    key = tracker.create(draft=draft()).key
    updated = tracker.set_labels(key=key, labels=["ticketsmith", f"ts-fp-{FP}", "fixed-in-2.3"])
    assert set(updated.labels) == {"ticketsmith", f"ts-fp-{FP}", "fixed-in-2.3"}
    again = tracker.set_labels(key=key, labels=["ticketsmith", f"ts-fp-{FP}", "fixed-in-2.3"])
    assert replace(again, updated=None) == replace(updated, updated=None)  # same state ("updated" may move)
    assert [t.key for t in tracker.find_by_label(project_key="OPS", label="fixed-in-2.3")] == [key]


def test_check_passes_on_a_good_setup(tracker: IssueTracker) -> None:
    report = tracker.check(project_key="OPS")
    assert report.ok, report.problems
    assert report.project_key == "OPS"
    assert "Task" in report.issue_types
