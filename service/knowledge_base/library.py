"""The knowledge base as the edges use it: index and sync repositories, fill in embeddings, search, report status.

One object, built by the container over a :class:`ChunkIndex` and an optional :class:`Embedder`, serves the CLI,
the REST routes, the job handlers and the ``codebase`` action group, so they cannot disagree.
"""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from service.domain.knowledge import ChunkFilters, Repository, ScoredChunk
from service.errors import InvalidInput, NotFound
from service.knowledge_base.documents import extract_chunks
from service.knowledge_base.documents import is_document as document_suffix
from service.knowledge_base.embedding import EmbedSummary, embed_pending
from service.knowledge_base.indexer import ALL_FILES, DocumentChunker, Progress, SyncSummary, sync_repository
from service.knowledge_base.retrieval import SEARCH_MODES, HybridRetriever, Mode
from service.knowledge_base.selection import SelectionRules
from service.knowledge_base.sources import is_url, resolve_source
from service.ports.chunk_index import ChunkIndex
from service.ports.embedder import Embedder

MODES = SEARCH_MODES


@dataclass(frozen=True, slots=True)
class RepositoryStatus:
    """A repository and how complete its index is (``embedded`` of ``chunks`` have a vector of ``model_id``)."""

    repository: Repository
    files: int
    chunks: int
    skipped: int
    embedded: int
    model_id: str | None

    @property
    def dense_coverage(self) -> float:
        return self.embedded / self.chunks if self.chunks else 1.0


@dataclass(frozen=True, slots=True)
class SearchResults:
    """What a search found, best first, and what it ran: ``mode`` may fall back to lexical (``note`` says why)."""

    repository: Repository
    mode: str
    hits: list[ScoredChunk]
    embedded: int
    chunks: int
    note: str | None = None


class KnowledgeBase:
    """Repositories in ``index``; embeddings from ``embedder`` (None: lexical search only)."""

    def __init__(
        self,
        index: ChunkIndex,
        embedder: Embedder | None,
        *,
        data_dir: Path,
        rules: SelectionRules | None = None,
        embed_batch: int = 32,
        documents: DocumentChunker | None = extract_chunks,
        is_document: Callable[[str], bool] = document_suffix,
        retriever: HybridRetriever | None = None,
    ) -> None:
        self.index = index
        self.embedder = embedder
        self._data_dir = data_dir
        self._rules = rules or SelectionRules()
        self._embed_batch = embed_batch
        self._documents = documents
        self._is_document = is_document
        self._retriever = retriever or HybridRetriever(index, embedder)

    def repository(self, name: str) -> Repository:
        """The repository called ``name``; :class:`NotFound` with a hint when there is none."""
        try:
            return self.index.get_repository(name=name)
        except NotFound:
            raise NotFound(
                f"no knowledge base {name!r}",
                hint=f"index it first: ticketsmith index PATH_OR_URL --name {name}",
            ) from None

    def known(self, name: str) -> bool:
        """True when a repository of this name is indexed."""
        return any(r.name == name for r in self.index.list_repositories())

    def sync(
        self,
        source: str | None,
        *,
        name: str | None,
        ref: str | None,
        progress: Progress | None = None,
        full: bool = False,
    ) -> SyncSummary:
        """Index ``source`` (or, when None, the source ``name`` was indexed from) at ``ref``, incrementally
        (``full``: every path compared, so changed selection settings apply to unchanged files too)."""
        if source is None:
            if name is None:
                raise InvalidInput("give a source or the name of an indexed repository")
            known = self.repository(name)
            source, ref = known.source, ref if ref is not None else known.ref
        resolved = resolve_source(source, ref=ref, name=name, data_dir=self._data_dir)
        return sync_repository(
            self.index,
            resolved,
            rules=self._rules,
            documents=self._documents,
            is_document=self._is_document,
            progress=progress,
            full=full,
        )

    def embed(self, name: str, *, progress: Progress | None = None) -> EmbedSummary | None:
        """Embed what is not embedded yet; None when no embedder is configured."""
        self.repository(name)
        if self.embedder is None:
            return None
        return embed_pending(self.index, self.embedder, name, batch=self._embed_batch, progress=progress)

    def status(self, name: str) -> RepositoryStatus:
        """The repository and the size and completeness of its index."""
        repository = self.repository(name)
        files = self.index.list_files(repository=name, limit=ALL_FILES)
        model_id = self.embedder.model_id if self.embedder is not None else None
        embedded, chunks = (
            self.index.dense_coverage(repository=name, model_id=model_id)
            if model_id is not None
            else (0, sum(f.chunk_count for f in files))
        )
        return RepositoryStatus(
            repository=repository,
            files=len(files),
            chunks=chunks,
            skipped=len(self.index.skipped_files(repository=name)),
            embedded=embedded,
            model_id=model_id,
        )

    def statuses(self) -> list[RepositoryStatus]:
        """Every repository's status, by name."""
        return [self.status(r.name) for r in self.index.list_repositories()]

    def default_repository(self, name: str | None) -> str:
        """``name``, or the only repository indexed; :class:`InvalidInput` when there are several or none."""
        if name is not None:
            return self.repository(name).name
        names = [r.name for r in self.index.list_repositories()]
        if len(names) == 1:
            return names[0]
        if not names:
            raise NotFound("nothing is indexed yet", hint="index a repository: ticketsmith index PATH_OR_URL")
        raise InvalidInput(f"several repositories are indexed: {', '.join(names)}", hint="pick one with --repo")

    def search(
        self, query: str, *, repository: str, k: int = 10, filters: ChunkFilters | None = None, mode: str = "hybrid"
    ) -> SearchResults:
        """The ``k`` best chunks for ``query`` (:class:`HybridRetriever`); hybrid and dense fall back to lexical
        while nothing is embedded, and the result says so."""
        if mode not in MODES:
            raise InvalidInput(f"unknown search mode {mode!r}", hint="hybrid, lexical or dense")
        record = self.repository(repository)
        chosen: Mode = "dense" if mode == "dense" else "lexical" if mode == "lexical" else "hybrid"
        found = self._retriever.search(repository, query, k=k, filters=filters, mode=chosen)
        return SearchResults(
            repository=record,
            mode=found.mode,
            hits=[ScoredChunk(chunk=hit.chunk, score=hit.score) for hit in found.hits],
            embedded=found.embedded,
            chunks=found.chunks,
            note="; ".join(found.notes) or None,
        )

    def work_tree(self, name: str) -> Path:
        """A work tree of the repository for tools that need files on disk (``ticketsmith check NAME``).

        A local source is its own checkout; a cloned one gets a detached work tree of the indexed commit under
        ``<data_dir>/worktrees/<name>`` (the clone is ours to write to).
        """
        repository = self.repository(name)
        if not is_url(repository.source):
            return Path(repository.source)
        target = (self._data_dir / "worktrees" / name).resolve()
        commit = repository.commit or "HEAD"
        if (target / ".git").exists():
            args = ["git", "-C", str(target), "checkout", "-q", "--detach", commit]
        else:
            args = ["git", "--git-dir", repository.path, "worktree", "add", "-q", "--detach", str(target), commit]
        completed = subprocess.run(args, capture_output=True, text=True, timeout=300, check=False)  # noqa: S603
        if completed.returncode != 0:
            raise InvalidInput(
                f"could not check out {name} at {commit[:12]}: {completed.stderr.strip()}",
                hint=f"re-index it: ticketsmith index {repository.source} --name {name}",
            )
        return target
