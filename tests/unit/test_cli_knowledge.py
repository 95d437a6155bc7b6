"""`ticketsmith index`, `search`, `repos list` and `check NAME` through the CLI, with fakes handed to the container."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from service.adapters.knowledge.memory import InMemoryChunkIndex
from service.cli import app
from service.container import Container, build_container
from service.errors import UpstreamFailed
from service.ports.embedder import Matrix
from service.settings import Settings
from tests.knowledge_fakes import CountingEmbedder
from tests.knowledge_repos import INDEXED, SKIPPED, commit, git, make_knowledge_repo, write

runner = CliRunner()


@pytest.fixture(autouse=True)
def _isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("TICKETSMITH_API_KEYS", raising=False)
    monkeypatch.setenv("TICKETSMITH_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("TICKETSMITH_INDEXING__MAX_FILE_BYTES", "1000")
    # Equal-weight RRF, as FAKE_EMBEDDER_FUSION says why.
    monkeypatch.setenv("TICKETSMITH_KNOWLEDGE_BASE__FUSION", "rrf")
    monkeypatch.setenv("TICKETSMITH_KNOWLEDGE_BASE__LEXICAL_WEIGHT", "1")
    monkeypatch.setenv("TICKETSMITH_KNOWLEDGE_BASE__DENSE_WEIGHT", "1")


class Backends:
    """One index and one embedder shared by every command of a test, as a persistent store would be."""

    def __init__(self) -> None:
        self.index = InMemoryChunkIndex()
        self.embedder = CountingEmbedder()

    def __call__(self, settings: Settings) -> Container:
        return build_container(settings, chunk_index=self.index, embedder=self.embedder)

    def run(self, *args: str) -> Any:
        result = runner.invoke(app, list(args), obj={"container_factory": self})
        return result


@pytest.fixture
def backends() -> Backends:
    return Backends()


def test_index_then_sync_then_search(tmp_path: Path, backends: Backends) -> None:
    root = make_knowledge_repo(tmp_path / "triage")
    result = backends.run("index", str(root), "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    summary = data["index"]
    assert summary["repository"] == "triage"
    assert summary["files"] == len(INDEXED)
    assert {s["path"] for s in summary["skipped"]} == set(SKIPPED)
    assert summary["commit"] == git(root, "rev-parse", "HEAD").strip()
    assert data["embedding"]["covered"] == data["embedding"]["total"] == summary["chunks"]
    first_texts = set(backends.embedder.texts)

    write(root, {"triage/escalate.py": "def escalate_ticket(ticket):\n    return ticket.priority < 2\n"})
    commit(root, "escalate")
    again = backends.run("index", "triage", "--json")  # a known name syncs from where it was indexed
    assert again.exit_code == 0, again.output
    resynced = json.loads(again.output)["index"]
    assert (resynced["incremental"], resynced["processed"], resynced["added"]) == (True, 1, 1)
    later = backends.embedder.texts[len(first_texts) :]
    assert later
    assert not set(later) & first_texts

    found = backends.run("search", "escalate ticket priority", "--json")
    assert found.exit_code == 0, found.output
    results = json.loads(found.output)
    top = results["results"][0]
    assert top["path"] == "triage/escalate.py"
    assert top["symbol"] == "escalate_ticket"
    assert top["citation"] == f"triage/escalate.py:1-2@{results['commit'][:12]}"
    assert results["mode"] == "hybrid"
    assert results["dense"]["coverage"] == 1.0

    lexical = json.loads(backends.run("search", "badge", "--mode", "lexical", "--path", "web/*", "--json").output)
    assert lexical["mode"] == "lexical"
    assert lexical["results"]
    assert all(r["path"].startswith("web/") for r in lexical["results"])
    only_go = json.loads(backends.run("search", "retry budget", "--language", "go", "--json").output)
    assert {r["language"] for r in only_go["results"]} == {"go"}

    listed = json.loads(backends.run("repos", "list", "--json").output)["repositories"]
    assert [(r["name"], r["files"], r["dense_coverage"]) for r in listed] == [("triage", len(INDEXED) + 1, 1.0)]


def test_index_without_embedding_and_human_output(tmp_path: Path, backends: Backends) -> None:
    root = make_knowledge_repo(tmp_path / "triage")
    result = backends.run("index", str(root), "--no-embed", "--name", "t2")
    assert result.exit_code == 0, result.output
    assert "t2" in result.output
    assert "skipped 11 files" in result.output
    assert "secrets file: .env, deploy/server.pem" in result.output
    assert "too large: data/huge.txt" in result.output
    assert backends.embedder.calls == []
    found = backends.run("search", "parse priority", "--repo", "t2")
    assert found.exit_code == 0, found.output
    assert "triage/router.py:16-19" in found.output
    assert "lexical only: nothing is embedded yet" in found.output


def test_search_errors(tmp_path: Path, backends: Backends) -> None:
    nothing = backends.run("search", "x", "--json")
    assert nothing.exit_code == 1
    assert json.loads(nothing.output)["error"]["code"] == "not_found"
    backends.run("index", str(make_knowledge_repo(tmp_path / "triage")), "--no-embed")
    unknown = backends.run("search", "x", "--repo", "other", "--json")
    assert unknown.exit_code == 1
    assert "ticketsmith index" in json.loads(unknown.output)["error"]["hint"]
    bad_mode = backends.run("search", "x", "--mode", "fuzzy", "--json")
    assert bad_mode.exit_code == 2
    missing = backends.run("index", str(tmp_path / "missing"), "--json")
    assert missing.exit_code == 2


def test_check_accepts_an_indexed_name(tmp_path: Path, backends: Backends) -> None:
    root = make_knowledge_repo(tmp_path / "checkout")
    assert backends.run("index", str(root), "--name", "seeded", "--no-embed").exit_code == 0
    result = backends.run("check", "seeded", "--json", "--fail-on", "critical")
    assert result.exit_code in (0, 1), result.output
    report = json.loads(result.output)
    assert Path(report["root"]).resolve() == root.resolve()
    assert report["files_checked"] > 0


def test_check_of_an_unknown_name_says_how_to_index_it(backends: Backends) -> None:
    result = backends.run("check", "nosuchrepo", "--json")
    assert result.exit_code == 2
    error = json.loads(result.output)["error"]
    assert "neither a directory nor the name of an indexed repository" in error["message"]
    assert error["hint"].endswith("ticketsmith index PATH --name nosuchrepo")


def test_the_default_embedded_index_persists_between_commands(tmp_path: Path) -> None:
    root = make_knowledge_repo(tmp_path / "triage")
    indexed = runner.invoke(app, ["index", str(root), "--no-embed", "--json"])
    assert indexed.exit_code == 0, indexed.output
    assert (tmp_path / "data" / "index" / "knowledge.db").exists()
    found = runner.invoke(app, ["search", "parse priority", "--mode", "lexical", "--json"])
    assert found.exit_code == 0, found.output
    assert json.loads(found.output)["results"][0]["path"] == "triage/router.py"
    write(root, {"triage/router.py": "def parse_priority(title):\n    return 1\n"})
    commit(root, "simpler")
    again = json.loads(runner.invoke(app, ["index", str(root), "--no-embed", "--json"]).output)["index"]
    assert (again["incremental"], again["processed"], again["modified"]) == (True, 1, 1)


class FlakyEmbedder(CountingEmbedder):
    """Fails on its second call, as a remote model might."""

    def embed_documents(self, texts: Sequence[str]) -> Matrix:
        if len(self.calls) == 1:
            self.calls.append([])
            raise UpstreamFailed("the embedding endpoint answered 503", hint="try again later")
        return super().embed_documents(texts)


def test_an_embedding_failure_keeps_the_lexical_index_and_resumes(
    tmp_path: Path, backends: Backends, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TICKETSMITH_EMBEDDINGS__BATCH_SIZE", "4")
    backends.embedder = FlakyEmbedder()
    root = make_knowledge_repo(tmp_path / "triage")
    result = backends.run("index", str(root), "--json")
    assert result.exit_code == 1, result.output
    data = json.loads(result.output)
    assert data["index"]["files"] == len(INDEXED)
    assert data["embedding_error"]["code"] == "upstream_failed"
    first_batch = set(backends.embedder.calls[0])
    assert len(first_batch) == 4
    assert backends.run("search", "parse priority", "--json").exit_code == 0
    resumed = backends.run("index", "triage", "--json")
    assert resumed.exit_code == 0, resumed.output
    embedding = json.loads(resumed.output)["embedding"]
    assert embedding["covered"] == embedding["total"]
    later = [text for call in backends.embedder.calls[2:] for text in call]
    assert not set(later) & first_batch
