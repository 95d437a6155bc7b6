"""Labelled query sets for measuring retrieval on a repository's own code.

Two sets, both built without any human labelling:

* **docstrings**: a documented Python function's docstring (its first paragraph) is the query and the function
  is the answer. The corpus searched is the repository with every function docstring *removed*, so the query
  text is not in the index and retrieval has to find the code by what it does. Line numbers in the targets are
  those of the stripped files.
* **commits**: a commit's subject is the query and the files it changed are the answers (any chunk of a changed
  file is a hit), searched on the indexed commit's tree. Merge commits, commits touching many files and subjects
  under three words are left out.

Sampling is deterministic: candidates are ordered, then drawn with :class:`random.Random` seeded by the caller.
"""

from __future__ import annotations

import ast
import random
import re
import subprocess
import textwrap
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from service.domain.knowledge import IndexedChunk
from service.errors import InvalidInput

MIN_QUERY_WORDS = 3
MAX_COMMIT_FILES = 20
MAX_COMMITS_SCANNED = 20_000
_WORD = re.compile(r"\S+")


@dataclass(frozen=True, slots=True)
class Target:
    """A relevant place: lines ``start_line..end_line`` (1-based, inclusive) of ``path``, or the whole file
    when ``start_line`` is 0. A chunk is a hit when it is in the file and overlaps the lines."""

    path: str
    start_line: int = 0
    end_line: int = 0

    def matches(self, chunk: IndexedChunk) -> bool:
        if chunk.path != self.path:
            return False
        return self.start_line == 0 or (chunk.start_line <= self.end_line and self.start_line <= chunk.end_line)


@dataclass(frozen=True, slots=True)
class LabelledQuery:
    """A query and the places that answer it. ``label`` says where the pair came from (``path:Qual.name`` for a
    docstring, the commit sha for a commit)."""

    set_name: str
    query: str
    targets: tuple[Target, ...]
    label: str

    def is_hit(self, chunk: IndexedChunk) -> bool:
        return any(target.matches(chunk) for target in self.targets)


@dataclass(frozen=True, slots=True)
class StrippedCorpus:
    """Python files with their function docstrings removed (other files unchanged are not in ``files``), and
    every docstring → function pair found, in path and line order."""

    files: dict[str, str]
    queries: list[LabelledQuery] = field(default_factory=list)


def first_paragraph(docstring: str) -> str:
    """The docstring up to its first blank line, on one line."""
    paragraph = re.split(r"\n\s*\n", docstring.strip(), maxsplit=1)[0]
    return " ".join(_WORD.findall(paragraph))


def _qualified_functions(tree: ast.Module) -> list[tuple[str, ast.FunctionDef | ast.AsyncFunctionDef]]:
    found: list[tuple[str, ast.FunctionDef | ast.AsyncFunctionDef]] = []

    def visit(node: ast.AST, prefix: str) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef):
                found.append((f"{prefix}{child.name}", child))
                visit(child, f"{prefix}{child.name}.")
            elif isinstance(child, ast.ClassDef):
                visit(child, f"{prefix}{child.name}.")
            else:
                visit(child, prefix)

    visit(tree, "")
    return found


def _docstring_node(function: ast.FunctionDef | ast.AsyncFunctionDef) -> ast.Expr | None:
    first = function.body[0] if function.body else None
    if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant) and isinstance(first.value.value, str):
        return first
    return None


def _on_own_lines(lines: list[str], node: ast.Expr) -> bool:
    """Whether the docstring fills its lines (nothing but blanks or a comment around it)."""
    end_line = node.end_lineno or node.lineno
    before = lines[node.lineno - 1].encode("utf-8")[: node.col_offset]
    after = lines[end_line - 1].encode("utf-8")[node.end_col_offset or 0 :].strip()
    return not before.strip() and (not after or after.startswith(b"#"))


def strip_docstrings(path: str, text: str) -> tuple[str, list[LabelledQuery]]:
    """``text`` with every function docstring that fills its own lines removed, and the docstring → function pairs.

    A docstring that is the function's whole body becomes ``pass`` and gives no pair (there is no code to find).
    A file that does not parse, or would not parse once stripped, is returned unchanged with no pairs.
    """
    try:
        tree = ast.parse(text)
    except (SyntaxError, ValueError):
        return text, []
    lines = text.splitlines(keepends=True)
    removals: list[tuple[int, int, str | None]] = []  # 0-based first line, end line exclusive, replacement
    candidates: list[tuple[str, ast.FunctionDef | ast.AsyncFunctionDef, str]] = []
    for qualname, function in _qualified_functions(tree):
        node = _docstring_node(function)
        if node is None or not _on_own_lines(lines, node):
            continue
        end = node.end_lineno or node.lineno
        if len(function.body) == 1:
            indent = lines[node.lineno - 1][: len(lines[node.lineno - 1]) - len(lines[node.lineno - 1].lstrip())]
            removals.append((node.lineno - 1, end, f"{indent}pass\n"))
            continue
        removals.append((node.lineno - 1, end, None))
        query = first_paragraph(ast.get_docstring(function) or "")
        if len(_WORD.findall(query)) >= MIN_QUERY_WORDS:
            candidates.append((qualname, function, query))
    if not removals:
        return text, []
    removals.sort()
    kept: list[str] = []
    shift_at: list[tuple[int, int]] = []  # (old 1-based line from which, lines removed so far)
    cursor = removed = 0
    for first, end, replacement in removals:
        if first < cursor:  # nested inside an earlier removal: cannot happen for docstrings, but stay safe
            continue
        kept.extend(lines[cursor:first])
        if replacement is not None:
            kept.append(replacement)
            removed -= 1
        removed += end - first
        shift_at.append((end + 1, removed))
        cursor = end
    kept.extend(lines[cursor:])
    stripped = "".join(kept)
    try:
        ast.parse(stripped)
    except (SyntaxError, ValueError):
        return text, []

    def new_line(old: int) -> int:
        shift = 0
        for start, total in shift_at:
            if old >= start:
                shift = total
        return old - shift

    queries = [
        LabelledQuery(
            set_name="docstrings",
            query=query,
            targets=(Target(path, new_line(function.lineno), new_line(function.end_lineno or function.lineno)),),
            label=f"{path}:{qualname}",
        )
        for qualname, function, query in candidates
    ]
    return stripped, queries


