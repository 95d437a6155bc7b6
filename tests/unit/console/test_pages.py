"""The console's pages over an in-memory container: each renders, escapes what code, Jira and models wrote,
asks for the API key when keys are configured, refuses forms without their CSRF token, and never answers 500."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from service.app import create_app
from service.container import Container, build_container
from service.domain.findings import Category, CheckRun, Finding, Severity
from service.domain.runs import RunState
from service.domain.tickets import TicketDraft
from service.orchestrator.steps.check import finding_data
from service.settings import ApiKeySettings, JobsSettings
from tests.conftest import make_settings
from tests.knowledge_fakes import CountingEmbedder
from tests.quality_repos import SEEDED, make_repo
from tests.run_samples import RUN_ID, new_run, record_sample

SCRIPT = "<script>alert(1)</script>"
ESCAPED = "&lt;script&gt;alert(1)&lt;/script&gt;"
ADMIN_KEY = "admin-0123456789abcdef"
QUALITY_KEY = "quality-0123456789abcdef"
SCAN_ID = "5ca1ab1e000000000000000000000001"
PAUSED_ID = "5ca1ab1e000000000000000000000002"
CHECK_ID = "check-1"


def _finding(message: str = SCRIPT) -> Finding:
    return Finding(
        rule_id="S602",
        tool="bandit",
        category=Category.SECURITY,
        severity=Severity.HIGH,
        path="app/shell.py",
        start_line=5,
        end_line=5,
        symbol="run",
        message=message,
        snippet=f"return subprocess.call(cmd, shell=True)  # {SCRIPT}",
        fingerprint="f" * 40,
    )


def _seed(container: Container, tmp_path: Path) -> None:
    record_sample(container.run_store)
    root = make_repo(tmp_path / "seeded", SEEDED)
    container.knowledge.sync(str(root), name="seeded", ref=None)
    ticket = container.issue_tracker.create(
        draft=TicketDraft(project_key="TS", summary=f"Shell call {SCRIPT}", description="d", fingerprint="f" * 40)
    )
    claim = container.ticket_ledger.claim(fingerprint="f" * 40, claimed_by="t", now=datetime.now(UTC))
    container.ticket_ledger.record_filed(
        fingerprint="f" * 40, claimed_by="t", ticket_key=ticket.key, content_hash=None, now=claim.entry.claimed_at
    )
    row = {
        "fingerprint": "f" * 40,
        "summary": f"Shell call {SCRIPT}",
        "severity": "high",
        "action": "created",
        "key": ticket.key,
        "url": "javascript:alert(1)",
        "reason": f"new finding {SCRIPT}",
    }
    scan = container.run_store.create(replace(new_run(SCAN_ID), repository="seeded"))
    container.run_store.save(
        replace(
            scan,
            state=RunState.SUCCEEDED,
            checkpoint={"check": {"findings": [_finding_data()]}},
            result={"summary": "1 finding", "text": f"Filed one {SCRIPT}", "tickets": [row], "created": 1},
            finished_at=scan.created_at,
        )
    )
    paused = container.run_store.create(new_run(PAUSED_ID))
    container.run_store.save(
        replace(
            paused,
            state=RunState.PAUSED,
            checkpoint={
                "pending_confirmation": {
                    "action": "jira.transitionIssue",
                    "input": {"key": "TS-1", "status": "Done"},
                    "reason": f"closing a ticket needs a person {SCRIPT}",
                    "requested_at": "2026-12-02T09:00:00+00:00",
                }
            },
        )
    )
    container.finding_store.save_run(
        CheckRun(
            id=CHECK_ID,
            root=str(root),
            commit=None,
            since=None,
            files_checked=3,
            findings_count=1,
            seconds=0.1,
            skipped=(),
            created_at=datetime.now(UTC),
        ),
        [_finding()],
    )


def _finding_data() -> dict[str, object]:
    return finding_data(_finding())


def _container(tmp_path: Path, **overrides: object) -> Iterator[Container]:
    settings = make_settings(tmp_path, jobs=JobsSettings(in_process_worker=False), **overrides)
    built = build_container(settings, in_memory=True, embedder=CountingEmbedder())
    _seed(built, tmp_path)
    yield built
    built.close()


@pytest.fixture
def container(tmp_path: Path) -> Iterator[Container]:
    yield from _container(tmp_path)


@pytest.fixture
def client(container: Container) -> Iterator[TestClient]:
    with TestClient(create_app(container=container)) as test_client:
        yield test_client


@pytest.fixture
def keyed(tmp_path: Path) -> Iterator[Container]:
    yield from _container(
        tmp_path,
        api_keys=[
            ApiKeySettings(name="admin", key=ADMIN_KEY),  # type: ignore[arg-type]
            ApiKeySettings(name="quality", key=QUALITY_KEY, action_groups=["quality"]),  # type: ignore[arg-type]
        ],
    )


def _token(page: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert match, "the page has no CSRF field"
    return match.group(1)


PAGES = [
    "/",
    "/?state=paused",
    f"/runs/{RUN_ID}",
    f"/runs/{SCAN_ID}",
    f"/runs/{SCAN_ID}/findings",
    f"/runs/{PAUSED_ID}",
    "/findings",
    f"/findings?check_run={CHECK_ID}",
    "/tickets",
    "/tickets?q=shell",
    "/search",
    "/search?q=subprocess+shell&repo=seeded",
    "/search?q=subprocess&repo=seeded&mode=lexical",
    "/code/seeded/app/shell.py",
    "/code/seeded/app/shell.py?start=4&end=5",
    "/confirmations",
]


@pytest.mark.parametrize("path", PAGES)
def test_every_page_renders_as_html_with_a_strict_policy(client: TestClient, path: str) -> None:
    answer = client.get(path)
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"].startswith("text/html")
    assert "script-src 'self'" in answer.headers["content-security-policy"]
    page = answer.text
    assert '<a class="skip-link" href="#main">' in page
    assert '<main id="main"' in page
    assert SCRIPT not in page


@pytest.mark.parametrize(
    "path",
    [f"/runs/{SCAN_ID}", f"/runs/{SCAN_ID}/findings", f"/findings?check_run={CHECK_ID}", "/tickets", "/confirmations"],
)
def test_text_from_code_jira_and_models_is_escaped(client: TestClient, path: str) -> None:
    page = client.get(path).text
    assert ESCAPED in page
    assert SCRIPT not in page
    assert 'href="javascript:' not in page


def test_the_trace_shows_every_kind_of_step_and_highlights_failures(client: TestClient) -> None:
    page = client.get(f"/runs/{RUN_ID}").text
    for fact in ("check the files changed since HEAD~1", "quality.runChecks", "692 in / 137 out tokens", "ticket@3"):
        assert fact in page
    assert 'href="/code/ticketsmith/service/triage.py?start=10&amp;end=42#L10"' in page
    assert "UpstreamFailed: Jira answered 503" in page
    assert 'class="event kind-failure failed"' in page
    assert "<strong>deny</strong> <code>jira.transitionIssue</code>" in page


def test_search_marks_the_query_words_and_cites_the_code(client: TestClient) -> None:
    page = client.get("/search", params={"q": "subprocess", "repo": "seeded", "mode": "lexical"}).text
    assert "<mark>subprocess</mark>" in page
    assert 'href="/code/seeded/app/shell.py?start=' in page
    assert "seeded" in page
    assert "Repositories" in page
    code = client.get("/code/seeded/app/shell.py", params={"start": 5, "end": 5}).text
    assert '<tr id="L5" class="marked">' in code


def test_a_ticket_is_found_with_its_decision(client: TestClient, container: Container) -> None:
    key = container.ticket_ledger.entries()[0].ticket_key
    assert key
    page = client.get("/tickets", params={"q": key}).text
    assert f">{key}<" in page
    assert "created" in page
    assert "new finding" in page
    assert "No tickets" in client.get("/tickets", params={"q": "nothing-like-this"}).text


@pytest.mark.parametrize(
    "path",
    [
        "/runs/unknown-run",
        "/runs/unknown-run/findings",
        "/findings?check_run=unknown",
        "/code/seeded/app/nothing.py",
        "/code/nothing/app/shell.py",
        "/static/other.js",
    ],
)
def test_unknown_things_are_a_404_page(client: TestClient, path: str) -> None:
    answer = client.get(path)
    assert answer.status_code == 404, answer.text
    assert answer.headers["content-type"].startswith("text/html")


@pytest.mark.parametrize(
    ("method", "path", "kwargs"),
    [
        ("get", "/search?q=x&k=abc", {}),
        ("get", "/tickets?page=0", {}),
        ("get", "/code/seeded/app/shell.py?start=0", {}),
        ("get", "/code/seeded/app/shell.py?start=900&end=901", {}),
        ("get", "/search?q=x&repo=nothing", {}),
        ("get", "/search?q=x&repo=seeded&mode=psychic", {}),
        ("post", "/runs", {"json": {"repository": "seeded"}}),
        ("post", "/runs", {"content": b"\xff\xfe", "headers": {"content-type": "application/x-www-form-urlencoded"}}),
        ("post", "/confirmations/unknown", {"data": {"decision": "approve"}}),
        ("post", "/login", {"data": {}}),
    ],
)
def test_bad_input_is_a_clear_error_never_a_500(client: TestClient, method: str, path: str, kwargs: dict) -> None:
    answer = getattr(client, method)(path, **kwargs)
    assert 400 <= answer.status_code < 500, answer.text
    assert answer.headers["content-type"].startswith("text/html")


def test_assets_ship_with_the_package(client: TestClient) -> None:
    css = client.get("/static/console.css")
    assert css.status_code == 200
    assert css.headers["content-type"].startswith("text/css")
    js = client.get("/static/console.js")
    assert js.status_code == 200
    assert "runs.json" in js.text
    page = client.get("/").text
    assert "http://" not in page.split("<main", 1)[0]
    assert "https://" not in page.split("<main", 1)[0]


def test_progress_json_follows_the_named_runs(client: TestClient) -> None:
    body = client.get("/runs.json", params=[("run", RUN_ID), ("run", PAUSED_ID), ("run", "unknown")]).json()
    assert [(run["id"], run["state"], run["active"]) for run in body["runs"]] == [
        (RUN_ID, "succeeded", False),
        (PAUSED_ID, "paused", True),
    ]


def test_starting_a_scan_needs_the_forms_token(client: TestClient, container: Container) -> None:
    page = client.get("/").text
    refused = client.post("/runs", data={"repository": "seeded"})
    assert refused.status_code == 403
    assert "security token" in refused.text
    wrong = client.post("/runs", data={"repository": "seeded", "csrf_token": "x" * 43})
    assert wrong.status_code == 403
    before = {run.id for run in container.runs.list()}
    started = client.post(
        "/runs", data={"repository": "seeded", "dry_run": "on", "csrf_token": _token(page)}, follow_redirects=False
    )
    assert started.status_code == 303, started.text
    run_id = started.headers["location"].removeprefix("/runs/")
    assert run_id not in before
    run = container.runs.get(run_id)
    assert (run.workflow, run.repository, run.trigger.value) == ("scan", "seeded", "rest")
    assert run.parameters["dry_run"] is True
    assert client.get(started.headers["location"]).status_code == 200


def test_a_refused_scan_says_why_on_the_form(client: TestClient) -> None:
    page = client.get("/").text
    answer = client.post("/runs", data={"repository": "no-such-repo", "csrf_token": _token(page)})
    assert answer.status_code in (400, 403, 404, 422), answer.text
    assert 'id="start-error"' in answer.text
    assert 'value="no-such-repo"' in answer.text


def test_confirmations_list_paused_runs_with_their_forms(client: TestClient) -> None:
    page = client.get("/confirmations").text
    assert "jira.transitionIssue" in page
    assert f'action="/confirmations/{PAUSED_ID}"' in page
    assert 'value="approve"' in page
    assert 'value="deny"' in page
    refused = client.post(f"/confirmations/{PAUSED_ID}", data={"decision": "approve"})
    assert refused.status_code == 403


@pytest.mark.parametrize(("decision", "state"), [("approve", RunState.QUEUED), ("deny", RunState.CANCELLED)])
def test_a_confirmation_is_answered_from_the_page(
    client: TestClient, container: Container, decision: str, state: RunState
) -> None:
    token = _token(client.get("/confirmations").text)
    answer = client.post(
        f"/confirmations/{PAUSED_ID}", data={"decision": decision, "csrf_token": token}, follow_redirects=False
    )
    assert answer.status_code == 303, answer.text
    run = container.runs.get(PAUSED_ID)
    assert run.state is state
    assert run.checkpoint["confirmation"]["by"] == "local"
    assert f'action="/confirmations/{PAUSED_ID}"' not in client.get(answer.headers["location"]).text
    assert "was approved by local" in client.get(f"/runs/{PAUSED_ID}").text or decision == "deny"
    again = client.post(
        f"/confirmations/{PAUSED_ID}",
        data={"decision": "approve" if decision == "deny" else "deny", "csrf_token": token},
    )
    assert again.status_code == 409


def test_with_keys_the_console_asks_for_one(keyed: Container) -> None:
    with TestClient(create_app(container=keyed)) as browser:
        answer = browser.get(f"/runs/{RUN_ID}", follow_redirects=False)
        assert answer.status_code == 303
        assert answer.headers["location"] == f"/login?next=%2Fruns%2F{RUN_ID}"
        assert browser.get("/static/console.css").status_code == 200
        form = browser.get("/login?next=/tickets")
        assert form.status_code == 200
        assert 'type="password"' in form.text
        token = _token(form.text)
        wrong = browser.post("/login", data={"api_key": "nope", "next": "/tickets", "csrf_token": token})
        assert wrong.status_code == 401
        assert "unknown API key" in wrong.text
        signed = browser.post(
            "/login", data={"api_key": ADMIN_KEY, "next": "/tickets", "csrf_token": token}, follow_redirects=False
        )
        assert signed.status_code == 303
        assert signed.headers["location"] == "/tickets"
        cookies = signed.headers.get_list("set-cookie")
        key_cookie = next(c for c in cookies if c.startswith("ticketsmith_key="))
        assert "HttpOnly" in key_cookie
        assert "SameSite=strict" in key_cookie
        page = browser.get("/tickets")
        assert page.status_code == 200
        assert "Signed in as <strong>admin</strong>" in page.text
        # The cookie is the console's: the REST API still wants the key itself.
        assert browser.get(f"/v1/runs/{RUN_ID}/trace").status_code == 401
        out = browser.post("/logout", data={"csrf_token": _token(page.text)}, follow_redirects=False)
        assert out.status_code == 303
        browser.cookies.clear()
        assert browser.get("/", follow_redirects=False).status_code == 303


def test_with_keys_a_bearer_header_works_and_scopes_hold(keyed: Container) -> None:
    app = create_app(container=keyed)
    with TestClient(app, headers={"Authorization": f"Bearer {ADMIN_KEY}"}) as admin:
        assert admin.get("/").status_code == 200
    with TestClient(app, headers={"X-Api-Key": QUALITY_KEY}) as quality:
        assert quality.get("/").status_code == 403
        assert quality.get(f"/findings?check_run={CHECK_ID}").status_code == 200
    with TestClient(app, headers={"X-Api-Key": "wrong"}) as stranger:
        assert stranger.get("/").status_code == 401
    with TestClient(app) as browser:
        browser.cookies.set("ticketsmith_key", "stale")
        answer = browser.get("/", follow_redirects=False)
        assert answer.status_code == 303
        assert answer.headers["location"].startswith("/login")


@pytest.mark.parametrize("target", ["//evil.example/x", "https://evil.example/", "/\\evil"])
def test_sign_in_never_sends_the_browser_elsewhere(keyed: Container, target: str) -> None:
    with TestClient(create_app(container=keyed)) as browser:
        token = _token(browser.get("/login").text)
        answer = browser.post(
            "/login", data={"api_key": ADMIN_KEY, "next": target, "csrf_token": token}, follow_redirects=False
        )
        assert answer.headers["location"] == "/"


def test_odd_checkpoints_and_results_still_render(client: TestClient, container: Container) -> None:
    odd = container.run_store.create(replace(new_run("0dd0000000000000000000000000000a"), state=RunState.RUNNING))
    container.run_store.save(
        replace(odd, checkpoint={"check": {"findings": "many"}, "file": ["x"]}, result={"tickets": "TS-1", "text": 3})
    )
    for path in (f"/runs/{odd.id}", f"/runs/{odd.id}/findings", "/findings", "/tickets", "/"):
        assert client.get(path).status_code == 200, path


def test_a_running_run_refreshes_itself_without_scripts(client: TestClient, container: Container) -> None:
    running = container.run_store.create(replace(new_run("0dd0000000000000000000000000000b"), state=RunState.RUNNING))
    page = client.get(f"/runs/{running.id}").text
    assert '<noscript><meta http-equiv="refresh" content="5"></noscript>' in page
    assert 'data-poll="on"' in page
    assert "http-equiv" not in client.get(f"/runs/{RUN_ID}").text
