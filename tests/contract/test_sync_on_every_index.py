"""Index, sync and embed a real repository on every ChunkIndex backend (memory, SQLite, PostgreSQL): the indexer
relies only on the port, so the same changes give the same index everywhere."""

from __future__ import annotations

from pathlib import Path

import pytest

from service.knowledge_base.library import KnowledgeBase
from service.knowledge_base.selection import SelectionRules
from service.ports.chunk_index import ChunkIndex
from tests.knowledge_fakes import CountingEmbedder
from tests.knowledge_repos import INDEXED, MAX_FILE_BYTES, SKIPPED, commit, git, make_knowledge_repo, write


@pytest.fixture
def index(chunk_index: ChunkIndex) -> ChunkIndex:
    return chunk_index


def test_index_sync_and_embed(index: ChunkIndex, tmp_path: Path) -> None:
    root = make_knowledge_repo(tmp_path / "triage")
    embedder = CountingEmbedder()
    knowledge = KnowledgeBase(
        index, embedder, data_dir=tmp_path / "data", rules=SelectionRules(max_file_bytes=MAX_FILE_BYTES), embed_batch=5
    )
    first = knowledge.sync(str(root), name=None, ref=None)
    assert first.files == len(INDEXED)
    assert {s.path for s in first.skipped} == set(SKIPPED)
    knowledge.embed("triage")
    before = set(embedder.texts)

    write(root, {"triage/rota.py": "def on_call_rota():\n    return ['ana']\n"})
    git(root, "mv", "web/badge.js", "web/badges.js")
    git(root, "rm", "-q", "docs/notes.txt")
    commit(root, "change")

    def interrupted(done: int, total: int) -> None:
        raise RuntimeError("interrupted")

    with pytest.raises(RuntimeError):
        knowledge.sync(None, name="triage", ref=None, progress=interrupted)
    assert index.get_repository(name="triage").commit == first.commit
    assert "docs/notes.txt" in index.file_blobs(repository="triage")

    second = knowledge.sync(None, name="triage", ref=None)
    assert set(second.processed_paths) == {"triage/rota.py", "web/badges.js"}
    assert (second.added, second.deleted, second.renamed) == (1, 1, 1)
    assert set(index.file_blobs(repository="triage")) == (INDEXED - {"docs/notes.txt", "web/badge.js"}) | {
        "triage/rota.py",
        "web/badges.js",
    }
    knowledge.embed("triage")
    assert not set(embedder.texts[len(before) :]) & before
    status = knowledge.status("triage")
    assert status.embedded == status.chunks == second.chunks
    top = knowledge.search("on call rota", repository="triage", k=3)
    assert top.mode == "hybrid"
    assert "triage/rota.py" in {hit.chunk.path for hit in top.hits}  # the fake's vectors are noise: no ranking
    lexical = knowledge.search("on call rota", repository="triage", k=3, mode="lexical")
    assert lexical.hits[0].chunk.path == "triage/rota.py"


def test_a_renamed_or_copied_file_is_never_embedded_again(index: ChunkIndex, tmp_path: Path) -> None:
    root = make_knowledge_repo(tmp_path / "triage")
    embedder = CountingEmbedder()
    knowledge = KnowledgeBase(
        index, embedder, data_dir=tmp_path / "data", rules=SelectionRules(max_file_bytes=MAX_FILE_BYTES), embed_batch=5
    )
    first = knowledge.sync(str(root), name=None, ref=None)
    assert knowledge.embed("triage") is not None
    embedded_before = len(embedder.texts)
    assert embedded_before > 0
    original = index.find_symbols(repository="triage", name="parse_priority")[0]
    assert original.path == "triage/router.py"

    git(root, "mv", "triage/router.py", "triage/routing.py")
    write(root, {"web/ticket_copy.ts": (root / "web/ticket.ts").read_text()})  # the same blob at a second path
    commit(root, "move the router, copy the ticket type")

    second = knowledge.sync(None, name="triage", ref=None)
    assert second.previous_commit == first.commit
    assert set(second.processed_paths) == {"triage/routing.py", "web/ticket_copy.ts"}
    assert (second.added, second.renamed, second.deleted) == (1, 1, 0)
    blobs = index.file_blobs(repository="triage")
    assert "triage/router.py" not in blobs
    assert blobs["web/ticket_copy.ts"] == blobs["web/ticket.ts"]

    summary = knowledge.embed("triage")
    assert summary is not None
    assert summary.embedded == 0
    assert len(embedder.texts) == embedded_before  # not one text sent to the model for the moved chunks
    status = knowledge.status("triage")
    assert status.embedded == status.chunks == second.chunks  # and every chunk has its vector

    moved = index.chunks_for_path(repository="triage", path="triage/routing.py")
    assert moved
    assert all(c.header.startswith("# file: triage/routing.py") for c in moved)
    lexical = knowledge.search("parse priority", repository="triage", k=3, mode="lexical")
    assert lexical.hits[0].chunk.path == "triage/routing.py"
    assert "triage/routing.py" in lexical.hits[0].chunk.content  # results show the header with the new path
    renamed = next(c for c in moved if c.symbol == "parse_priority")
    assert renamed.embedding_key == original.embedding_key
    # The vector embedded for the chunk at its old path serves it at the new one (the fake embeds a text alike
    # each time, so querying with the old content finds exactly that vector), and the hit cites the new path.
    dense = knowledge.search(original.content, repository="triage", k=1, mode="dense")
    assert dense.mode == "dense"
    assert [hit.chunk.path for hit in dense.hits] == ["triage/routing.py"]
    assert dense.hits[0].score == pytest.approx(1.0, abs=1e-5)
    hybrid = knowledge.search("summarize ticket", repository="triage", k=5)
    assert hybrid.mode == "hybrid"
    assert {"web/ticket.ts", "web/ticket_copy.ts"} <= {hit.chunk.path for hit in hybrid.hits}
    assert not {hit.chunk.path for hit in hybrid.hits} & {"triage/router.py"}
