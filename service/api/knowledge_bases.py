"""``/v1/knowledge-bases``: sync a repository's index as a job, read its status, and retrieve from it.

``POST /{name}/retrieve`` answers in our shape or in the Amazon Bedrock Knowledge Base ``Retrieve`` shape, so an
agent built for Bedrock knowledge bases can use this service as one. The Bedrock shapes follow botocore's model
of ``bedrock-agent-runtime`` (``data/bedrock-agent-runtime/2023-07-26/service-2.json``: ``RetrieveRequest``,
``RetrieveResponse``, ``KnowledgeBaseRetrievalResult``, ``RetrievalResultLocation`` type ``CUSTOM`` with
``customDocumentLocation.id``); the suite validates our answers against that model. Callers need the
``codebase`` scope (the action group over the same data).
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal
from urllib.parse import unquote, urlsplit

import anyio.to_thread
from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from service.api.auth import principal_of
from service.domain.knowledge import ChunkFilters, ScoredChunk
from service.errors import Forbidden, InvalidInput, NotFound
from service.knowledge_base.job import KB_SYNC, sync_payload
from service.knowledge_base.library import KnowledgeBase, RepositoryStatus, SearchResults
from service.knowledge_base.sources import check_name, is_url, without_credentials
from service.settings import IndexingSettings

SCOPE = "codebase"
PREFIX = "/v1/knowledge-bases"
router = APIRouter(prefix=PREFIX, tags=["knowledge bases"])


class SyncBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    source: str | None = Field(
        default=None,
        min_length=1,
        max_length=4096,
        description="Local repository path or clone URL; omitted: the source the knowledge base was indexed from.",
    )
    ref: str | None = Field(default=None, min_length=1, max_length=200, description="Branch, tag or commit.")


class Filters(BaseModel):
    model_config = ConfigDict(populate_by_name=True, extra="forbid")

    path_glob: str | None = Field(default=None, alias="pathGlob", max_length=1000, description="fnmatch glob.")
    language: str | None = Field(default=None, max_length=50, description="e.g. python, markdown, pdf.")
    kind: str | None = Field(default=None, max_length=50, description="function, class, section, page...")


class BedrockQuery(BaseModel):
    model_config = ConfigDict(extra="ignore")

    text: str = Field(min_length=1, max_length=20000)


class BedrockVectorSearch(BaseModel):
    model_config = ConfigDict(populate_by_name=True, extra="ignore")

    number_of_results: int = Field(default=5, ge=1, le=100, alias="numberOfResults")
    override_search_type: Literal["HYBRID", "SEMANTIC"] | None = Field(default=None, alias="overrideSearchType")


class BedrockRetrievalConfiguration(BaseModel):
    model_config = ConfigDict(populate_by_name=True, extra="ignore")

    vector_search: BedrockVectorSearch = Field(default_factory=BedrockVectorSearch, alias="vectorSearchConfiguration")


class RetrieveBody(BaseModel):
    """Ours (``query``, ``k``, ``mode``, ``filters``) or Bedrock's (``retrievalQuery``, ``retrievalConfiguration``)."""

    model_config = ConfigDict(populate_by_name=True, extra="ignore")

    query: str | None = Field(default=None, min_length=1, max_length=20000)
    k: int = Field(default=10, ge=1, le=100)
    mode: Literal["hybrid", "lexical", "dense"] = "hybrid"
    filters: Filters | None = None
    format: Literal["ticketsmith", "bedrock"] | None = None
    retrieval_query: BedrockQuery | None = Field(default=None, alias="retrievalQuery")
    retrieval_configuration: BedrockRetrievalConfiguration | None = Field(default=None, alias="retrievalConfiguration")


def _knowledge(request: Request) -> KnowledgeBase:
    principal = principal_of(request)
    if not principal.may_call(SCOPE):
        raise Forbidden(
            f"API key {principal.name!r} may not use the knowledge bases",
            hint=f"add {SCOPE!r} to the key's action_groups in TICKETSMITH_API_KEYS",
        )
    knowledge: KnowledgeBase = request.app.state.container.knowledge
    return knowledge


def _under_prefix(url: str, prefix: str) -> bool:
    """True when ``url`` starts with ``prefix`` at a path boundary: ``https://github.com/acme`` admits
    ``https://github.com/acme/widget`` but neither ``.../acme-evil/widget`` nor ``https://github.com.evil.io``."""
    if not url.startswith(prefix):
        return False
    return prefix.endswith("/") or len(url) == len(prefix) or url[len(prefix)] == "/"


