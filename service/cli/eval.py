"""`ticketsmith eval retrieval`: retrieval quality measured on an indexed repository's own code."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import Progress, TaskID
from rich.table import Table

from service.cli._common import JsonOption, app, err, out, with_container
from service.cli.knowledge import container_factory
from service.container import Container, scratch_chunk_index
from service.errors import ConfigurationError, InvalidInput
from service.knowledge_base.evaluation import KS, lexical_share, shared_fusions
from service.knowledge_base.evaluation_run import (
    DEFAULT_LIMIT,
    DEFAULT_SEED,
    SETS,
    EvalRequest,
    RepositoryEvaluation,
    evaluate_repository,
)
from service.knowledge_base.sources import GitReader

eval_app = typer.Typer(help="Measure the service on your own code.", no_args_is_help=True)
app.add_typer(eval_app, name="eval")


def _print(result: RepositoryEvaluation) -> None:
    out.print(f"[bold]{result.repository}[/] at {result.commit[:12]}", highlight=False)
    for evaluation in result.evaluations:
        table = Table(title=f"{evaluation.set_name}: {evaluation.lexical.queries} queries", title_justify="left")
        table.add_column("retriever")
        for k in KS:
            table.add_column(f"recall@{k}", justify="right")
        table.add_column("MRR@10", justify="right")
        rows = [
            ("lexical", evaluation.lexical),
            ("dense", evaluation.dense),
            (
                f"hybrid ({evaluation.hybrid_method}, lexical weight {evaluation.hybrid_lexical_weight:g})",
                evaluation.hybrid,
            ),
        ]
        rows.extend(
            (f"best {method} (lexical weight {point.lexical_weight:g})", point.scores)
            for method, point in sorted(evaluation.best().items())
        )
        for name, scores in rows:
            table.add_row(name, *(f"{scores.recall[k]:.3f}" for k in KS), f"{scores.mrr_at_10:.3f}")
        out.print(table)
    for set_name, reason in result.skipped.items():
        err.print(f"[yellow]skipped[/] {set_name}: {reason}", highlight=False)


def _run(container: Container, *, name: str, request: EvalRequest, bar: Progress | None) -> RepositoryEvaluation:
    knowledge = container.knowledge
    if knowledge.embedder is None:
        raise ConfigurationError(
            "retrieval evaluation needs an embedding model",
            hint="configure TICKETSMITH_EMBEDDINGS__PROVIDER (see .env.example)",
        )
    repository = knowledge.repository(name)
    tasks: dict[str, TaskID] = {}

    def progress(phase: str, done: int, total: int) -> None:
        if bar is None:
            return
        if phase not in tasks:
            tasks[phase] = bar.add_task(phase, total=total)
        bar.update(tasks[phase], completed=done, total=total)

    with tempfile.TemporaryDirectory(prefix="eval-", dir=_scratch_parent(container)) as scratch_dir:
        scratch, close = scratch_chunk_index(Path(scratch_dir))
        try:
            with GitReader(Path(repository.path)) as reader:
                return evaluate_repository(
                    index=knowledge.index,
                    scratch=scratch,
                    embedder=knowledge.embedder,
                    repository=repository,
                    read_blobs=reader.read_blobs,
                    request=request,
                    progress=progress,
                )
        finally:
            close()


def _scratch_parent(container: Container) -> Path:
    parent = container.settings.data_dir / "scratch"
    parent.mkdir(parents=True, exist_ok=True)
    return parent


@eval_app.command("retrieval")
def retrieval(
    ctx: typer.Context,
    repo: Annotated[str, typer.Option("--repo", help="Name of a repository indexed with ticketsmith index.")],
    limit: Annotated[int, typer.Option(help="At most this many queries per set (a seeded sample).", min=1)] = (
        DEFAULT_LIMIT
    ),
    set_name: Annotated[str, typer.Option("--set", help="docstrings, commits or both.")] = "both",
    seed: Annotated[int, typer.Option(help="Seed of the query sample.")] = DEFAULT_SEED,
    as_json: JsonOption = False,
) -> None:
    """Recall@1/5/10 and MRR@10 of lexical, dense and hybrid search on labelled queries built from the repository
    (docstring → function with docstrings removed; commit subject → files changed), and the best fusion weights."""

    def work(container: Container) -> RepositoryEvaluation:
        if set_name not in (*SETS, "both"):
            raise InvalidInput(f"unknown set {set_name!r}", hint="use --set docstrings, commits or both")
        kb = container.settings.knowledge_base
        request = EvalRequest(
            sets=SETS if set_name == "both" else (set_name,),
            methods=shared_fusions(rrf_k=kb.rrf_k),
            method=kb.fusion,
            lexical_weight=lexical_share(lexical_weight=kb.lexical_weight, dense_weight=kb.dense_weight),
            depth=kb.candidates,
            limit=limit,
            seed=seed,
        )
        if as_json or not err.is_terminal:
            return _run(container, name=repo, request=request, bar=None)
        with Progress(*Progress.get_default_columns(), transient=True, console=err) as bar:
            return _run(container, name=repo, request=request, bar=bar)

    result: RepositoryEvaluation = with_container(as_json, in_memory=False, work=work, factory=container_factory(ctx))
    if as_json:
        out.print_json(data=result.as_dict())
    else:
        _print(result)
