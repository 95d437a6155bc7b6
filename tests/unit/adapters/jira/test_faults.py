"""The adapters' retry policy under injected faults, on the fake Jira over HTTP (Cloud and Data Center).

Waits are measured through an injected ``sleep``; nothing here sleeps for real except the timeout case.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Callable, Iterator

import pytest

from service.adapters.jira import JiraTracker
from service.domain.tickets import TicketDraft
from service.errors import OutcomeUnknown, UpstreamFailed
from tests.fakes.jira_server import CREATE_PATH, FakeJira, FakeJiraServer
from tests.fakes.jira_trackers import Sleeps, tracker_for

FP = "00112233445566778899aabbccddeeff"


@pytest.fixture(params=["cloud", "datacenter"])
def site(request: pytest.FixtureRequest, fake_jira_server: FakeJiraServer) -> FakeJira:
    return fake_jira_server.reset(request.param)


@pytest.fixture
def sleeps() -> Sleeps:
    return Sleeps()


@pytest.fixture
def make_tracker(site: FakeJira, sleeps: Sleeps) -> Iterator[Callable[..., JiraTracker]]:
    """Trackers on ``site`` (settings overridden by keyword), closed at the end of the test."""
    built: list[JiraTracker] = []

    def make(**overrides: object) -> JiraTracker:
        built.append(tracker_for(site, sleeps, **overrides))
        return built[-1]

    yield make
    for tracker in built:
        tracker.close()


@pytest.fixture
def tracker(make_tracker: Callable[..., JiraTracker], sleeps: Sleeps) -> JiraTracker:
    built = make_tracker()
    built.create(draft=TicketDraft(project_key="OPS", summary="warm-up", description="creates the caches"))
    sleeps.waits.clear()
    return built


def draft(fingerprint: str = FP) -> TicketDraft:
    return TicketDraft(project_key="OPS", summary="Finding", description="**bad**", fingerprint=fingerprint)


def creates_sent(site: FakeJira) -> int:
    return sum(1 for method, path in site.journal if method == "POST" and path.endswith("/issue"))


def test_429_waits_as_long_as_retry_after_says(site: FakeJira, tracker: JiraTracker, sleeps: Sleeps) -> None:
    site.faults.throttle(2, retry_after="7", method="GET", path="/issue/OPS-1$")
    assert tracker.get(key="OPS-1").summary == "warm-up"
    assert len(sleeps.waits) == 2
    assert all(7 <= wait <= 7.7 for wait in sleeps.waits)


def test_429_on_a_create_is_retried_because_jira_did_not_act(
    site: FakeJira, tracker: JiraTracker, sleeps: Sleeps
) -> None:
    site.faults.throttle(1, retry_after="3", method="POST", path=CREATE_PATH)
    ticket = tracker.create(draft=draft())
    assert f"ts-fp-{FP}" in ticket.labels
    assert creates_sent(site) == 3  # warm-up, the 429, the retry
    assert len(site.store.issues) == 2
    assert 3 <= sleeps.waits[0] <= 3.3


def test_503_with_retry_after_on_a_read_is_retried(site: FakeJira, tracker: JiraTracker, sleeps: Sleeps) -> None:
    site.faults.throttle(1, status=503, retry_after="2", method="GET")
    assert tracker.get(key="OPS-1").key == "OPS-1"
    assert 2 <= sleeps.waits[0] <= 2.2


def test_retry_after_as_an_http_date(site: FakeJira, tracker: JiraTracker, sleeps: Sleeps) -> None:
    site.faults.throttle(1, retry_after="Thu, 01 Jan 2099 00:00:00 GMT", method="GET")
    tracker.get(key="OPS-1")
    assert sleeps.waits == [60.0]  # capped: a far-away date never parks a worker for longer than a minute


def test_back_off_with_jitter_without_retry_after(site: FakeJira, tracker: JiraTracker, sleeps: Sleeps) -> None:
    site.faults.throttle(3, status=502, retry_after=None, method="GET")
    tracker.get(key="OPS-1")
    assert len(sleeps.waits) == 3
    for attempt, wait in enumerate(sleeps.waits):
        ceiling = 0.5 * 2**attempt
        assert ceiling / 2 <= wait <= ceiling


def test_retries_are_bounded(site: FakeJira, sleeps: Sleeps, make_tracker: Callable[..., JiraTracker]) -> None:
    tracker = make_tracker(max_retries=2)
    site.faults.throttle(10, retry_after="1", method="GET")
    with pytest.raises(UpstreamFailed, match="429") as failed:
        tracker.get(key="OPS-1")
    assert failed.value.hint is not None
    assert "TICKETSMITH_JIRA__MAX_RETRIES" in failed.value.hint
    assert len(sleeps.waits) == 2


@pytest.mark.parametrize("retry_after", [None, "1"])
def test_created_but_503_is_outcome_unknown_and_never_resent(
    site: FakeJira, tracker: JiraTracker, sleeps: Sleeps, retry_after: str | None
) -> None:
    # With Retry-After the jira library's own session would re-send the POST; it must not.
    site.faults.created_then(1, status=503, retry_after=retry_after)
    with pytest.raises(OutcomeUnknown) as unknown:
        tracker.create(draft=draft())
    assert unknown.value.hint is not None
    assert "label" in unknown.value.hint
    assert creates_sent(site) == 2  # warm-up and this one, once
    assert sleeps.waits == []
    found = tracker.find_by_label(project_key="OPS", label=f"ts-fp-{FP}")
    assert len(found) == 1  # exactly one issue exists, and the caller can find it


def test_dropped_connection_on_create_is_outcome_unknown(site: FakeJira, tracker: JiraTracker) -> None:
    site.faults.drop(1, method="POST", path=CREATE_PATH)
    with pytest.raises(OutcomeUnknown):
        tracker.create(draft=draft())
    assert creates_sent(site) == 2
    assert len(tracker.find_by_label(project_key="OPS", label=f"ts-fp-{FP}")) == 1


def test_timeout_on_create_is_outcome_unknown(site: FakeJira, make_tracker: Callable[..., JiraTracker]) -> None:
    tracker = make_tracker(timeout_seconds=0.3)
    tracker.create(draft=TicketDraft(project_key="OPS", summary="warm-up", description="x"))
    site.faults.latency_seconds = 1.0
    with pytest.raises(OutcomeUnknown):
        tracker.create(draft=draft())
    site.faults.latency_seconds = 0.0
    deadline = time.monotonic() + 5
    while len(site.store.issues) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert len(tracker.find_by_label(project_key="OPS", label=f"ts-fp-{FP}")) == 1
    assert creates_sent(site) == 2


def test_comment_answered_503_is_not_resent(site: FakeJira, tracker: JiraTracker) -> None:
    site.faults.created_then(1, status=503, retry_after="1", path="/comment$")
    with pytest.raises(OutcomeUnknown):
        tracker.comment(key="OPS-1", body="once")
    assert len(tracker.comments(key="OPS-1")) == 1


def test_unreachable_site_is_retried_then_upstream_failed(
    sleeps: Sleeps, make_tracker: Callable[..., JiraTracker]
) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    tracker = make_tracker(url=f"http://127.0.0.1:{closed_port}")
    with pytest.raises(UpstreamFailed) as failed:
        tracker.get(key="OPS-1")
    assert not isinstance(failed.value, OutcomeUnknown)
    assert failed.value.hint is not None
    assert "TICKETSMITH_JIRA__URL" in failed.value.hint
    assert len(sleeps.waits) == 3
    # A create that never reached Jira is a plain failure, not an unknown outcome.
    with pytest.raises(UpstreamFailed) as create_failed:
        tracker.create(draft=draft())
    assert not isinstance(create_failed.value, OutcomeUnknown)
