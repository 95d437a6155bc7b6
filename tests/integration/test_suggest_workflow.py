"""`ticketsmith suggest` end to end: a real git repository with a real bug, the knowledge base, the SQLite
service database, and the Jira Cloud adapter over HTTP against the stateful fake Jira holding a ticket that
describes the bug. The posted diff applies with ``git apply --check`` at the indexed commit and changes the
right file; the comment is valid ADF; a model's diff that does not apply is never posted as a fix; a second
run posts nothing new; the user's repository is byte for byte as it was.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import anyio
import pytest
from jsonschema import Draft4Validator
from typer.testing import CliRunner

from service.adapters.jira import JiraTracker
from service.adapters.knowledge.memory import InMemoryChunkIndex
from service.adapters.llm.scripted import ScriptedLLM
from service.cli import app
from service.container import Container, build_container, build_worker, workflow_engine
from service.domain.action_calls import Trigger
from service.domain.runs import RunState, SpanKind
from service.domain.tickets import TicketDraft
from service.orchestrator.job import WORKFLOW_SUGGEST
from service.ports.llm import LLM
from service.settings import Settings
from tests.fakes.jira_server import FakeJira
from tests.fakes.jira_trackers import tracker_for
from tests.knowledge_fakes import CountingEmbedder
from tests.llm_fakes import text_reply, tool_reply
from tests.quality_repos import git, make_repo

runner = CliRunner()
SCHEMA = Path(__file__).resolve().parents[1] / ".schemas" / "adf-full.json"

PRICING = '''"""Prices and discounts."""

import os


def discount(price, code=None):
    """The price after the discount code, if any."""
    if code == None:
        return price
    return round(price * 0.9, 2)
'''
FILES: dict[str, str | bytes] = {
    "shop/__init__.py": "",
    "shop/pricing.py": PRICING,
    "shop/cart.py": (
        "from shop.pricing import discount\n\n\n"
        "def total(prices, code=None):\n"
        "    return sum(discount(price, code) for price in prices)\n"
    ),
    "README.md": "# Shop\n\nA tiny shop: carts, prices and discounts.\n",
}
SUMMARY = "discount() in shop/pricing.py imports os for nothing and compares code with == None"
DESCRIPTION = (
    "In shop/pricing.py the discount function checks `code == None` instead of `code is None`, and the module "
    "imports os without using it. Please fix the discount code check."
)
GOOD_DIFF = """--- a/shop/pricing.py
+++ b/shop/pricing.py
@@ -6,6 +6,6 @@

 def discount(price, code=None):
     \"\"\"The price after the discount code, if any.\"\"\"
-    if code == None:
+    if code is None:
         return price
     return round(price * 0.9, 2)
"""
BAD_DIFF = """--- a/shop/pricing.py
+++ b/shop/pricing.py
@@ -20,3 +20,3 @@
 def discount(price, code):
-    if code == None:
+    if code is None:
         return price
