"""Background jobs of the knowledge base: ``kb.sync`` brings an index up to a commit and queues ``kb.embed``,
which fills in the embeddings. Both are idempotent, so a retried or re-claimed job does no harm."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

import anyio.to_thread

from service.domain.jobs import Job
from service.errors import InvalidInput
from service.knowledge_base.library import KnowledgeBase
from service.ports.job_queue import JobQueue

KB_SYNC = "kb.sync"
KB_EMBED = "kb.embed"


def sync_payload(name: str, source: str | None, ref: str | None) -> dict[str, Any]:
    """The payload of a :data:`KB_SYNC` job (``source`` None: the one the repository was indexed from)."""
    return {"name": name, "source": source, "ref": ref}


def _text(payload: dict[str, Any], key: str, *, optional: bool) -> str | None:
    value = payload.get(key)
    if value is None and optional:
        return None
    if not isinstance(value, str):
        raise InvalidInput(f"bad job payload: {key} must be a string, not {value!r}")
    return value


def kb_sync_handler(
    knowledge: KnowledgeBase, queue: JobQueue, *, clock: Callable[[], datetime] = lambda: datetime.now(UTC)
) -> Callable[[Job], Awaitable[dict[str, Any]]]:
    """Handler: sync the repository named in the payload, then queue the embedding of what is new."""

    def work(job: Job) -> dict[str, Any]:
        name = _text(job.payload, "name", optional=False)
        summary = knowledge.sync(
            _text(job.payload, "source", optional=True), name=name, ref=_text(job.payload, "ref", optional=True)
        )
        embed_job = None
        if knowledge.embedder is not None:
            embed_job = queue.enqueue(
                kind=KB_EMBED,
                payload={"name": summary.repository},
                now=clock(),
                dedup_key=f"{KB_EMBED}:{summary.repository}:{summary.commit}",
            ).id
        return {
            "repository": summary.repository,
            "commit": summary.commit,
            "previous_commit": summary.previous_commit,
            "files": summary.files,
            "chunks": summary.chunks,
            "processed": summary.processed,
            "added": summary.added,
            "modified": summary.modified,
            "deleted": summary.deleted,
            "renamed": summary.renamed,
            "skipped": len(summary.skipped),
            "seconds": summary.seconds,
            "embed_job": embed_job,
        }

    async def handle(job: Job) -> dict[str, Any]:
        return await anyio.to_thread.run_sync(work, job)

    return handle


def kb_embed_handler(knowledge: KnowledgeBase) -> Callable[[Job], Awaitable[dict[str, Any]]]:
    """Handler: embed the named repository's chunk contents that have no vector yet."""

    def work(job: Job) -> dict[str, Any]:
        name = _text(job.payload, "name", optional=False)
        assert name is not None
        summary = knowledge.embed(name)
        if summary is None:
            return {"repository": name, "embedded": 0, "note": "no embedding model is configured"}
        return {
            "repository": name,
            "model_id": summary.model_id,
            "embedded": summary.embedded,
            "covered": summary.covered,
            "total": summary.total,
            "seconds": summary.seconds,
        }

    async def handle(job: Job) -> dict[str, Any]:
        return await anyio.to_thread.run_sync(work, job)

    return handle
