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
