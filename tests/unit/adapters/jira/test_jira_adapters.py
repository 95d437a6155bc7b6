"""What only the Jira adapters do: fields from createmeta, body formats, bulk answers, error translation, check()."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from datetime import UTC, datetime

import pytest

from service.adapters.jira import JiraTracker, build_issue_tracker
from service.adapters.jira.client import retry_after_seconds
from service.domain.tickets import TicketDraft
from service.errors import Forbidden, InvalidInput, NotFound, OutcomeUnknown, Unauthorized, UpstreamFailed
from service.settings import JiraSettings
from service.tickets.adf import markdown_to_adf
from tests.fakes.jira_server import FakeJira, FakeJiraServer, fixture
from tests.fakes.jira_trackers import jira_settings, tracker_for


@pytest.fixture(params=["cloud", "datacenter"])
def site(request: pytest.FixtureRequest, fake_jira_server: FakeJiraServer) -> FakeJira:
    return fake_jira_server.reset(request.param)


@pytest.fixture
def make_tracker(site: FakeJira) -> Iterator[Callable[..., JiraTracker]]:
    built: list[JiraTracker] = []

    def make(**overrides: object) -> JiraTracker:
        built.append(tracker_for(site, **overrides))
        return built[-1]

    yield make
    for tracker in built:
        tracker.close()


@pytest.fixture
def tracker(make_tracker: Callable[..., JiraTracker]) -> JiraTracker:
    return make_tracker()


def draft(project: str = "OPS", issue_type: str = "Task", **fields: object) -> TicketDraft:
    return TicketDraft(
        project_key=project,
        summary="Finding",
        description="## Finding\n\n```python\nx = 1\n```",
        issue_type=issue_type,
        fields=fields,
    )


def posts(site: FakeJira) -> int:
    return sum(1 for method, _ in site.journal if method == "POST")


def test_bodies_are_adf_on_cloud_and_wiki_on_datacenter(site: FakeJira, tracker: JiraTracker) -> None:
    ticket = tracker.create(draft=draft())
    stored = site.store.issue(ticket.key).description
    if site.deployment == "cloud":
        assert stored["type"] == "doc"
        code = {"type": "codeBlock", "attrs": {"language": "python"}, "content": [{"type": "text", "text": "x = 1"}]}
        assert code in stored["content"]
    else:
        assert stored.startswith("h2. Finding")
        assert "{code:python}" in stored
    assert "x = 1" in ticket.description


def test_long_summary_and_spaced_labels_are_made_acceptable(tracker: JiraTracker) -> None:
    created = tracker.create(
        draft=TicketDraft(project_key="OPS", summary="word " * 80, description="x", labels=("needs triage",))
    )
    assert len(created.summary) <= 255
    assert created.summary.endswith("…")
    assert "needs-triage" in created.labels
    assert "fixed-in-2.3" in tracker.set_labels(key=created.key, labels=["fixed in 2.3"]).labels


def test_transitions_follow_the_workflow(tracker: JiraTracker) -> None:
    key = tracker.create(draft=draft()).key
    assert tracker.transition(key=key, status="done").status == "Done"
    with pytest.raises(InvalidInput) as refused:
        tracker.transition(key=key, status="In Progress")  # Done -> In Progress is not in the fake's workflow
    assert refused.value.hint == "statuses reachable from here: To Do"


def test_search_follows_every_page(site: FakeJira, tracker: JiraTracker) -> None:
    site.search_page_cap = 2
    keys = [tracker.create(draft=draft()).key for _ in range(5)]
    assert [t.key for t in tracker.search(jql="project = OPS ORDER BY key ASC", limit=50)] == keys
    assert len(site.journal) > 0


def test_check_reports_an_unknown_project(tracker: JiraTracker) -> None:
    report = tracker.check(project_key="NOPE")
    assert not report.ok
    assert any("NOPE" in p.what and "TICKETSMITH_JIRA__PROJECT_KEY" in p.fix for p in report.problems)
    assert "Summary" in tracker.check(project_key="OPS").required_fields["Task"]


def test_required_custom_field_is_found_in_createmeta_and_named(site: FakeJira, tracker: JiraTracker) -> None:
    with pytest.raises(InvalidInput, match=r"Team \(customfield_10050; one of: Platform, Payments\)"):
        tracker.create(draft=draft("ENG", "Bug"))
    assert posts(site) == 0  # refused before anything was sent
    created = tracker.create(draft=draft("ENG", "Bug", Team="Platform"))
    assert site.store.issue(created.key).extra["customfield_10050"] == {"value": "Platform"}
    by_id = tracker.create(draft=draft("ENG", "Bug", customfield_10050={"value": "Payments"}))
    assert site.store.issue(by_id.key).extra["customfield_10050"] == {"value": "Payments"}


def test_epic_link_field_is_discovered(site: FakeJira, tracker: JiraTracker) -> None:
    epic = tracker.create(draft=draft()).key
    child = tracker.create(draft=draft(epic=epic))
    extra = site.store.issue(child.key).extra
    assert extra == ({"parent": {"key": epic}} if site.deployment == "cloud" else {"customfield_10008": epic})


def test_unknown_field_names_the_known_ones(tracker: JiraTracker) -> None:
    with pytest.raises(InvalidInput) as refused:
        tracker.create(draft=draft(colour="red"))
    assert refused.value.hint is not None
    assert "Summary (summary)" in refused.value.hint


def test_links_are_stored_once(site: FakeJira, tracker: JiraTracker) -> None:
    one, two = tracker.create(draft=draft()).key, tracker.create(draft=draft()).key
    for _ in range(3):
        tracker.link(from_key=one, to_key=two, link_type="relates to")
    assert [link[1:] for link in site.store.links] == [("Relates", one, two)]


def test_jira_refusals_are_translated(site: FakeJira, tracker: JiraTracker) -> None:
    tracker.create(draft=draft())
    site.faults.answer(400, fixture("error_400.json"), method="POST")
    with pytest.raises(InvalidInput, match="Field 'priority' is required"):
        tracker.create(draft=draft())
    site.faults.answer(400, fixture("error_400_field_too_long.json"), method="POST")
    with pytest.raises(InvalidInput) as too_long:
        tracker.create(draft=draft())
    assert too_long.value.details["errors"]["description"].startswith("The entered text is too long")
    site.faults.answer(403, {"errorMessages": ["You do not have permission to create issues."]}, method="POST")
    with pytest.raises(Forbidden, match="permission"):
        tracker.create(draft=draft())
    site.faults.answer(500, {"errorMessages": ["boom"]}, method="GET")
    with pytest.raises(UpstreamFailed, match="boom"):
        tracker.get(key="OPS-1")
    with pytest.raises(NotFound):
        tracker.transition(key="OPS-404", status="Done")


def test_bad_credentials(site: FakeJira, make_tracker: Callable[..., JiraTracker]) -> None:
    wrong = make_tracker(api_token="wrong") if site.deployment == "cloud" else make_tracker(pat="wrong")
    with pytest.raises(Unauthorized) as refused:
        wrong.get(key="OPS-1")
    assert refused.value.hint is not None
    assert ("API_TOKEN" if site.deployment == "cloud" else "PAT") in refused.value.hint
    report = wrong.check(project_key="OPS")
    assert [p.what.split(":")[0] for p in report.problems] == ["credentials"]
    assert report.problems[0].fix == refused.value.hint


def test_datacenter_basic_auth(fake_jira_dc: FakeJira) -> None:
    tracker = tracker_for(fake_jira_dc, pat=None, username=fake_jira_dc.username, password=fake_jira_dc.password)
    try:
        assert tracker.check(project_key="OPS").ok
    finally:
        tracker.close()


def test_check_names_required_fields_it_cannot_fill(make_tracker: Callable[..., JiraTracker]) -> None:
    report = make_tracker(issue_type="Bug").check(project_key="ENG")
    assert "Team" in report.required_fields["Bug"]
    assert len(report.problems) == 1
    assert "Team (customfield_10050" in report.problems[0].what
    assert "TICKETSMITH_JIRA__ISSUE_TYPE" in report.problems[0].fix
    assert (
        make_tracker(issue_type="Story")
        .check(project_key="OPS")
        .problems[0]
        .fix.startswith("set TICKETSMITH_JIRA__ISSUE_TYPE to one of: Task, Bug")
    )
    assert make_tracker().check(project_key=None).problems[0].fix.startswith("set TICKETSMITH_JIRA__PROJECT_KEY")


def test_check_sees_the_wrong_deployment(fake_jira_dc: FakeJira) -> None:
    settings = JiraSettings(
        url=fake_jira_dc.base_url, deployment="cloud", email="bot@example.com", api_token="x", max_retries=0
    )
    tracker = build_issue_tracker(settings)
    assert isinstance(tracker, JiraTracker)
    try:
        report = tracker.check(project_key="OPS")
    finally:
        tracker.close()
    assert any("TICKETSMITH_JIRA__DEPLOYMENT=datacenter" in p.fix for p in report.problems)


def test_check_reports_an_unreachable_site(site: FakeJira, make_tracker: Callable[..., JiraTracker]) -> None:
    report = make_tracker(url="http://127.0.0.1:9", max_retries=0).check(project_key="OPS")
    assert [p.what.split(":")[0] for p in report.problems] == ["connection"]
    assert "TICKETSMITH_JIRA__URL" in report.problems[0].fix


# --- Cloud bulk create -------------------------------------------------------------------------------------


@pytest.fixture
def cloud_tracker(fake_jira_cloud: FakeJira) -> Iterator[JiraTracker]:
    tracker = tracker_for(fake_jira_cloud)
    yield tracker
    tracker.close()


def test_long_markdown_is_cut_until_its_adf_fits(fake_jira_cloud: FakeJira, cloud_tracker: JiraTracker) -> None:
    markdown = "\n".join(f"- **item {n}** in `mod_{n}.py`, see [line](https://example.com/{n})" for n in range(300))
    assert len(markdown) < 32_767 < len(json.dumps(markdown_to_adf(markdown)))
    ticket = cloud_tracker.create(draft=TicketDraft(project_key="OPS", summary="Long", description=markdown))
    stored = fake_jira_cloud.store.issue(ticket.key).description
    assert len(json.dumps(stored)) <= 32_767
    assert "item 0" in ticket.description
    assert "cut to fit" in ticket.description


def test_bulk_partial_failure_maps_back_to_each_draft(fake_jira_cloud: FakeJira, cloud_tracker: JiraTracker) -> None:
    results = cloud_tracker.create_many(drafts=[draft(), draft("ENG", "Bug", Team="Nobody"), draft()])
    assert [type(r).__name__ for r in results] == ["Ticket", "InvalidInput", "Ticket"]
    assert "Team" in str(results[1])
    assert fake_jira_cloud.journal.count(("POST", "/rest/api/3/issue/bulk")) == 1
    assert len(fake_jira_cloud.store.issues) == 2


def test_bulk_all_failed_answer_from_the_fixture(fake_jira_cloud: FakeJira, cloud_tracker: JiraTracker) -> None:
    fake_jira_cloud.faults.answer(400, fixture("cloud_v3_bulk_create_response_400.json"), path="/bulk$")
    results = cloud_tracker.create_many(drafts=[draft(), draft()])
    assert all(isinstance(r, InvalidInput) for r in results)
    assert all("The issue type selected is invalid." in str(r) for r in results)
    assert [r.details["errors"]["project"] for r in results if isinstance(r, InvalidInput)] == [
        "Sub-tasks must be created in the same project as the parent."
    ] * 2


def test_bulk_created_answer_from_the_fixture(fake_jira_cloud: FakeJira, cloud_tracker: JiraTracker) -> None:
    # ED-24/ED-25 do not exist on the fake: the read-back fails, yet a created issue is never reported as failed.
    fake_jira_cloud.faults.answer(201, fixture("cloud_v3_bulk_create_response_201.json"), path="/bulk$")
    results = cloud_tracker.create_many(drafts=[draft(), draft()])
    assert [getattr(r, "key", None) for r in results] == ["ED-24", "ED-25"]


def test_bulk_answer_lost_makes_every_draft_unknown(fake_jira_cloud: FakeJira, cloud_tracker: JiraTracker) -> None:
    fake_jira_cloud.faults.created_then(1, status=503, retry_after="1")
    results = cloud_tracker.create_many(drafts=[draft(), draft(), draft()])
    assert all(isinstance(r, OutcomeUnknown) for r in results)
    assert len(fake_jira_cloud.store.issues) == 3
    assert fake_jira_cloud.journal.count(("POST", "/rest/api/3/issue/bulk")) == 1


# --- wiring and helpers ------------------------------------------------------------------------------------


def test_no_jira_configured_gives_none() -> None:
    assert build_issue_tracker(JiraSettings()) is None


def test_the_deployment_picks_the_adapter(fake_jira_cloud: FakeJira) -> None:
    cloud = build_issue_tracker(jira_settings(fake_jira_cloud))
    datacenter = build_issue_tracker(JiraSettings(url="https://jira.example.com", pat="p"))
    assert cloud is not None
    assert datacenter is not None
    assert (cloud.name, datacenter.name) == ("jira-cloud", "jira-dc")
    for built in (cloud, datacenter):
        assert isinstance(built, JiraTracker)
        built.close()


def test_retry_after_parsing() -> None:
    now = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
    assert retry_after_seconds("12") == 12.0
    assert retry_after_seconds("Mon, 05 Jan 2026 09:00:30 GMT", now=lambda: now) == 30.0
    assert retry_after_seconds("Mon, 05 Jan 2026 08:00:00 GMT", now=lambda: now) == 0.0
    assert retry_after_seconds(None) is None
    assert retry_after_seconds("soon") is None
