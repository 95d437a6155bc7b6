"""The scratch index an evaluation searches: a corpus of file texts chunked as the indexer chunks them (same
chunker, ids and embedding keys), stored in a :class:`ChunkIndex` of its own, never the user's index. Embed it
with :func:`service.knowledge_base.embedding.embed_pending`, as the indexer's embeddings are."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from datetime import UTC, datetime

from service.domain.knowledge import IndexedChunk, IndexedFile, Repository, SkippedFile
from service.knowledge_base.chunking import chunk_file
from service.knowledge_base.indexer import chunk_id, indexed_chunks
from service.ports.chunk_index import ChunkIndex

SCRATCH_COMMIT = "0" * 40

Progress = Callable[[int, int], None]


def git_blob_sha(data: bytes) -> str:
    """The git blob id of ``data`` (what ``git hash-object`` prints)."""
    return hashlib.sha1(b"blob %d\x00" % len(data) + data, usedforsecurity=False).hexdigest()


def chunks_of(repository: str, path: str, text: str, *, commit: str) -> tuple[IndexedFile, list[IndexedChunk]]:
    """``text`` chunked along its syntax, as indexed chunks of ``repository`` at ``commit``."""
    blob = git_blob_sha(text.encode("utf-8"))
    chunks = indexed_chunks(repository, path, blob_sha=blob, commit=commit, chunks=chunk_file(path, text))
    language = chunks[0].language if chunks else "text"
    return IndexedFile(path=path, blob_sha=blob, language=language, chunk_count=len(chunks)), chunks


def build_scratch_index(
    index: ChunkIndex,
    *,
    repository: str,
    files: Mapping[str, str],
    copied: Sequence[IndexedChunk] = (),
    commit: str = SCRATCH_COMMIT,
    progress: Progress | None = None,
) -> int:
    """Index ``files`` (path → text) and the already chunked ``copied`` chunks (re-homed to ``repository``) into
    ``index`` in one change, and return the chunk count. ``progress(done, total)`` follows the files."""
    record = Repository(
        name=repository, source="evaluation", path="", ref=None, commit=commit, indexed_at=datetime.now(UTC)
    )
    indexed_files: dict[str, IndexedFile] = {}
    chunks: list[IndexedChunk] = []
    for done, path in enumerate(sorted(files), start=1):
        indexed, file_chunks = chunks_of(repository, path, files[path], commit=commit)
        indexed_files[path] = indexed
        chunks.extend(file_chunks)
        if progress is not None:
            progress(done, len(files))
    by_path: dict[str, list[IndexedChunk]] = {}
    for chunk in copied:
        if chunk.path not in indexed_files:
            by_path.setdefault(chunk.path, []).append(
                replace(
                    chunk,
                    repository=repository,
                    chunk_id=chunk_id(repository, chunk.path, chunk.start_line, chunk.end_line, chunk.embedding_key),
                    commit=commit,
                )
            )
    for path, file_chunks in by_path.items():
        first = file_chunks[0]
        indexed_files[path] = IndexedFile(path, first.blob_sha, first.language, len(file_chunks))
        chunks.extend(file_chunks)
    index.save_repository(repository=record)
    skipped: list[SkippedFile] = []
    index.apply_changes(
        repository=record, removed_paths=(), files=list(indexed_files.values()), chunks=chunks, skipped=skipped
    )
    return len(chunks)
