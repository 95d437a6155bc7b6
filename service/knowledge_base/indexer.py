"""Index a repository at a commit, or bring its index up to a newer one, in one all-or-nothing change.

The first index reads every selected file. Later ones start from ``git diff -M`` between the indexed commit and
the new one, so only added, modified and renamed files are read and chunked, and deleted ones dropped; the
index's own path → blob map then catches anything the diff cannot see (a commit no longer in the repository, a
changed ``.gitignore``). A file whose blob is unchanged is never re-read. Everything found is written with one
:meth:`ChunkIndex.apply_changes`, so a failure at any point leaves the previous index whole and searchable.
"""

from __future__ import annotations

import hashlib
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import PurePosixPath

from service.domain.knowledge import IndexedChunk, IndexedFile, Repository, SkippedFile
from service.errors import NotFound
from service.knowledge_base.chunking import LANGUAGES, Chunk, chunk_file
from service.knowledge_base.documents import document_language
from service.knowledge_base.selection import SelectionRules, decode_text, gitignore_matcher, path_skip_reason
from service.knowledge_base.sources import GitReader, ResolvedSource, TreeEntry
from service.ports.chunk_index import ChunkIndex

Progress = Callable[[int, int], None]
# path, content → chunks, for formats that are not plain text (pdf, Office); None when the path is not one.
DocumentChunker = Callable[[str, bytes], list[Chunk] | None]
ALL_FILES = 10_000_000


@dataclass(frozen=True, slots=True)
class SyncSummary:
    """What one index or sync did, and the state of the index after it.

    ``files``, ``chunks``, ``languages`` (files per language) and ``skipped`` describe the whole index;
    ``added`` ... ``renamed`` count this run's changes and ``processed`` the files it read and chunked.
    """

    repository: str
    commit: str
    previous_commit: str | None
    incremental: bool
    files: int
    chunks: int
    languages: dict[str, int]
    skipped: list[SkippedFile]
    added: int
    modified: int
    deleted: int
    renamed: int
    processed: int
    chunks_written: int
    seconds: float
    processed_paths: list[str] = field(default_factory=list)


@dataclass
class _Plan:
    touched: set[str] = field(default_factory=set)
    removed: set[str] = field(default_factory=set)
    counts: Counter[str] = field(default_factory=Counter)


def embedding_key(path_free_content: str) -> str:
    """The key of a chunk's embedding: sha256 hex of its content without the path (see :class:`IndexedChunk`)."""
    return hashlib.sha256(path_free_content.encode("utf-8")).hexdigest()


def chunk_id(repository: str, path: str, start: int, end: int, hashed: str) -> str:
    """A stable id: the same chunk of the same file in the same repository always gets the same one."""
    return hashlib.sha256(f"{repository}\0{path}\0{start}\0{end}\0{hashed}".encode()).hexdigest()[:32]


def _plan(
    reader: GitReader,
    tree: dict[str, TreeEntry],
    old_blobs: dict[str, str],
    old_skipped: set[str],
    previous: str | None,
    new: str,
) -> tuple[_Plan, bool]:
    plan = _Plan()
    incremental = previous is not None and reader.has_commit(previous)
    if incremental:
        assert previous is not None
        for change in reader.changes(previous, new):
            if PurePosixPath(change.path).name == ".gitignore" or (
                change.old_path and PurePosixPath(change.old_path).name == ".gitignore"
            ):
                incremental = False  # what is ignored may have changed anywhere: compare every path
            if change.status == "D":
                plan.removed.add(change.path)
                plan.counts["deleted"] += 1
            elif change.status == "R":
                assert change.old_path is not None
                plan.removed.add(change.old_path)
                plan.touched.add(change.path)
                plan.counts["renamed"] += 1
            elif change.status in "AC":
                plan.touched.add(change.path)
                plan.counts["added"] += 1
            else:
                plan.touched.add(change.path)
                plan.counts["modified"] += 1
    if not incremental:
        plan = _Plan()
        for path in tree:
            if path not in old_blobs:
                plan.touched.add(path)
                if path not in old_skipped:
                    plan.counts["added"] += 1
            elif old_blobs[path] != tree[path].blob_sha:
                plan.touched.add(path)
                plan.counts["modified"] += 1
        plan.removed = {path for path in old_blobs if path not in tree}
        plan.counts["deleted"] = len(plan.removed)
    # The index's own map is the truth about what it holds; the diff only saves reading the whole tree.
    for path, blob in old_blobs.items():
        if path not in tree:
            plan.removed.add(path)
        elif blob != tree[path].blob_sha:
            plan.touched.add(path)
    plan.touched = {path for path in plan.touched if path in tree}
    plan.touched -= {path for path in plan.touched if old_blobs.get(path) == tree[path].blob_sha}
    return plan, incremental


def indexed_chunks(
    repository: str, path: str, *, blob_sha: str, commit: str, chunks: Sequence[Chunk]
) -> list[IndexedChunk]:
    """``chunks`` of the file at ``path`` as the index stores them: keyed for embedding by their content without
    the path (a renamed or copied file's chunks keep their keys, so their vectors), with ids unique in the file."""
    built: list[IndexedChunk] = []
    seen: set[str] = set()
    for chunk in chunks:
        hashed = embedding_key(chunk.path_free_content)
        identifier = chunk_id(repository, path, chunk.start_line, chunk.end_line, hashed)
        while identifier in seen:  # the same text twice at one locator (documents without line numbers)
            identifier = hashlib.sha256(f"{identifier}+".encode()).hexdigest()[:32]
        seen.add(identifier)
        built.append(
            IndexedChunk(
                chunk_id=identifier,
                repository=repository,
                path=path,
                language=chunk.language,
                kind=chunk.kind,
                symbol=chunk.symbol,
                start_line=chunk.start_line,
                end_line=chunk.end_line,
                header=chunk.header,
                text=chunk.text,
                embedding_key=hashed,
                blob_sha=blob_sha,
                commit=commit,
            )
        )
    return built


