"""The Data Center adapter (REST v2 through the ``jira`` library) against jira820, a third-party stateful fake
of Jira Data Center 8.20.8 from PyPI (pinned in the dev dependencies), run as its own server process.

jira820 does not check credentials and has no per-project createmeta endpoints (DC 8.4+): the adapter falls
back to the classic ``/issue/createmeta`` there, as it would on Jira before 8.4.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator

import pytest

from service.adapters.jira import JiraTracker, build_issue_tracker
from service.domain.tickets import StatusCategory, TicketDraft
from service.errors import NotFound
from service.settings import JiraSettings

pytestmark = pytest.mark.jira820
PROJECT = "JIRA820"
FP = "feedfacecafebeef"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture(scope="module")
def jira820_url() -> Iterator[str]:
    port = _free_port()
    env = {**os.environ, "JIRA820_HOST": "127.0.0.1", "JIRA820_PORT": str(port), "JIRA820_DATE": "2026-01-05"}
    process = subprocess.Popen(
        [sys.executable, "-m", "jira820"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"{url}/rest/api/2/serverInfo", timeout=2) as answer:
                    if answer.status == 200:
                        break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    pytest.fail("jira820 did not start")
                time.sleep(0.2)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=10)


@pytest.fixture
def tracker(jira820_url: str) -> Iterator[JiraTracker]:
    settings = JiraSettings(url=jira820_url, deployment="datacenter", pat="any-token-jira820", project_key=PROJECT)
    built = build_issue_tracker(settings)
    assert isinstance(built, JiraTracker)
    yield built
    built.close()


def draft(summary: str, fingerprint: str | None = FP) -> TicketDraft:
    return TicketDraft(
        project_key=PROJECT,
        summary=summary,
        description="## Finding\n\nRule `B608` in *app/db.py*.",
        labels=("ticketsmith",),
        fingerprint=fingerprint,
    )


def test_check_passes(tracker: JiraTracker) -> None:
    report = tracker.check(project_key=PROJECT)
    assert report.ok, report.problems
    assert "Task" in report.issue_types
    assert report.account


def test_create_get_search_comment_transition_label(tracker: JiraTracker) -> None:
    created = tracker.create(draft=draft("SQL built from strings in app/db.py"))
    assert created.key.startswith(f"{PROJECT}-")
    assert set(created.labels) == {"ticketsmith", f"ts-fp-{FP}"}
    assert created.description.startswith("h2. Finding")
    assert "{{B608}}" in created.description
    assert tracker.get(key=created.key).summary == created.summary

    assert [t.key for t in tracker.find_by_label(project_key=PROJECT, label=f"ts-fp-{FP}")] == [created.key]
    hits = tracker.search(jql=f'project = {PROJECT} AND labels = "ts-fp-{FP}" AND statusCategory != Done')
    assert [t.key for t in hits] == [created.key]

    tracker.comment(key=created.key, body="Seen again in **run 42**.")
    assert any("*run 42*" in c.body for c in tracker.comments(key=created.key))

    moving = tracker.transition(key=created.key, status="in progress")
    assert moving.status == "In Progress"
    done = tracker.transition(key=created.key, status="Done")
    assert done.status_category is StatusCategory.DONE
    assert tracker.search(jql=f'project = {PROJECT} AND labels = "ts-fp-{FP}" AND statusCategory != Done') == []

    relabelled = tracker.set_labels(key=created.key, labels=[*created.labels, "fixed"])
    assert "fixed" in relabelled.labels


def test_create_many_and_unknown_keys(tracker: JiraTracker) -> None:
    results = tracker.create_many(drafts=[draft("one", "0000000000000001"), draft("two", "0000000000000002")])
    keys = [getattr(r, "key", None) for r in results]
    assert all(key and key.startswith(f"{PROJECT}-") for key in keys)
    assert len(set(keys)) == 2
    with pytest.raises(NotFound):
        tracker.get(key=f"{PROJECT}-999999")
