"""The web console in a real headless browser: Debian's chromium driven by Playwright against the real service.

The service runs as ``python -m service serve`` on a free port with a SQLite data directory, the local ticket
store and one API key. The browser signs in, starts a scan of a small seeded repository, watches it finish,
opens its trace, its findings and a ticket, and searches the code. Every page gets a screenshot (in
``$TICKETSMITH_TEST_ARTIFACTS``, else the test's temporary directory; the path is printed) and an axe-core
check: no violation of impact serious or critical. axe-core comes from ``make test-schemas`` (pinned, npm).
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.quality_repos import SEEDED, make_repo

playwright_api = pytest.importorskip("playwright.sync_api", reason="playwright is in the dev extra")

CHROMIUM = Path("/usr/bin/chromium")
AXE = Path(__file__).parents[1] / ".schemas" / "axe.min.js"
API_KEY = "console-e2e-0123456789abcdef"
SCAN_TIMEOUT_MS = 180_000
BLOCKING = ("serious", "critical")

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's chromium (make system-deps)"),
    pytest.mark.skipif(not AXE.exists(), reason="needs axe-core in tests/.schemas (make test-schemas)"),
]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _wait_ready(base: str, server: subprocess.Popen[bytes], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while True:
        assert server.poll() is None, "the service exited while starting"
        try:
            with urllib.request.urlopen(f"{base}/healthz", timeout=1) as response:
                if response.status == 200:
                    return
        except OSError:
            pass
        assert time.monotonic() < deadline, "the service did not become healthy in time"
        time.sleep(0.2)


@dataclass
class Service:
    base: str
    repository: Path
    log: Path


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    root = tmp_path_factory.mktemp("console-e2e")
    repository = make_repo(root / "repos" / "seeded", SEEDED)
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("TICKETSMITH_")} | {
        "TICKETSMITH_DATA_DIR": str(root / "data"),
        "TICKETSMITH_API_KEYS": json.dumps([{"name": "e2e", "key": API_KEY}]),
        "TICKETSMITH_INDEXING__ALLOWED_ROOTS": json.dumps([str(root / "repos")]),
        "TICKETSMITH_JOBS__POLL_INTERVAL_SECONDS": "0.2",
        "TICKETSMITH_LOGGING__LEVEL": "WARNING",
    }
    log = root / "service.log"
    with log.open("wb") as output:
        server = subprocess.Popen(
            [sys.executable, "-m", "service", "serve", "--host", "127.0.0.1", "--port", str(port)],
            env=env,
            cwd=Path(__file__).parents[2],
            stdout=output,
            stderr=subprocess.STDOUT,
        )
        try:
            base = f"http://127.0.0.1:{port}"
            _wait_ready(base, server)
            yield Service(base=base, repository=repository, log=log)
        finally:
            server.terminate()
            try:
                server.wait(timeout=20)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait(timeout=10)


@pytest.fixture(scope="module")
def artifacts(tmp_path_factory: pytest.TempPathFactory) -> Path:
    chosen = os.environ.get("TICKETSMITH_TEST_ARTIFACTS")
    directory = Path(chosen) / "console" if chosen else tmp_path_factory.mktemp("console-screenshots")
    directory.mkdir(parents=True, exist_ok=True)
    print(f"\nconsole screenshots: {directory}")
    return directory


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with playwright_api.sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True)
        try:
            yield launched
        finally:
            launched.close()


class Checker:
    """Screenshots and axe-core runs for each page the test visits."""

    def __init__(self, page: Any, directory: Path) -> None:
        self.page = page
        self.directory = directory
        self.axe = AXE.read_text(encoding="utf-8")
        self.shots: list[Path] = []

    def look(self, name: str) -> None:
        """Save a full-page screenshot of the current page and assert axe finds nothing serious."""
        path = self.directory / f"{len(self.shots) + 1:02d}-{name}.png"
        self.page.screenshot(path=str(path), full_page=True)
        self.shots.append(path)
        if not self.page.evaluate("() => typeof window.axe !== 'undefined'"):
            self.page.evaluate(self.axe)  # evaluated by the debugger protocol: the page's CSP does not apply
        violations = self.page.evaluate(
            """async () => {
                const results = await window.axe.run(document, {resultTypes: ['violations']});
                return results.violations.map(v => ({
                    id: v.id, impact: v.impact, help: v.help,
                    nodes: v.nodes.slice(0, 3).map(n => n.target.join(' ') + ': ' + n.failureSummary),
                }));
            }"""
        )
        blocking = [v for v in violations if v["impact"] in BLOCKING]
        assert not blocking, f"{name} ({self.page.url}): " + json.dumps(blocking, indent=2)


def test_console_in_a_real_browser(service: Service, browser: Any, artifacts: Path) -> None:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.set_default_timeout(30_000)
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.on("response", lambda answer: errors.append(f"{answer.status} {answer.url}") if answer.status >= 400 else None)
    check = Checker(page, artifacts)
    expect = playwright_api.expect
    sections = page.get_by_role("navigation", name="Console sections")
    try:
        # Keys are configured: the console asks for one, and keeps it in an HttpOnly cookie.
        page.goto(service.base + "/")
        expect(page).to_have_url(service.base + "/login?next=%2F")
        check.look("sign-in")
        page.get_by_label("API key").fill(API_KEY)
        page.get_by_role("button", name="Sign in").click()
        expect(page.get_by_role("heading", name="Runs", exact=True)).to_be_visible()
        cookie = next(c for c in context.cookies() if c["name"] == "ticketsmith_key")
        assert cookie["httpOnly"]
        assert cookie["sameSite"] == "Strict"

        # Keyboard: the first Tab reaches the skip link, which moves focus to the main content.
        page.keyboard.press("Tab")
        assert page.evaluate("() => document.activeElement.className") == "skip-link"
        page.keyboard.press("Enter")
        assert page.evaluate("() => document.activeElement.id") == "main"
        check.look("runs-empty")

        # Start a scan of the seeded repository and follow it until it ends.
        page.get_by_label("Repository").fill(str(service.repository))
        page.get_by_role("button", name="Start scan").click()
        expect(page.get_by_role("heading", name="Trace")).to_be_visible()
        run_url = page.url
        assert "/runs/" in run_url
        state = page.locator("#run-state")
        expect(state).to_have_text(["succeeded"], timeout=SCAN_TIMEOUT_MS)
        expect(page.locator(".timeline > .step").first).to_be_visible()
        for step in ("sync", "check", "triage", "file"):
            expect(page.locator(".timeline > .step h3", has_text=step).first).to_be_visible()
        check.look("run-trace")

        # The run in the list, finished, with the tickets it filed.
        sections.get_by_role("link", name="Runs", exact=True).click()
        row = page.locator("#runs-table tbody tr").first
        expect(row.locator("[data-field='state']")).to_have_text("succeeded")
        assert int(row.locator("[data-field='tickets']").inner_text()) > 0
        check.look("runs")

        # Its findings by severity and file, with the code excerpt.
        page.goto(run_url)
        page.get_by_role("link", name="Findings of this run").first.click()
        expect(page.get_by_role("heading", name="Findings", exact=True)).to_be_visible()
        expect(page.locator(".finding").first).to_be_visible()
        expect(page.locator("h3.file", has_text="app/shell.py").first).to_be_visible()
        check.look("findings")

        # Find one of its tickets.
        page.goto(run_url)
        key = page.locator("table.decisions tbody tr td:nth-child(2)").first.inner_text().strip()
        assert key.startswith("LOCAL-"), key
        sections.get_by_role("link", name="Tickets", exact=True).click()
        page.get_by_label("Find a ticket").fill(key)
        page.get_by_role("button", name="Find").click()
        expect(page.locator("#ledger-table tbody tr")).to_have_count(1)
        expect(page.locator("#ledger-table tbody tr td").first).to_have_text(key)
        check.look("tickets")

        # Search the code; the words are marked and each hit cites its lines, which the code view marks.
        sections.get_by_role("link", name="Code search", exact=True).click()
        page.get_by_label("Search the knowledge base").fill("subprocess shell")
        page.get_by_role("button", name="Search").click()
        expect(page.locator("ol.hits mark").first).to_be_visible()
        check.look("search")
        page.locator("ol.hits .cite a").first.click()
        expect(page.locator("tr.marked").first).to_be_visible()
        check.look("code")

        sections.get_by_role("link", name="Confirmations", exact=True).click()
        expect(page.get_by_role("heading", name="Pending confirmations")).to_be_visible()
        check.look("confirmations")
        # Without JavaScript the pages work the same (forms and links; progress by refreshing).
        plain = browser.new_context(java_script_enabled=False)
        try:
            plain.add_cookies(context.cookies())
            no_script = plain.new_page()
            no_script.goto(run_url)
            expect(no_script.locator("#run-state")).to_have_text("succeeded")
            no_script.goto(service.base + "/")
            expect(no_script.get_by_role("button", name="Start scan")).to_be_enabled()
        finally:
            plain.close()
    finally:
        context.close()
    assert not errors, errors
    assert len(check.shots) == 9
