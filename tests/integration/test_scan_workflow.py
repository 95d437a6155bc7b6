"""`ticketsmith scan` end to end: a real git repository with seeded defects and decoys, the real checkers, the
knowledge base, the SQLite service database, and the Jira Cloud adapter over HTTP against the stateful fake
Jira. One ticket per problem for the seeded defects, none for the decoys, none on a second run, none after a
refactor that moves every line, and no planted secret in any ticket, span or stored run.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from service.adapters.jira import JiraTracker
from service.adapters.knowledge.memory import InMemoryChunkIndex
from service.cli import app
from service.container import Container, build_container
from service.domain.runs import RunState, SpanKind
from service.settings import Settings
from tests.fakes.jira_server import FakeJira
from tests.fakes.jira_trackers import tracker_for
from tests.knowledge_fakes import CountingEmbedder
from tests.quality_repos import commit, git, make_repo, write
from tests.scan_repos import DECOY_FILES, DEFECT_FILES, FILES, PLANTED_SECRETS, shifted

runner = CliRunner()


class Backends:
    """What every command of a test shares, as a deployment would: the index, the embedder and Jira."""

    def __init__(self, site: FakeJira) -> None:
        self.index = InMemoryChunkIndex()
        self.embedder = CountingEmbedder()
        self.tracker: JiraTracker = tracker_for(site)
        self.settings: Settings | None = None

    def __call__(self, settings: Settings) -> Container:
        self.settings = settings
        return build_container(settings, chunk_index=self.index, embedder=self.embedder, issue_tracker=self.tracker)

    def scan(self, *args: str) -> dict[str, Any]:
        result = runner.invoke(app, ["scan", *args, "--json"], obj={"container_factory": self})
        assert result.exit_code == 0, result.output
        data: dict[str, Any] = json.loads(result.output)
        return data


@pytest.fixture
def backends(fake_jira_cloud: FakeJira, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Backends]:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("TICKETSMITH_API_KEYS", raising=False)
    monkeypatch.setenv("TICKETSMITH_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("TICKETSMITH_JIRA__URL", fake_jira_cloud.base_url)
    monkeypatch.setenv("TICKETSMITH_JIRA__DEPLOYMENT", "cloud")
    monkeypatch.setenv("TICKETSMITH_JIRA__EMAIL", fake_jira_cloud.email)
    monkeypatch.setenv("TICKETSMITH_JIRA__API_TOKEN", fake_jira_cloud.api_token)
    monkeypatch.setenv("TICKETSMITH_JIRA__PROJECT_KEY", "OPS")
    monkeypatch.setenv("TICKETSMITH_KNOWLEDGE_BASE__FUSION", "rrf")
    backends = Backends(fake_jira_cloud)
    yield backends
    backends.tracker.close()


def issues(site: FakeJira) -> list[dict[str, Any]]:
    with site.lock:
        return [
            {
                "key": issue.key,
                "summary": issue.summary,
                "description": json.dumps(issue.description),
                "labels": list(issue.labels),
                "comments": json.dumps(issue.comments),
            }
            for issue in site.store.issues.values()
        ]


def test_scan_files_one_ticket_per_seeded_problem_and_nothing_twice(
    backends: Backends, fake_jira_cloud: FakeJira, tmp_path: Path
) -> None:
    root = make_repo(tmp_path / "shop", FILES)
    git(root, "remote", "add", "origin", "git@github.com:acme/shop.git")
    head = git(root, "rev-parse", "HEAD").strip()

    first = backends.scan(str(root))
    assert first["run"]["state"] == RunState.SUCCEEDED.value, first
    assert first["run"]["planner"] == "deterministic"
    result = first["result"]
    tickets = result["tickets"]
    assert result["created"] == len(tickets) == len(issues(fake_jira_cloud))
    filed = issues(fake_jira_cloud)
    text = " ".join(i["summary"] + i["description"] for i in filed)
    # Every seeded defect has a ticket; the two unused imports (same mistake, two files) share one.
    for path in DEFECT_FILES:
        assert path in text, f"no ticket mentions {path}"
    unused = [i for i in filed if "imported but unused" in i["summary"]]
    assert len(unused) == 1
    assert "shop/models.py" in unused[0]["description"]
    assert "shop/helpers.py" in unused[0]["description"]
    # Nothing about the decoys, which look like the defects but are fine (they may be cited as related code).
    for path in DECOY_FILES:
        assert path not in " ".join(i["summary"] for i in filed)
    # Worst first, with commit-pinned links on GitHub and the fingerprint label.
    assert tickets[0]["severity"] == "critical"
    shell = next(i for i in filed if "shell=True" in i["summary"])
    assert f"https://github.com/acme/shop/blob/{head}/shop/shell.py#L5" in shell["description"]
    assert any(label.startswith("ts-fp-") for label in shell["labels"])
    assert all(len(i["summary"]) <= 255 for i in filed)
    assert all(t["key"] and t["url"] for t in tickets)

    second = backends.scan(str(root))
    assert second["run"]["state"] == RunState.SUCCEEDED.value
    assert second["result"]["created"] == 0
    assert second["result"]["already_ticketed"] == len(tickets)
    assert len(issues(fake_jira_cloud)) == len(tickets)

    write(root, {path: shifted(FILES[path]) for path in DEFECT_FILES if isinstance(FILES[path], str)})
    commit(root, "refactor: module docstrings and helpers on top")
    third = backends.scan("shop")  # by name, now that it is indexed
    assert third["run"]["state"] == RunState.SUCCEEDED.value
    assert (third["result"]["created"], third["result"]["updated"]) == (0, 0)
    assert len(issues(fake_jira_cloud)) == len(tickets)
    assert all(i["comments"] == "[]" for i in issues(fake_jira_cloud))

    # No planted secret anywhere: tickets, comments, spans, stored runs.
    assert backends.settings is not None
    container = build_container(backends.settings, chunk_index=backends.index, embedder=backends.embedder)
    try:
        store = container.run_store
        runs = [store.get(data["run"]["id"]) for data in (first, second, third)]
        spans = [span for run in runs for span in store.spans(run.id)]
    finally:
        container.close()
    drafted = {x["path"] for d in runs[0].checkpoint["write"]["drafts"] for x in d["locations"]}
    assert drafted == DEFECT_FILES
    model_spans = [s for s in spans if s.kind is SpanKind.MODEL]
    assert model_spans
    assert all(s.attributes["model_id"] == "deterministic" for s in model_spans)
    assert all(s.attributes["note"] == "no model was used" and s.attributes["prompt_version"] for s in model_spans)
    assert {s.kind for s in spans} >= {SpanKind.STEP, SpanKind.TOOL, SpanKind.RETRIEVAL, SpanKind.GUARDRAIL}
    everything = json.dumps(issues(fake_jira_cloud)) + json.dumps(
        [[s.attributes for s in spans], [(r.checkpoint, r.result) for r in runs], [first, second, third]],
        default=str,
    )
    for secret in PLANTED_SECRETS:
        assert secret not in everything


def test_dry_run_prints_the_tickets_and_files_nothing(
    backends: Backends, fake_jira_cloud: FakeJira, tmp_path: Path
) -> None:
    root = make_repo(tmp_path / "shop", FILES)
    result = runner.invoke(app, ["scan", str(root), "--dry-run"], obj={"container_factory": backends})
    assert result.exit_code == 0, result.output
    assert "## Why it matters" in result.output
    assert "## Suggested fix" in result.output
    assert "shop/shell.py@" in result.output  # no known remote: path@commit:lines
    assert "Dry run" in result.output
    assert "ticketsmith runs show" in result.output
    assert issues(fake_jira_cloud) == []
    for secret in PLANTED_SECRETS:
        assert secret not in result.output


def test_an_unknown_target_is_a_clear_error(backends: Backends) -> None:
    result = runner.invoke(app, ["scan", "no-such-repository", "--json"], obj={"container_factory": backends})
    assert result.exit_code == 2
    assert json.loads(result.output)["error"]["code"] == "invalid_input"


def test_since_scans_only_the_files_changed_since_a_ref(
    backends: Backends, fake_jira_cloud: FakeJira, tmp_path: Path
) -> None:
    root = make_repo(tmp_path / "shop", FILES)
    write(root, {"shop/jobs.py": "import subprocess\n\n\ndef go(cmd):\n    return subprocess.run(cmd, shell=True)\n"})
    commit(root, "jobs")
    data = backends.scan(str(root), "--since", "HEAD~1", "--dry-run")
    assert data["run"]["state"] == RunState.SUCCEEDED.value
    assert data["result"]["since"] == "HEAD~1"
    assert data["result"]["files_checked"] == 1
    assert {x["path"] for d in data["drafts"] for x in d["locations"]} == {"shop/jobs.py"}
    assert issues(fake_jira_cloud) == []