def docstring_corpus(files: Mapping[str, str]) -> StrippedCorpus:
    """Strip every Python file of ``files`` (path → text); keep the ones that changed and all the pairs."""
    corpus = StrippedCorpus(files={})
    for path in sorted(files):
        if not path.endswith(".py"):
            continue
        stripped, queries = strip_docstrings(path, files[path])
        if stripped != files[path]:
            corpus.files[path] = stripped
        corpus.queries.extend(queries)
    return corpus


def function_corpus(
    corpus: StrippedCorpus, queries: Sequence[LabelledQuery]
) -> tuple[dict[str, str], list[LabelledQuery]]:
    """A corpus of the queried functions alone: each function's stripped code, dedented, as a file of its own
    (``<path>/<Qual.name>.py``), and the queries re-pointed at those files. This is the smaller, easier setting
    of a docstring → function test where only the functions are indexed."""
    files: dict[str, str] = {}
    moved: list[LabelledQuery] = []
    for query in queries:
        target = query.targets[0]
        path, _, qualname = query.label.rpartition(":")
        lines = corpus.files[target.path].splitlines(keepends=True)[target.start_line - 1 : target.end_line]
        name = f"{path}/{qualname}.py"
        if name in files:  # the same name defined twice in a file (platform branches, property setters)
            name = f"{path}/{qualname}@{target.start_line}.py"
        files[name] = textwrap.dedent("".join(lines))
        moved.append(LabelledQuery(query.set_name, query.query, (Target(name),), query.label))
    return files, moved


def sample(queries: Sequence[LabelledQuery], *, limit: int | None, seed: int) -> list[LabelledQuery]:
    """At most ``limit`` of ``queries`` drawn with ``seed`` (the same inputs always give the same sample), in
    their original order."""
    if limit is None or limit >= len(queries):
        return list(queries)
    if limit < 1:
        raise InvalidInput("the query limit must be at least 1", hint="pass --limit 1 or more")
    chosen = sorted(random.Random(seed).sample(range(len(queries)), limit))  # noqa: S311 - sampling, not secrets
    return [queries[i] for i in chosen]


def split(
    queries: Sequence[LabelledQuery], *, first: int, seed: int
) -> tuple[list[LabelledQuery], list[LabelledQuery]]:
    """A seeded shuffle cut into ``first`` queries and the rest (disjoint; e.g. tuning and test)."""
    order = list(range(len(queries)))
    random.Random(seed).shuffle(order)  # noqa: S311 - sampling, not secrets
    head, tail = sorted(order[:first]), sorted(order[first:])
    return [queries[i] for i in head], [queries[i] for i in tail]


def commit_queries(
    repository: Path,
    *,
    commit: str,
    indexed_paths: Collection[str],
    max_files: int = MAX_COMMIT_FILES,
    max_scanned: int = MAX_COMMITS_SCANNED,
) -> list[LabelledQuery]:
    """Commit subject → changed files for the history of ``commit`` (newest first), keeping only changed files
    that are in ``indexed_paths``. Raises :class:`InvalidInput` when ``repository`` is not a git repository."""
    marker = "\x1e"
    try:
        completed = subprocess.run(  # noqa: S603 - fixed git argv; the repository path is the indexed one
            [  # noqa: S607
                "git",
                "log",
                "--no-merges",
                "--no-renames",
                f"--max-count={max_scanned}",
                "--name-only",
                f"--format={marker}%H%x00%s",
                commit,
                "--",
            ],
            cwd=repository,
            capture_output=True,
            text=True,
            check=True,
        )
    except (OSError, subprocess.CalledProcessError) as exc:
        raise InvalidInput(
            f"cannot read the git history of {repository}",
            hint="the commit set needs the repository's git history; use --set docstrings",
        ) from exc
    indexed = set(indexed_paths)
    queries: list[LabelledQuery] = []
    for record in completed.stdout.split(marker)[1:]:
        head, _, body = record.partition("\n")
        sha, _, subject = head.partition("\x00")
        changed = [line for line in body.splitlines() if line.strip()]
        subject = " ".join(subject.split())
        if not changed or len(changed) > max_files or len(subject.split()) < MIN_QUERY_WORDS:
            continue
        relevant = sorted({path for path in changed if path in indexed})
        if relevant:
            queries.append(LabelledQuery("commits", subject, tuple(Target(path) for path in relevant), sha))
    return queries
