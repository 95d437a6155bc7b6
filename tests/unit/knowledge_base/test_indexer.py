"""Full index and incremental sync on a real repository: exactly the changed files are re-read, content already
embedded is never embedded again, and a failure leaves the previous index whole."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from pathlib import Path

import pytest

from service.adapters.knowledge.memory import InMemoryChunkIndex
from service.domain.knowledge import IndexedChunk, IndexedFile, Repository, SkippedFile
from service.domain.lexical import search_terms
from service.knowledge_base.chunking import Chunk
from service.knowledge_base.embedding import embed_pending
from service.knowledge_base.indexer import SyncSummary, embedding_key, sync_repository
from service.knowledge_base.selection import SelectionRules
from service.knowledge_base.sources import resolve_source
from tests.knowledge_fakes import CountingEmbedder
from tests.knowledge_repos import INDEXED, MAX_FILE_BYTES, SKIPPED, commit, git, make_knowledge_repo, write

RULES = SelectionRules(max_file_bytes=MAX_FILE_BYTES)


def _sync(index: InMemoryChunkIndex, root: Path | str, tmp_path: Path, **kwargs: object) -> SyncSummary:
    source = resolve_source(str(root), ref=None, name="triage", data_dir=tmp_path / "data")
    return sync_repository(index, source, rules=RULES, **kwargs)  # type: ignore[arg-type]


def _search(index: InMemoryChunkIndex, query: str) -> list[str]:
    return [hit.chunk.path for hit in index.search_lexical(repository="triage", terms=search_terms(query), k=10)]


def test_full_index_summary_and_skips(tmp_path: Path) -> None:
    root = make_knowledge_repo(tmp_path / "repo")
    index = InMemoryChunkIndex()
    seen: list[tuple[int, int]] = []
    summary = _sync(index, root, tmp_path, progress=lambda done, total: seen.append((done, total)))
    assert summary.commit == git(root, "rev-parse", "HEAD").strip()
    assert not summary.incremental
    assert {f.path for f in index.list_files(repository="triage")} == INDEXED
    assert summary.files == len(INDEXED)
    reasons = {s.path: s.reason for s in summary.skipped}
    assert set(reasons) == set(SKIPPED)
    for path, word in SKIPPED.items():
        assert word in reasons[path], (path, reasons[path])
    assert {"python", "javascript", "typescript", "java", "go"} <= set(summary.languages)
    empty = next(f for f in index.list_files(repository="triage") if f.path == "triage/__init__.py")
    assert (empty.language, empty.chunk_count) == ("python", 0)
    assert summary.chunks == sum(f.chunk_count for f in index.list_files(repository="triage")) > len(INDEXED)
    assert seen[-1] == (summary.processed, summary.processed)
    assert summary.added == summary.processed
    # The secrets file is not in the index in any form.
    every = [c for f in INDEXED for c in index.chunks_for_path(repository="triage", path=f)]
    assert not any("not-a-real-token" in c.text for c in every)
    assert _search(index, "parse priority")[0] == "triage/router.py"
    chunk = index.find_symbols(repository="triage", name="parse_priority")[0]
    assert chunk.embedding_key == embedding_key(chunk.path_free_content)
    assert chunk.header.startswith("# file: triage/router.py\n")  # searched, shown and embedded; not in the key
    assert "triage/router.py" not in chunk.path_free_content
    assert chunk.path_free_content.startswith("# definition: def parse_priority(title):\n")
    assert (chunk.start_line, chunk.commit) == (16, summary.commit)


def test_sync_reprocesses_exactly_the_changed_files_and_never_reembeds(tmp_path: Path) -> None:
    root = make_knowledge_repo(tmp_path / "repo")
    index = InMemoryChunkIndex()
    embedder = CountingEmbedder()
    first = _sync(index, root, tmp_path)
    embed_pending(index, embedder, "triage", batch=4)
    embedded_before = set(embedder.texts)
    assert len(embedded_before) == len(embedder.texts)  # each content once
    keys_before = {c.embedding_key for f in INDEXED for c in index.chunks_for_path(repository="triage", path=f)}
    assert index.dense_coverage(repository="triage", model_id=embedder.model_id) == (first.chunks, first.chunks)
    untouched_ids = {c.chunk_id for c in index.chunks_for_path(repository="triage", path="web/badge.js")}

    write(root, {"triage/router.py": (root / "triage/router.py").read_text().replace("else 3", "else 4")})
    write(root, {"triage/new_rule.py": "def close_stale(ticket):\n    return ticket.age > 90\n"})
    write(root, {"web/ticket_copy.ts": (root / "web/ticket.ts").read_text()})  # identical content elsewhere
    git(root, "rm", "-q", "docs/notes.txt")
    git(root, "mv", "sync/retry.go", "sync/backoff.go")
    second = commit(root, "change five files")

    summary = _sync(index, root, tmp_path)
    assert summary.incremental
    assert summary.previous_commit == first.commit
    assert summary.commit == second
    assert set(summary.processed_paths) == {
        "triage/router.py",
        "triage/new_rule.py",
        "web/ticket_copy.ts",
        "sync/backoff.go",
    }
    assert (summary.added, summary.modified, summary.deleted, summary.renamed) == (2, 1, 1, 1)
    paths = {f.path for f in index.list_files(repository="triage")}
    assert "docs/notes.txt" not in paths
    assert "sync/retry.go" not in paths
    assert {"sync/backoff.go", "web/ticket_copy.ts", "triage/new_rule.py"} <= paths
    assert (
        index.file_blobs(repository="triage")["web/ticket_copy.ts"]
        == index.file_blobs(repository="triage")["web/ticket.ts"]
    )
    assert {c.chunk_id for c in index.chunks_for_path(repository="triage", path="web/badge.js")} == untouched_ids
    assert _search(index, "close stale")[0] == "triage/new_rule.py"
    assert "docs/notes.txt" not in _search(index, "escalation five minutes critical")
    assert {s.path for s in summary.skipped} == set(SKIPPED)  # unchanged skips are kept

    calls_before = len(embedder.calls)
    embed_pending(index, embedder, "triage", batch=4)
    new_texts = embedder.texts[sum(len(c) for c in embedder.calls[:calls_before]) :]
    assert new_texts
    assert not set(new_texts) & embedded_before
    # The copy and the renamed file have the blobs (so the chunks) of files embedded before: their keys are the
    # old chunks' keys, though their headers name their new paths, so nothing of theirs is embedded again.
    for path in ("web/ticket_copy.ts", "sync/backoff.go"):
        moved = index.chunks_for_path(repository="triage", path=path)
        assert moved
        assert all(c.header.startswith(f"# file: {path}") for c in moved)
        assert {c.embedding_key for c in moved} <= keys_before
        assert not {c.content for c in moved} & set(new_texts)
    changed = {"triage/router.py", "triage/new_rule.py"}
    expected = {
        c.content
        for path in changed
        for c in index.chunks_for_path(repository="triage", path=path)
        if c.embedding_key not in keys_before
    }
    assert set(new_texts) == expected
    covered, total = index.dense_coverage(repository="triage", model_id=embedder.model_id)
    assert covered == total == summary.chunks

    # Nothing new: a sync at the same commit reads nothing and nothing is embedded.
    again = _sync(index, root, tmp_path)
    assert again.processed == 0
    calls = len(embedder.calls)
    assert embed_pending(index, embedder, "triage").embedded == 0
    assert len(embedder.calls) == calls


class FailingIndex(InMemoryChunkIndex):
    """Fails the write of the next sync."""

    fail = False

    def apply_changes(
        self,
        *,
        repository: Repository,
        removed_paths: Collection[str],
        files: Sequence[IndexedFile],
        chunks: Sequence[IndexedChunk],
        skipped: Sequence[SkippedFile],
    ) -> None:
        if self.fail:
            raise OSError("disk full")
        super().apply_changes(
            repository=repository, removed_paths=removed_paths, files=files, chunks=chunks, skipped=skipped
        )


def test_a_failed_sync_leaves_the_previous_index_searchable(tmp_path: Path) -> None:
    root = make_knowledge_repo(tmp_path / "repo")
    index = FailingIndex()
    first = _sync(index, root, tmp_path)
    git(root, "rm", "-q", "triage/router.py")
    write(root, {"web/badge.js": "export const badge = 1;\n"})
    commit(root, "remove the router")
    index.fail = True
    with pytest.raises(OSError, match="disk full"):
        _sync(index, root, tmp_path)

    def interrupt(done: int, total: int) -> None:
        raise KeyboardInterrupt

    index.fail = False
    with pytest.raises(KeyboardInterrupt):
        _sync(index, root, tmp_path, progress=interrupt)
    assert index.get_repository(name="triage").commit == first.commit
    assert _search(index, "parse priority")[0] == "triage/router.py"
    assert _sync(index, root, tmp_path).deleted == 1
    assert "triage/router.py" not in _search(index, "parse priority")


def test_a_document_that_fails_to_parse_is_skipped_and_the_rest_indexed(tmp_path: Path) -> None:
    root = make_knowledge_repo(tmp_path / "repo")
    write(root, {"docs/broken.pdf": b"%PDF-1.7\n\x00garbage", "docs/guide.pdf": b"%PDF-1.7\n\x00fine"})
    commit(root, "documents")

    def documents(path: str, data: bytes) -> list[Chunk] | None:
        if path.endswith("broken.pdf"):
            raise ValueError("no xref table")
        return [Chunk(path, "pdf", 1, 1, "page 1", "page", f"# file: {path}", "Guide to escalation")]

    summary = _sync(
        index := InMemoryChunkIndex(), root, tmp_path, documents=documents, is_document=lambda p: p.endswith(".pdf")
    )
    reasons = {s.path: s.reason for s in summary.skipped}
    assert reasons["docs/broken.pdf"] == "could not be parsed: no xref table"
    assert summary.languages["pdf"] == 1
    assert "docs/guide.pdf" in _search(index, "guide")


def test_url_source_indexes_a_clone_and_syncs_after_a_fetch(tmp_path: Path) -> None:
    origin = make_knowledge_repo(tmp_path / "origin")
    index = InMemoryChunkIndex()
    url = f"file://{origin}"
    first = _sync(index, url, tmp_path)
    assert first.files == len(INDEXED)
    assert index.get_repository(name="triage").source == url
    write(origin, {"triage/escalate.py": "def escalate_now():\n    return True\n"})
    commit(origin, "escalate")
    second = _sync(index, url, tmp_path)
    assert second.incremental
    assert second.processed_paths == ["triage/escalate.py"]


def test_a_gitignore_change_rechecks_every_path(tmp_path: Path) -> None:
    root = make_knowledge_repo(tmp_path / "repo")
    index = InMemoryChunkIndex()
    _sync(index, root, tmp_path)
    write(root, {".gitignore": "*.log\nbuild-output/\ndocs/\n"})
    commit(root, "ignore docs")
    summary = _sync(index, root, tmp_path)
    assert not summary.incremental
    assert {s.path: s.reason for s in summary.skipped}["docs/notes.txt"] == "matches .gitignore"
    assert "docs/notes.txt" not in {f.path for f in index.list_files(repository="triage")}


def test_full_applies_changed_rules_to_unchanged_files(tmp_path: Path) -> None:
    root = make_knowledge_repo(tmp_path / "repo")
    index = InMemoryChunkIndex()
    _sync(index, root, tmp_path)
    source = resolve_source(str(root), ref=None, name="triage", data_dir=tmp_path / "data")
    larger = SelectionRules(max_file_bytes=10_000)
    assert sync_repository(index, source, rules=larger).processed == 0  # same commit: nothing to do
    summary = sync_repository(index, source, rules=larger, full=True)
    assert "data/huge.txt" in summary.processed_paths
    assert "data/huge.txt" in index.file_blobs(repository="triage")
    assert "triage/router.py" not in summary.processed_paths  # unchanged and still indexed: not re-read
    stricter = SelectionRules(max_file_bytes=200)
    again = sync_repository(index, source, rules=stricter, full=True)
    assert "triage/router.py" not in index.file_blobs(repository="triage")
    assert {s.path: s.reason for s in again.skipped}["triage/router.py"].startswith("too large")
