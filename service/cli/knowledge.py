"""`ticketsmith index`, `ticketsmith search` and `ticketsmith repos list`: the knowledge base from the shell."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from service.cli._common import EXIT_FAILED, JsonOption, app, err, out, with_container
from service.container import Container
from service.domain.knowledge import ChunkFilters, ScoredChunk
from service.errors import TicketsmithError
from service.knowledge_base.embedding import EmbedSummary
from service.knowledge_base.indexer import SyncSummary
from service.knowledge_base.library import RepositoryStatus, SearchResults
from service.knowledge_base.sources import is_url
from service.settings import Settings

repos_app = typer.Typer(help="Repositories in the knowledge base.", no_args_is_help=True)
app.add_typer(repos_app, name="repos")

SKIPPED_SHOWN_PER_REASON = 5


def container_factory(ctx: typer.Context) -> Callable[[Settings], Container] | None:
    """The container builder tests hand in through ``obj={"container_factory": ...}`` (None: the real one)."""
    obj = ctx.find_root().obj
    factory = obj.get("container_factory") if isinstance(obj, dict) else None
    return factory if callable(factory) else None


@contextmanager
def _bar(description: str, *, show: bool) -> Iterator[Callable[[int, int], None] | None]:
    if not show:
        yield None
        return
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, transient=True, console=err) as bar:
        task = bar.add_task(description, total=None)

        def advance(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        yield advance


def summary_data(summary: SyncSummary) -> dict[str, Any]:
    """The JSON form of a sync summary."""
    return {
        "repository": summary.repository,
        "commit": summary.commit,
        "previous_commit": summary.previous_commit,
        "incremental": summary.incremental,
        "files": summary.files,
        "chunks": summary.chunks,
        "languages": summary.languages,
        "added": summary.added,
        "modified": summary.modified,
        "deleted": summary.deleted,
        "renamed": summary.renamed,
        "processed": summary.processed,
        "chunks_written": summary.chunks_written,
        "seconds": summary.seconds,
        "skipped": [{"path": s.path, "reason": s.reason} for s in summary.skipped],
    }


def _embed_data(summary: EmbedSummary | None) -> dict[str, Any] | None:
    if summary is None:
        return None
    return {
        "model_id": summary.model_id,
        "embedded": summary.embedded,
        "covered": summary.covered,
        "total": summary.total,
        "seconds": summary.seconds,
    }


def _print_summary(summary: SyncSummary) -> None:
    out.print(
        f"[bold]{summary.repository}[/] at {summary.commit[:12]}: {summary.files} files, {summary.chunks} chunks "
        f"({summary.seconds:.1f} s)",
        highlight=False,
    )
    if summary.previous_commit and not summary.processed and not summary.deleted:
        out.print(f"  no changes since {summary.previous_commit[:12]}", highlight=False)
    elif summary.previous_commit:
        out.print(
            f"  since {(summary.previous_commit or '?')[:12]}: {summary.added} added, {summary.modified} modified, "
            f"{summary.deleted} deleted, {summary.renamed} renamed; {summary.processed} files read",
            highlight=False,
        )
    if summary.languages:
        out.print("  languages: " + ", ".join(f"{k} {v}" for k, v in summary.languages.items()), highlight=False)
    by_reason: dict[str, list[str]] = {}
    for skipped in summary.skipped:
        # "too large (1,234 bytes; ...)" and the like group under their head; --json keeps every detail.
        by_reason.setdefault(skipped.reason.split(" (", 1)[0], []).append(skipped.path)
    if by_reason:
        out.print(f"  skipped {len(summary.skipped)} files:", highlight=False)
    for reason in sorted(by_reason):
        paths = by_reason[reason]
        more = f" and {len(paths) - SKIPPED_SHOWN_PER_REASON} more" if len(paths) > SKIPPED_SHOWN_PER_REASON else ""
        out.print(f"    {reason}: {', '.join(paths[:SKIPPED_SHOWN_PER_REASON])}{more}", highlight=False)


@app.command()
def index(
    ctx: typer.Context,
    source: Annotated[str, typer.Argument(help="A git repository path, a clone URL, or an indexed repository's name.")],
    name: Annotated[str | None, typer.Option(help="Name to index it under (default: from the path or URL).")] = None,
    ref: Annotated[str | None, typer.Option(help="Branch, tag or commit to index (default: HEAD).")] = None,
    no_embed: Annotated[bool, typer.Option("--no-embed", help="Build the lexical index only.")] = False,
    full: Annotated[
        bool, typer.Option("--full", help="Compare every file, not only the diff (after changing size limits).")
    ] = False,
    as_json: JsonOption = False,
) -> None:
    """Index a git repository into the knowledge base, or sync it incrementally to a newer commit."""
    show = not as_json and err.is_terminal

    def work(container: Container) -> None:
        knowledge = container.knowledge
        given: str | None = source
        repo_name = name
        if not is_url(source) and not Path(source).expanduser().exists() and knowledge.known(source):
            given, repo_name = None, source  # re-sync a known repository from where it came from
        with _bar("indexing files", show=show) as progress:
            summary = knowledge.sync(given, name=repo_name, ref=ref, progress=progress, full=full)
        if not as_json:
            _print_summary(summary)
        embedded = None
        failure: TicketsmithError | None = None
        if not no_embed and knowledge.embedder is not None:
            try:
                with _bar(f"embedding ({knowledge.embedder.model_id})", show=show) as progress:
                    embedded = knowledge.embed(summary.repository, progress=progress)
            except TicketsmithError as exc:  # the lexical index stands; what was embedded before the failure stays
                failure = exc
            if failure is not None and not as_json:
                err.print(f"[bold red]embedding failed:[/] {failure.message}", highlight=False)
                if failure.hint:
                    err.print(f"[bold]hint:[/] {failure.hint}", highlight=False)
                err.print(f"lexical search is ready; resume with: ticketsmith index {summary.repository}")
            if embedded is not None and not as_json:
                out.print(
                    f"  dense index: {embedded.covered}/{embedded.total} chunks ({embedded.embedded} embedded now, "
                    f"{embedded.seconds:.1f} s, {embedded.model_id})",
                    highlight=False,
                )
        elif not as_json:
            why = "--no-embed" if no_embed else "no embedding model configured"
            out.print(f"  dense index: skipped ({why}); lexical search is ready", highlight=False)
        if as_json:
            data = {"index": summary_data(summary), "embedding": _embed_data(embedded)}
            if failure is not None:
                data["embedding_error"] = failure.to_dict()["error"]
            out.print_json(data=data)
        if failure is not None:
            raise typer.Exit(EXIT_FAILED)

    with_container(as_json, in_memory=False, work=work, factory=container_factory(ctx))


def hit_data(hit: ScoredChunk, commit: str | None) -> dict[str, Any]:
    """The JSON form of one search result, with its citation."""
    chunk = hit.chunk
    cited = commit or chunk.commit
    return {
        "citation": f"{chunk.path}:{chunk.start_line}-{chunk.end_line}@{cited[:12]}",
        "path": chunk.path,
        "start_line": chunk.start_line,
        "end_line": chunk.end_line,
        "symbol": chunk.symbol,
        "kind": chunk.kind,
        "language": chunk.language,
        "commit": cited,
        "score": round(hit.score, 6),
        "chunk_id": chunk.chunk_id,
        "text": chunk.text,
    }


def _print_results(results: SearchResults) -> None:
    commit = results.repository.commit or ""
    for rank, hit in enumerate(results.hits, start=1):
        chunk = hit.chunk
        symbol = f"  [bold]{chunk.symbol}[/]" if chunk.symbol else ""
        out.print(
            f"{rank:>2}. [cyan]{chunk.path}:{chunk.start_line}-{chunk.end_line}[/]{symbol}  "
            f"({chunk.kind}, {chunk.language})  @{commit[:7]}  score {hit.score:.4f}",
            highlight=False,
        )
        for line in [line for line in chunk.text.splitlines() if line.strip()][:3]:
            out.print(f"      {line[:160]}", highlight=False, markup=False)
    if not results.hits:
        out.print("no results", highlight=False)
    coverage = f"{results.embedded}/{results.chunks}" if results.chunks else "0/0"
    note = f"; {results.note}" if results.note else ""
    err.print(f"mode {results.mode}; dense index {coverage} chunks{note}", highlight=False)


@app.command()
def search(
    ctx: typer.Context,
    query: Annotated[str, typer.Argument(help="Words, identifiers or a question.")],
    repo: Annotated[str | None, typer.Option(help="Repository to search (default: the only one).")] = None,
    k: Annotated[int, typer.Option("-k", min=1, max=100, help="How many results.")] = 10,
    path: Annotated[str | None, typer.Option("--path", help="Only paths matching this glob (fnmatch).")] = None,
    language: Annotated[str | None, typer.Option(help="Only chunks of this language.")] = None,
    kind: Annotated[str | None, typer.Option(help="Only chunks of this kind (function, class, section...).")] = None,
    mode: Annotated[str, typer.Option(help="hybrid, lexical or dense.")] = "hybrid",
    as_json: JsonOption = False,
) -> None:
    """Search an indexed repository; every result cites path, line range, symbol and commit."""

    def work(container: Container) -> None:
        knowledge = container.knowledge
        name = knowledge.default_repository(repo)
        filters = ChunkFilters(path_glob=path, language=language, kind=kind)
        results = knowledge.search(query, repository=name, k=k, filters=filters, mode=mode)
        if as_json:
            out.print_json(
                data={
                    "repository": name,
                    "commit": results.repository.commit,
                    "mode": results.mode,
                    "note": results.note,
                    "dense": {
                        "embedded": results.embedded,
                        "chunks": results.chunks,
                        "coverage": round(results.embedded / results.chunks, 4) if results.chunks else 1.0,
                    },
                    "results": [hit_data(hit, results.repository.commit) for hit in results.hits],
                }
            )
        else:
            _print_results(results)

    with_container(as_json, in_memory=False, work=work, factory=container_factory(ctx))


def status_data(status: RepositoryStatus) -> dict[str, Any]:
    """The JSON form of a repository's status."""
    repository = status.repository
    return {
        "name": repository.name,
        "source": repository.source,
        "ref": repository.ref,
        "commit": repository.commit,
        "indexed_at": repository.indexed_at.isoformat() if repository.indexed_at else None,
        "files": status.files,
        "chunks": status.chunks,
        "skipped": status.skipped,
        "embedded": status.embedded,
        "model_id": status.model_id,
        "dense_coverage": round(status.dense_coverage, 4),
    }


@repos_app.command("list")
def repos_list(ctx: typer.Context, as_json: JsonOption = False) -> None:
    """List the indexed repositories with their commit, size and how complete the dense index is."""

    def work(container: Container) -> None:
        statuses = container.knowledge.statuses()
        if as_json:
            out.print_json(data={"repositories": [status_data(s) for s in statuses]})
            return
        if not statuses:
            out.print("nothing indexed yet; run: ticketsmith index PATH_OR_URL", highlight=False)
        for status in statuses:
            repository = status.repository
            out.print(
                f"[bold]{repository.name}[/]  {(repository.commit or '')[:12]}  {status.files} files, "
                f"{status.chunks} chunks, dense {status.dense_coverage:.0%}  {repository.source}",
                highlight=False,
            )

    with_container(as_json, in_memory=False, work=work, factory=container_factory(ctx))