"""


class Backends:
    """What every command of a test shares, as a deployment would: the index, the embedder, Jira, the model."""

    def __init__(self, site: FakeJira) -> None:
        self.index = InMemoryChunkIndex()
        self.embedder = CountingEmbedder()
        self.tracker: JiraTracker = tracker_for(site)
        self.llm: LLM | None = None
        self.settings: Settings | None = None

    def __call__(self, settings: Settings) -> Container:
        self.settings = settings
        return build_container(
            settings, chunk_index=self.index, embedder=self.embedder, issue_tracker=self.tracker, llm=self.llm
        )

    def invoke(self, *args: str) -> dict[str, Any]:
        result = runner.invoke(app, [*args, "--json"], obj={"container_factory": self})
        assert result.exit_code == 0, result.output
        data: dict[str, Any] = json.loads(result.output)
        return data

    def suggest(self, key: str, *args: str) -> dict[str, Any]:
        return self.invoke("suggest", key, *args)


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
    backends = Backends(fake_jira_cloud)
    yield backends
    backends.tracker.close()


@pytest.fixture(scope="module")
def validator() -> Draft4Validator:
    if not SCHEMA.exists():
        reason = f"{SCHEMA} is missing: run `make test-schemas`"
        if os.environ.get("CI") == "true":
            pytest.fail(reason)
        pytest.skip(reason)
    return Draft4Validator(json.loads(SCHEMA.read_text()))


def snapshot(root: Path) -> dict[str, str]:
    """Every file under ``root`` (its ``.git`` too) by path, as a digest of its bytes."""
    return {
        str(path.relative_to(root)): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(root.rglob("*"))
        if path.is_file()
    }


def seeded(backends: Backends, tmp_path: Path) -> tuple[Path, str, str]:
    """The shop repository indexed, and the ticket describing its bug: (root, head commit, issue key)."""
    root = make_repo(tmp_path / "shop", FILES)
    git(root, "remote", "add", "origin", "git@github.com:acme/shop.git")
    head = git(root, "rev-parse", "HEAD").strip()
    backends.invoke("index", str(root))
    ticket = backends.tracker.create(
        draft=TicketDraft(project_key="OPS", summary=SUMMARY, description=DESCRIPTION, issue_type="Bug")
    )
    return root, head, ticket.key


def comments(site: FakeJira, key: str) -> list[dict[str, Any]]:
    with site.lock:
        issue = next(i for i in site.store.issues.values() if i.key == key)
        found: list[dict[str, Any]] = json.loads(json.dumps(issue.comments))
        return found


def code_blocks(node: Any, language: str = "diff") -> list[str]:
    """The text of every ADF ``codeBlock`` of ``language`` in ``node``."""
    if not isinstance(node, dict):
        return []
    if node.get("type") == "codeBlock" and (node.get("attrs") or {}).get("language") == language:
        return ["".join(child.get("text", "") for child in node.get("content", []))]
    return [block for child in node.get("content", []) for block in code_blocks(child, language)]


def adf_text(node: Any) -> str:
    if not isinstance(node, dict):
        return ""
    own = str(node.get("text", "")) + "".join(
        str(mark.get("attrs", {}).get("href", "")) for mark in node.get("marks", []) if mark.get("type") == "link"
    )
    return own + " ".join(adf_text(child) for child in node.get("content", []))


def applies_at(root: Path, commit: str, diff: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    """``git apply --check`` of ``diff`` in a fresh clone of ``root`` at ``commit``."""
    clone = tmp_path / f"check-{hashlib.sha256(diff.encode()).hexdigest()[:8]}"
    git(tmp_path, "clone", "-q", str(root), str(clone))
    git(clone, "checkout", "-q", "--detach", commit)
    text = diff if diff.endswith("\n") else diff + "\n"
    return subprocess.run(["git", "apply", "--check", "-"], cwd=clone, input=text, capture_output=True, text=True)


def test_without_a_model_the_mechanical_fix_is_posted_and_applies(
    backends: Backends, fake_jira_cloud: FakeJira, tmp_path: Path, validator: Draft4Validator
) -> None:
    root, head, key = seeded(backends, tmp_path)
    before = snapshot(root)

    first = backends.suggest(key)
    assert first["run"]["state"] == RunState.SUCCEEDED.value, first
    assert first["run"]["planner"] == "deterministic"
    result = first["result"]
    assert result["issue"] == key
    assert result["commit"] == head
    assert result["model_used"] is False
    assert result["suggestion"] == "mechanical"
    assert result["files"] == ["shop/pricing.py"]
    assert result["comment"]["action"] == "posted"

    posted = comments(fake_jira_cloud, key)
    assert len(posted) == 1
    body = posted[0]["body"]
    assert not [e.message for e in validator.iter_errors(body)]
    diffs = code_blocks(body)
    assert len(diffs) == 1
    assert "-import os" in diffs[0]
    assert "Would fix" not in diffs[0]  # ruff's own summary is not part of the diff
    checked = applies_at(root, head, diffs[0], tmp_path)
    assert checked.returncode == 0, checked.stderr
    assert "+++ b/shop/pricing.py" in diffs[0]
    text = adf_text(body)
    assert "No language model is configured" in text
    assert "no model was used" in text
    # Citations pinned to the indexed commit, on GitHub; the finding ruff fixes, with its rule.
    assert f"https://github.com/acme/shop/blob/{head}/shop/pricing.py#L" in text
    assert "ruff.F401" in text

    # A second run says the same: nothing new is posted.
    second = backends.suggest(key)
    assert second["run"]["state"] == RunState.SUCCEEDED.value
    assert second["result"]["comment"]["action"] == "already_posted"
    assert second["result"]["comment"]["id"] == posted[0]["id"]
    assert len(comments(fake_jira_cloud, key)) == 1

    assert snapshot(root) == before

    # The trace: the ticket read, the retrieval with citations, the apply check, the guardrail, the comment.
    assert backends.settings is not None
    container = build_container(backends.settings, chunk_index=backends.index, embedder=backends.embedder)
    try:
        spans = container.run_store.spans(first["run"]["id"])
    finally:
        container.close()
    kinds = {s.kind for s in spans}
    assert kinds >= {SpanKind.STEP, SpanKind.TOOL, SpanKind.RETRIEVAL, SpanKind.GUARDRAIL}
    retrieval = next(s for s in spans if s.kind is SpanKind.RETRIEVAL)
    assert any(c["path"] == "shop/pricing.py" for c in retrieval.attributes["citations"])
    actions = [s.attributes.get("action") for s in spans if s.kind is SpanKind.TOOL]
    assert actions == ["jira.getIssue", "quality.check", "git.applyCheck", "jira.addComment"]


def test_a_models_diff_that_applies_is_posted(
    backends: Backends, fake_jira_cloud: FakeJira, tmp_path: Path, validator: Draft4Validator
) -> None:
    root, head, key = seeded(backends, tmp_path)
    before = snapshot(root)
    model = ScriptedLLM(
        [
            tool_reply(("codebase_readFile", {"path": "shop/pricing.py"})),
            text_reply(
                "`discount` compares with `== None`; `is None` is the identity check PEP 8 asks for.\n\n"
                f"```diff\n{GOOD_DIFF}```\n"
            ),
        ],
        model_id="scripted-suggester",
    )
    backends.llm = model

    data = backends.suggest(key)
    assert data["run"]["state"] == RunState.SUCCEEDED.value, data
    result = data["result"]
    assert result["model_used"] is True
    assert result["suggestion"] == "model"
    assert result["files"] == ["shop/pricing.py"]
    # The ticket reached the model as data, never as instructions.
    prompt = model.requests[0].messages[0].content[0]
    assert '<untrusted-data label="the description of' in getattr(prompt, "text", "")
    # It looked at the file with the read-only tools (and what it read came back as data too).
    assert {spec.name for spec in model.requests[0].tools} == {"codebase_searchCode", "codebase_readFile"}
    read = model.requests[1].messages[-1].content[0]
    assert "<untrusted-data" in json.dumps(getattr(read, "content", {}))

    body = comments(fake_jira_cloud, key)[0]["body"]
    assert not [e.message for e in validator.iter_errors(body)]
    (diff,) = code_blocks(body)
    assert "+    if code is None:" in diff
    assert applies_at(root, head, diff, tmp_path).returncode == 0
    assert "scripted-suggester" in adf_text(body)
    assert snapshot(root) == before


def test_a_models_diff_that_does_not_apply_is_not_posted_as_a_fix(
    backends: Backends, fake_jira_cloud: FakeJira, tmp_path: Path, validator: Draft4Validator
) -> None:
    root, head, key = seeded(backends, tmp_path)
    backends.llm = ScriptedLLM([text_reply(f"Use `is None`.\n\n```diff\n{BAD_DIFF}```\n")])

    data = backends.suggest(key)
    assert data["run"]["state"] == RunState.SUCCEEDED.value, data
    result = data["result"]
    assert result["suggestion"] == "mechanical"  # ruff's fix, which applies, instead
    assert "git apply --check failed" in result["model_diff_dropped"]

    body = comments(fake_jira_cloud, key)[0]["body"]
    assert not [e.message for e in validator.iter_errors(body)]
    text = adf_text(body)
    assert "is not posted" in text
    assert "git apply --check failed" in text
    diffs = code_blocks(body)
    assert all("@@ -20,3 +20,3 @@" not in d for d in diffs)
    assert all(applies_at(root, head, d, tmp_path).returncode == 0 for d in diffs)


def test_dry_run_posts_nothing(backends: Backends, fake_jira_cloud: FakeJira, tmp_path: Path) -> None:
    _, _, key = seeded(backends, tmp_path)
    data = backends.suggest(key, "--dry-run")
    assert data["run"]["state"] == RunState.SUCCEEDED.value
    assert data["result"]["comment"]["action"] == "drafted"
    assert "```diff" in data["comment_body"]
    assert comments(fake_jira_cloud, key) == []


def test_an_unknown_ticket_fails_the_run_with_the_reason(backends: Backends, tmp_path: Path) -> None:
    seeded(backends, tmp_path)
    result = runner.invoke(app, ["suggest", "OPS-999", "--json"], obj={"container_factory": backends})
    assert result.exit_code == 1
    data = json.loads(result.output)
    assert data["run"]["state"] == RunState.FAILED.value
    assert data["run"]["error"]
    bad = runner.invoke(app, ["suggest", "not a key", "--json"], obj={"container_factory": backends})
    assert bad.exit_code == 2
    assert json.loads(bad.output)["error"]["code"] == "invalid_input"


def test_a_jira_trigger_becomes_one_suggest_run(backends: Backends, fake_jira_cloud: FakeJira, tmp_path: Path) -> None:
    root, _, key = seeded(backends, tmp_path)
    before = snapshot(root)
    assert backends.settings is not None
    container = backends(backends.settings)
    try:
        payload = {
            "rule": "label-ts-suggest",
            "workflow": "suggest",
            "issue": key,
            "project": "OPS",
            "parameters": {},
            "delivery": "d-1",
        }
        for _ in range(2):  # the same delivery twice: one run
            container.job_queue.enqueue(
                kind=WORKFLOW_SUGGEST, payload=payload, now=container.started_at, dedup_key=None
            )
        worker = build_worker(container, worker_id="test")
        anyio.run(worker.drain)
        runs = container.runs.list(workflow="suggest")
        assert len(runs) == 1
        run = runs[0]
        assert run.trigger is Trigger.JIRA_WEBHOOK
        assert run.state is RunState.SUCCEEDED, run.error
        assert (run.result or {})["comment"]["action"] == "posted"
    finally:
        container.close()
    assert len(comments(fake_jira_cloud, key)) == 1
    assert snapshot(root) == before


def test_a_comment_step_retried_after_posting_posts_nothing_twice(
    backends: Backends, fake_jira_cloud: FakeJira, tmp_path: Path
) -> None:
    _, _, key = seeded(backends, tmp_path)
    first = backends.suggest(key)
    assert len(comments(fake_jira_cloud, key)) == 1
    assert backends.settings is not None
    container = backends(backends.settings)
    try:
        store = container.run_store
        done = store.get(first["run"]["id"])
        # As if the worker died after Jira took the comment and before the step's progress was saved.
        checkpoint = {k: v for k, v in done.checkpoint.items() if k not in ("comment", "comment_progress")}
        store.save(replace(done, state=RunState.RUNNING, step="comment", checkpoint=checkpoint, finished_at=None))
        again = workflow_engine(container).advance(done.id)
    finally:
        container.close()
    assert again.state is RunState.SUCCEEDED
    assert (again.result or {})["comment"]["action"] == "already_posted"
    assert len(comments(fake_jira_cloud, key)) == 1


def test_a_policy_that_refuses_comments_keeps_the_suggestion_and_says_why(
    backends: Backends, fake_jira_cloud: FakeJira, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, _, key = seeded(backends, tmp_path)
    monkeypatch.setenv(
        "TICKETSMITH_GUARDRAILS__ALLOWED_ACTIONS", json.dumps({"cli": ["codebase.*", "quality.*", "jira.getIssue"]})
    )
    data = backends.suggest(key)
    assert data["run"]["state"] == RunState.SUCCEEDED.value
    assert data["result"]["comment"]["action"] == "denied"
    assert "jira.addComment" in data["result"]["comment"]["reason"]
    assert "```diff" in data["comment_body"]
    assert comments(fake_jira_cloud, key) == []


def test_on_jira_data_center_the_diff_is_a_wiki_code_block_posted_once(
    fake_jira_dc: FakeJira, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("TICKETSMITH_API_KEYS", raising=False)
    monkeypatch.setenv("TICKETSMITH_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("TICKETSMITH_JIRA__PROJECT_KEY", "OPS")
    backends = Backends(fake_jira_dc)
    try:
        root, head, key = seeded(backends, tmp_path)
        assert backends.suggest(key)["result"]["comment"]["action"] == "posted"
        assert backends.suggest(key)["result"]["comment"]["action"] == "already_posted"
    finally:
        backends.tracker.close()
    (posted,) = comments(fake_jira_dc, key)
    body = str(posted["body"])
    assert "{code:diff}" in body
    diff = body.split("{code:diff}\n", 1)[1].split("\n{code}", 1)[0]
    assert applies_at(root, head, diff, tmp_path).returncode == 0


def test_the_plain_output_says_no_model_was_used(backends: Backends, tmp_path: Path) -> None:
    _, _, key = seeded(backends, tmp_path)
    result = runner.invoke(app, ["suggest", key, "--dry-run"], obj={"container_factory": backends})
    assert result.exit_code == 0, result.output
    assert "no language model is configured" in result.output
    assert "```diff" in result.output
    assert "drafted on" in result.output
    assert "ticketsmith runs show" in result.output