def check_source_allowed(source: str, settings: IndexingSettings) -> str:
    """``source`` when API callers may have it indexed: a URL under an allowed prefix, or a git repository under
    an allowed root (resolved, so ``..`` and symbolic links cannot leave the root). Else :class:`Forbidden`."""
    if "\0" in source:
        raise InvalidInput("the source contains a NUL character", hint="give a repository path or clone URL")
    if is_url(source):
        # A dot segment (even percent-encoded) would let a URL under an allowed prefix name one outside it.
        path_part = urlsplit(source).path if "://" in source else source.split(":", 1)[-1]
        if any(part in (".", "..") for part in unquote(path_part).replace("\\", "/").split("/")):
            raise Forbidden(
                f"{without_credentials(source)} has '.' or '..' path segments",
                hint="give the repository's URL without '.' or '..' segments",
            )
        if not any(_under_prefix(source, prefix) for prefix in settings.allowed_url_prefixes if prefix):
            raise Forbidden(
                f"{without_credentials(source)} is not under a URL prefix this service may clone",
                hint="add its prefix to TICKETSMITH_INDEXING__ALLOWED_URL_PREFIXES",
            )
        return source
    try:
        path = Path(source).expanduser().resolve()
    except (RuntimeError, OSError, ValueError) as exc:  # ~unknown-user, a loop of symbolic links
        raise InvalidInput(f"{source} is not a usable path: {exc}", hint="give the path of a git repository") from exc
    if not any(path.is_relative_to(root.expanduser().resolve()) for root in settings.allowed_roots):
        raise Forbidden(
            f"{source} is outside the directories this service may index",
            hint="add its parent to TICKETSMITH_INDEXING__ALLOWED_ROOTS",
        )
    if not ((path / ".git").exists() or (path / "HEAD").is_file()):
        raise InvalidInput(f"{source} is not a git repository", hint="give the root of a git checkout")
    return str(path)


def status_body(status: RepositoryStatus) -> dict[str, Any]:
    repository = status.repository
    return {
        "name": repository.name,
        "status": "indexed" if repository.commit else "empty",
        "source": repository.source,
        "ref": repository.ref,
        "commit": repository.commit,
        "indexedAt": repository.indexed_at.isoformat() if repository.indexed_at else None,
        "files": status.files,
        "chunks": status.chunks,
        "skippedFiles": status.skipped,
        "dense": {
            "modelId": status.model_id,
            "embeddedChunks": status.embedded,
            "coverage": round(status.dense_coverage, 4),
        },
    }


@router.post("/{name}/sync", status_code=202)
async def sync(name: str, request: Request, body: SyncBody | None = None) -> JSONResponse:
    """Queue a ``kb.sync`` job that indexes (or incrementally re-indexes) the repository; answers 202 at once."""
    knowledge = _knowledge(request)
    container = request.app.state.container
    check_name(name)
    body = body or SyncBody()
    source = None
    if body.source is not None:
        source = await anyio.to_thread.run_sync(check_source_allowed, body.source, container.settings.indexing)
    else:
        await anyio.to_thread.run_sync(knowledge.repository, name)  # 404 with a hint when unknown
    job = await anyio.to_thread.run_sync(
        lambda: container.job_queue.enqueue(
            kind=KB_SYNC, payload=sync_payload(name, source, body.ref), now=datetime.now(UTC)
        )
    )
    return JSONResponse(
        status_code=202,
        content={"jobId": job.id, "kind": job.kind, "state": job.state.value, "knowledgeBase": name},
        headers={"Location": f"{PREFIX}/{name}/sync/{job.id}"},
    )


@router.get("/{name}/sync/{job_id}")
async def sync_status(name: str, job_id: str, request: Request) -> dict[str, Any]:
    """The state of a sync job and, once it has finished, its summary (or why it failed)."""
    _knowledge(request)
    check_name(name)
    job = await anyio.to_thread.run_sync(lambda: request.app.state.container.job_queue.get(job_id=job_id))
    if job.kind != KB_SYNC or job.payload.get("name") != name:
        raise NotFound(f"no sync job {job_id!r} for knowledge base {name!r}")
    return {
        "jobId": job.id,
        "knowledgeBase": name,
        "state": job.state.value,
        "attempts": job.attempts,
        "error": job.last_error,
        "result": job.result,
    }