def _language(path: str, chunks: list[Chunk]) -> str:
    if chunks:
        return chunks[0].language
    suffix = PurePosixPath(path).suffix.lower()
    document = document_language(path)
    if document is not None:
        return document
    if suffix in LANGUAGES:
        return LANGUAGES[suffix][0]
    return suffix.lstrip(".") or "text"


def sync_repository(
    index: ChunkIndex,
    source: ResolvedSource,
    *,
    rules: SelectionRules | None = None,
    documents: DocumentChunker | None = None,
    is_document: Callable[[str], bool] = lambda path: False,
    progress: Progress | None = None,
    full: bool = False,
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> SyncSummary:
    """Index ``source`` at its commit, incrementally when the index already holds an older one.

    ``documents`` chunks the document formats (``is_document`` tells which paths are documents: they may be
    binary and larger). ``progress(done, total)`` is called after each file read. A file that cannot be parsed
    is recorded as skipped with the reason and the rest still indexed. ``full`` compares every path instead of
    starting from the diff, so changed selection rules apply to unchanged files too (their blobs are still not
    re-read unless they change status). Raises only before anything is written.
    """
    started = time.perf_counter()
    rules = rules or SelectionRules()
    try:
        previous = index.get_repository(name=source.name)
    except NotFound:
        previous = None
    old_blobs = index.file_blobs(repository=source.name) if previous is not None else {}
    previous_commit = previous.commit if previous is not None else None
    files: list[IndexedFile] = []
    chunks: list[IndexedChunk] = []
    skipped: list[SkippedFile] = []
    with GitReader(source.git_dir) as reader:
        tree = reader.tree(source.commit)
        old_skipped = {s.path for s in index.skipped_files(repository=source.name)} if previous else set()
        plan, incremental = _plan(
            reader, tree, old_blobs, old_skipped, None if full else previous_commit, source.commit
        )
        ignored = gitignore_matcher(tree, reader.read_blob)
        if not incremental:  # rules may have changed: an indexed, unchanged file may have to leave
            plan.touched |= {
                path
                for path in old_blobs
                if path in tree
                and (ignored(path) or path_skip_reason(tree[path], document=is_document(path), rules=rules))
            }
        # Skip records of paths that left the tree would otherwise outlive them.
        plan.removed |= {path for path in old_skipped if path not in tree}
        order = sorted(plan.touched)
        reasons: dict[str, str] = {}
        for path in order:
            reason = path_skip_reason(tree[path], document=is_document(path), rules=rules)
            if reason is None and ignored(path):
                reason = "matches .gitignore"
            if reason is not None:
                reasons[path] = reason
        # The files to read stream out of one git process in order; skipped ones come between them.
        to_read = [path for path in order if path not in reasons]
        blobs = reader.read_blobs([tree[path].blob_sha for path in to_read])
        for done, path in enumerate(order, start=1):
            reason = reasons.get(path)
            if reason is None:
                _, data = next(blobs)
                entry = tree[path]
                reason = _read_and_chunk(data, source, entry, is_document(path), documents, files, chunks)
            if reason is not None:
                skipped.append(SkippedFile(path=path, reason=reason))
            if progress is not None:
                progress(done, len(order))
        blobs.close()
    repository = Repository(
        name=source.name,
        source=source.source,
        path=str(source.git_dir),
        ref=source.ref,
        commit=source.commit,
        indexed_at=clock(),
    )
    index.apply_changes(
        repository=repository, removed_paths=sorted(plan.removed), files=files, chunks=chunks, skipped=skipped
    )
    every_file = index.list_files(repository=source.name, limit=ALL_FILES)
    return SyncSummary(
        repository=source.name,
        commit=source.commit,
        previous_commit=previous_commit,
        incremental=incremental,
        files=len(every_file),
        chunks=sum(f.chunk_count for f in every_file),
        languages=dict(Counter(f.language for f in every_file).most_common()),
        skipped=index.skipped_files(repository=source.name),
        added=plan.counts["added"],
        modified=plan.counts["modified"],
        deleted=plan.counts["deleted"],
        renamed=plan.counts["renamed"],
        processed=len(order),
        chunks_written=len(chunks),
        seconds=round(time.perf_counter() - started, 3),
        processed_paths=order,
    )


def _read_and_chunk(
    data: bytes,
    source: ResolvedSource,
    entry: TreeEntry,
    document: bool,
    documents: DocumentChunker | None,
    files: list[IndexedFile],
    chunks: list[IndexedChunk],
) -> str | None:
    """Chunk one file's content and add its chunks; the skip reason when it is not indexed."""
    try:
        found = documents(entry.path, data) if document and documents is not None else None
        if found is None:
            text, reason = decode_text(data)
            if text is None:
                return reason
            found = chunk_file(entry.path, text)
    except Exception as exc:  # any parser may fail on any file; the index goes on without it
        message = getattr(exc, "reason", None) or str(exc) or type(exc).__name__
        return f"could not be parsed: {message}"
    built = indexed_chunks(source.name, entry.path, blob_sha=entry.blob_sha, commit=source.commit, chunks=found)
    files.append(
        IndexedFile(
            path=entry.path, blob_sha=entry.blob_sha, language=_language(entry.path, found), chunk_count=len(built)
        )
    )
    chunks.extend(built)
    return None
