"""The knowledge-base facade: search modes and their fallbacks, status, and work trees for `check NAME`."""

from __future__ import annotations

from pathlib import Path

import pytest

from service.adapters.knowledge.memory import InMemoryChunkIndex
from service.errors import InvalidInput, NotFound
from service.knowledge_base.library import KnowledgeBase
from service.knowledge_base.selection import SelectionRules
from tests.knowledge_fakes import CountingEmbedder
from tests.knowledge_repos import MAX_FILE_BYTES, commit, git, make_knowledge_repo, write


def _base(tmp_path: Path, embedder: CountingEmbedder | None) -> KnowledgeBase:
    return KnowledgeBase(
        InMemoryChunkIndex(),
        embedder,
        data_dir=tmp_path / "data",
        rules=SelectionRules(max_file_bytes=MAX_FILE_BYTES),
    )


def test_modes_and_coverage(tmp_path: Path) -> None:
    root = make_knowledge_repo(tmp_path / "triage")
    knowledge = _base(tmp_path, CountingEmbedder())
    knowledge.sync(str(root), name=None, ref=None)
    early = knowledge.search("parse priority", repository="triage", k=3)
    assert early.mode == "lexical"
    assert early.note == "lexical only: nothing is embedded yet"
    knowledge.embed("triage")
    status = knowledge.status("triage")
    assert status.embedded == status.chunks > 0
    hybrid = knowledge.search("parse priority", repository="triage", k=3)
    assert (hybrid.mode, hybrid.note) == ("hybrid", None)
    assert hybrid.hits[0].chunk.symbol == "parse_priority"
    dense = knowledge.search("parse priority", repository="triage", k=3, mode="dense")
    assert len(dense.hits) == 3


def test_dense_without_a_model_is_refused(tmp_path: Path) -> None:
    root = make_knowledge_repo(tmp_path / "triage")
    knowledge = _base(tmp_path, None)
    knowledge.sync(str(root), name=None, ref=None)
    assert knowledge.embed("triage") is None
    dense = knowledge.search("parse priority", repository="triage", mode="dense")
    assert (dense.mode, dense.note) == ("lexical", "lexical only: no embedding model is configured")
    with pytest.raises(InvalidInput, match="unknown search mode"):
        knowledge.search("x", repository="triage", mode="fuzzy")
    with pytest.raises(NotFound) as caught:
        knowledge.status("other")
    assert caught.value.hint == "index it first: ticketsmith index PATH_OR_URL --name other"


def test_default_repository(tmp_path: Path) -> None:
    knowledge = _base(tmp_path, None)
    with pytest.raises(NotFound):
        knowledge.default_repository(None)
    root = make_knowledge_repo(tmp_path / "triage")
    knowledge.sync(str(root), name="a", ref=None)
    assert knowledge.default_repository(None) == "a"
    knowledge.sync(str(root), name="b", ref=None)
    with pytest.raises(InvalidInput, match="several"):
        knowledge.default_repository(None)


def test_work_tree_of_a_clone_is_the_indexed_commit(tmp_path: Path) -> None:
    origin = make_knowledge_repo(tmp_path / "origin")
    knowledge = _base(tmp_path, None)
    first = knowledge.sync(f"file://{origin}", name="cloned", ref=None)
    tree = knowledge.work_tree("cloned")
    assert tree == (tmp_path / "data" / "worktrees" / "cloned").resolve()
    assert git(tree, "rev-parse", "HEAD").strip() == first.commit
    assert (tree / "triage" / "router.py").exists()
    write(origin, {"later.py": "L = 1\n"})
    newer = commit(origin, "later")
    knowledge.sync(None, name="cloned", ref=None)
    assert git(knowledge.work_tree("cloned"), "rev-parse", "HEAD").strip() == newer
    local = make_knowledge_repo(tmp_path / "local")
    knowledge.sync(str(local), name="local", ref=None)
    assert knowledge.work_tree("local") == local.resolve()


def test_documents_are_chunked_by_structure_and_broken_ones_skipped(tmp_path: Path) -> None:
    from fpdf import FPDF

    pdf = FPDF()
    pdf.add_page()
    pdf.set_font("helvetica", size=12)
    pdf.cell(text="Escalation runbook: page the on-call engineer.")
    root = make_knowledge_repo(tmp_path / "triage")
    write(root, {"docs/runbook.pdf": bytes(pdf.output()), "docs/broken.docx": b"PK\x03\x04 not really a zip"})
    commit(root, "documents")
    knowledge = _base(tmp_path, None)
    summary = knowledge.sync(str(root), name=None, ref=None)
    reasons = {s.path: s.reason for s in summary.skipped}
    assert reasons["docs/broken.docx"].startswith("could not be parsed: ")
    assert summary.languages["pdf"] == 1
    assert summary.languages["markdown"] == 1
    page = knowledge.index.chunks_for_path(repository="triage", path="docs/runbook.pdf")[0]
    assert (page.kind, page.symbol, page.start_line) == ("page", "page 1", 1)
    hits = knowledge.search("on-call runbook", repository="triage", k=3, mode="lexical").hits
    assert hits[0].chunk.path == "docs/runbook.pdf"
    readme = knowledge.index.chunks_for_path(repository="triage", path="README.md")
    assert {c.kind for c in readme} == {"section"}