@router.get("")
async def list_knowledge_bases(request: Request) -> dict[str, Any]:
    """Every knowledge base with its commit, size and how complete its dense index is."""
    knowledge = _knowledge(request)
    statuses = await anyio.to_thread.run_sync(knowledge.statuses)
    return {"knowledgeBases": [status_body(s) for s in statuses]}


@router.get("/{name}")
async def get_knowledge_base(name: str, request: Request) -> dict[str, Any]:
    """One knowledge base's status, commit, files, chunks and dense coverage."""
    knowledge = _knowledge(request)
    check_name(name)
    status = await anyio.to_thread.run_sync(knowledge.status, name)
    return status_body(status)


def _location_id(name: str, hit: ScoredChunk, commit: str) -> str:
    chunk = hit.chunk
    return f"kb://{name}/{chunk.path}?commit={commit}#L{chunk.start_line}-L{chunk.end_line}"


def ours(results: SearchResults) -> dict[str, Any]:
    """Our response: results with citations, the mode that ran and the dense coverage."""
    commit = results.repository.commit or ""
    return {
        "knowledgeBase": results.repository.name,
        "commit": commit,
        "mode": results.mode,
        "note": results.note,
        "dense": {"embeddedChunks": results.embedded, "chunks": results.chunks},
        "results": [
            {
                "citation": f"{h.chunk.path}:{h.chunk.start_line}-{h.chunk.end_line}@{commit[:12]}",
                "path": h.chunk.path,
                "startLine": h.chunk.start_line,
                "endLine": h.chunk.end_line,
                "symbol": h.chunk.symbol,
                "kind": h.chunk.kind,
                "language": h.chunk.language,
                "commit": commit,
                "score": h.score,
                "chunkId": h.chunk.chunk_id,
                "header": h.chunk.header,
                "text": h.chunk.text,
            }
            for h in results.hits
        ],
    }


def bedrock(results: SearchResults) -> dict[str, Any]:
    """The Bedrock ``RetrieveResponse``: ``retrievalResults[]`` of content, location, score and metadata."""
    name = results.repository.name
    commit = results.repository.commit or ""
    retrieval_results = []
    for hit in results.hits:
        chunk = hit.chunk
        uri = _location_id(name, hit, commit)
        retrieval_results.append(
            {
                "content": {"type": "TEXT", "text": chunk.content},
                "location": {"type": "CUSTOM", "customDocumentLocation": {"id": uri}},
                "score": hit.score,
                "metadata": {
                    # the system keys Bedrock knowledge bases put in every result, then our citation fields
                    "x-amz-bedrock-kb-source-uri": uri,
                    "x-amz-bedrock-kb-chunk-id": chunk.chunk_id,
                    "x-amz-bedrock-kb-data-source-id": name,
                    "path": chunk.path,
                    "startLine": chunk.start_line,
                    "endLine": chunk.end_line,
                    "symbol": chunk.symbol,
                    "kind": chunk.kind,
                    "language": chunk.language,
                    "commit": commit,
                },
            }
        )
    return {"retrievalResults": retrieval_results}


@router.post("/{name}/retrieve")
async def retrieve(
    name: str,
    request: Request,
    body: RetrieveBody,
    format: Literal["ticketsmith", "bedrock"] | None = Query(default=None, description="Response shape."),
) -> dict[str, Any]:
    """Hybrid retrieval with citations, in our shape or Bedrock's ``Retrieve`` shape."""
    knowledge = _knowledge(request)
    check_name(name)
    bedrock_request = body.retrieval_query is not None
    if bedrock_request and body.query is not None:
        raise InvalidInput("give either query or retrievalQuery, not both")
    query = body.retrieval_query.text if body.retrieval_query is not None else body.query
    if query is None:
        raise InvalidInput(
            "the request has no query", hint='send {"query": "..."} or {"retrievalQuery": {"text": "..."}}'
        )
    k = body.k
    mode: str = body.mode
    if body.retrieval_configuration is not None:
        vector = body.retrieval_configuration.vector_search
        k = vector.number_of_results
        mode = {"SEMANTIC": "dense", "HYBRID": "hybrid"}.get(vector.override_search_type or "", mode)
    filters = body.filters or Filters()
    chosen = format or body.format or ("bedrock" if bedrock_request else "ticketsmith")
    results = await anyio.to_thread.run_sync(
        lambda: knowledge.search(
            query,
            repository=name,
            k=k,
            mode=mode,
            filters=ChunkFilters(path_glob=filters.path_glob, language=filters.language, kind=filters.kind),
        )
    )
    return bedrock(results) if chosen == "bedrock" else ours(results)
