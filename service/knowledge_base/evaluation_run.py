"""Evaluate retrieval on an indexed repository: build the labelled sets from it, search, and score.

The docstring set is searched in a *scratch* index (given by the caller, empty, never the user's index) holding
the repository's files with their function docstrings removed: stripped Python files are chunked afresh, every
other file keeps the chunks it has in the user's index. The scratch index is embedded in full, so a run costs
one embedding pass over the repository. The commit set is searched in the user's index as it is (read only), at
its indexed commit; its dense scores cover only the chunks embedded so far (reported as ``dense_coverage``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from service.domain.knowledge import IndexedChunk, Repository
from service.errors import InvalidInput
from service.knowledge_base.embedding import embed_pending
from service.knowledge_base.evaluation import (
    DEFAULT_DEPTH,
    DEFAULT_WEIGHTS,
    Evaluation,
    Fuser,
    IndexCandidates,
    QueryRun,
    evaluate,
    gather,
)
from service.knowledge_base.evaluation_index import build_scratch_index
from service.knowledge_base.labelled_sets import commit_queries, docstring_corpus, sample
from service.ports.chunk_index import ChunkIndex
from service.ports.embedder import Embedder

SETS = ("docstrings", "commits")
DEFAULT_LIMIT = 2000
DEFAULT_SEED = 13

PhaseProgress = Callable[[str, int, int], None]
BlobReader = Callable[[list[str]], Iterable[tuple[str, bytes]]]


@dataclass(frozen=True, slots=True)
class EvalRequest:
    """What to measure: which sets, how many queries each (seeded sample), and the fusion to report as hybrid."""

    sets: tuple[str, ...]
    methods: Mapping[str, Fuser]
    method: str
    lexical_weight: float
    limit: int | None = DEFAULT_LIMIT
    seed: int = DEFAULT_SEED
    depth: int = DEFAULT_DEPTH
    weights: Sequence[float] = DEFAULT_WEIGHTS

    def __post_init__(self) -> None:
        unknown = [s for s in self.sets if s not in SETS]
        if unknown or not self.sets:
            raise InvalidInput(f"unknown labelled set {unknown or ''}", hint="use --set docstrings, commits or both")
        if self.method not in self.methods:
            raise InvalidInput(f"unknown fusion method {self.method!r}", hint=f"use one of {sorted(self.methods)}")


@dataclass(slots=True)
class RepositoryEvaluation:
    """Results per set; a set that gave no queries is in ``skipped`` with the reason."""

    repository: str
    commit: str
    evaluations: list[Evaluation] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)
    details: dict[str, dict[str, object]] = field(default_factory=dict)

    def as_dict(self) -> dict[str, object]:
        return {
            "repository": self.repository,
            "commit": self.commit,
            "sets": {e.set_name: {**e.as_dict(), **self.details.get(e.set_name, {})} for e in self.evaluations},
            "skipped": self.skipped,
        }


def _python_texts(blobs: Mapping[str, str], read: BlobReader) -> dict[str, str]:
    wanted = {path: sha for path, sha in blobs.items() if path.endswith(".py")}
    by_sha: dict[str, list[str]] = {}
    for path, sha in wanted.items():
        by_sha.setdefault(sha, []).append(path)
    texts: dict[str, str] = {}
    for sha, data in read(sorted(by_sha)):
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            continue
        for path in by_sha.get(sha, []):
            texts[path] = text
    return texts


def _copied_chunks(index: ChunkIndex, repository: str, paths: Iterable[str]) -> Iterator[IndexedChunk]:
    for path in paths:
        yield from index.chunks_for_path(repository=repository, path=path)


def evaluate_repository(
    *,
    index: ChunkIndex,
    scratch: ChunkIndex,
    embedder: Embedder,
    repository: Repository,
    read_blobs: BlobReader,
    request: EvalRequest,
    progress: PhaseProgress | None = None,
) -> RepositoryEvaluation:
    """Measure ``request`` on the indexed ``repository``. Raises :class:`InvalidInput` when it has no indexed
    commit yet."""
    if repository.commit is None:
        raise InvalidInput(
            f"repository {repository.name!r} has no indexed commit yet", hint="run ticketsmith index first"
        )

    def report(phase: str) -> Callable[[int, int], None] | None:
        return None if progress is None else (lambda done, total: progress(phase, done, total))

    result = RepositoryEvaluation(repository=repository.name, commit=repository.commit)
    blobs = index.file_blobs(repository=repository.name)
    if "docstrings" in request.sets:
        corpus = docstring_corpus(_python_texts(blobs, read_blobs))
        queries = sample(corpus.queries, limit=request.limit, seed=request.seed)
        if not queries:
            result.skipped["docstrings"] = "no documented Python functions (docstring of three words or more)"
        else:
            scratch_name = f"eval-{repository.name}"
            unchanged = sorted(path for path in blobs if path not in corpus.files)
            chunks = build_scratch_index(
                scratch,
                repository=scratch_name,
                files=corpus.files,
                copied=list(_copied_chunks(index, repository.name, unchanged)),
                commit=repository.commit,
                progress=report("indexing"),
            )
            embed_pending(scratch, embedder, scratch_name, progress=report("embedding"))
            runs = gather(
                queries,
                IndexCandidates(scratch, embedder, repository=scratch_name),
                depth=request.depth,
                progress=report("searching docstrings"),
            )
            result.evaluations.append(_evaluate("docstrings", runs, request))
            result.details["docstrings"] = {
                "pairs_found": len(corpus.queries),
                "files_stripped": len(corpus.files),
                "scratch_chunks": chunks,
            }
    if "commits" in request.sets:
        pairs = commit_queries(Path(repository.path), commit=repository.commit, indexed_paths=blobs.keys())
        queries = sample(pairs, limit=request.limit, seed=request.seed)
        if not queries:
            result.skipped["commits"] = "no commit with a subject of three words or more touching indexed files"
        else:
            runs = gather(
                queries,
                IndexCandidates(index, embedder, repository=repository.name),
                depth=request.depth,
                progress=report("searching commits"),
            )
            result.evaluations.append(_evaluate("commits", runs, request))
            embedded, total = index.dense_coverage(repository=repository.name, model_id=embedder.model_id)
            result.details["commits"] = {"pairs_found": len(pairs), "dense_coverage": [embedded, total]}
    return result


def _evaluate(set_name: str, runs: Sequence[QueryRun], request: EvalRequest) -> Evaluation:
    return evaluate(
        set_name,
        runs,
        request.methods,
        method=request.method,
        lexical_weight=request.lexical_weight,
        weights=request.weights,
    )
