"""Reading an indexed repository the way an agent explores code: files, line ranges, symbols and a repository map.

Everything is read at the indexed commit from git's objects, and only files that are in the index can be read,
so secrets files, vendored and binary files stay out of reach whatever path is asked for. The repository map
ranks files over the graph Aider's repo map builds (an edge from each file to the files defining the identifiers
it uses) by weighted in-degree: every other file that uses a definition counts, specific names (long
snake_case or CamelCase) ten times more than plain words and private ``_names`` a tenth, as Aider weighs them,
so the files much of the code depends on come first, each with its most referenced definitions. (PageRank on
so small a graph let one stray word in a docstring hand a file's whole rank to an unrelated one.)
"""

from __future__ import annotations

import re
import threading
from collections import Counter, defaultdict
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from service.domain.knowledge import IndexedChunk, IndexedFile
from service.domain.lexical import query_terms
from service.errors import InvalidInput, NotFound
from service.knowledge_base.indexer import ALL_FILES
from service.knowledge_base.library import KnowledgeBase
from service.knowledge_base.sources import GitReader

MAX_READ_LINES = 500
MAX_READ_CHARS = 100_000
IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
DEFINITION_KINDS = frozenset({"function", "class"})
# A name defined in more files than this (``__init__``, ``get``, ``main``) says little about who depends on whom.
MAX_DEFINING_FILES = 4
MIN_NAME_LENGTH = 3
SPECIFIC_NAME = re.compile(
    r"^(?=.{8,})(?:[a-z0-9]+(?:_[a-z0-9]+)+|[A-Z][a-z0-9]+(?:[A-Z][a-z0-9]*)+|[a-z]+(?:[A-Z][a-z0-9]*)+)$"
)


@dataclass(frozen=True, slots=True)
class FileText:
    """Lines ``start_line..end_line`` of a file at ``commit`` (``truncated`` when the range was cut)."""

    path: str
    commit: str
    start_line: int
    end_line: int
    total_lines: int
    text: str
    truncated: bool


@dataclass(frozen=True, slots=True)
class Reference:
    """A line that uses an identifier, outside its definitions."""

    path: str
    line: int
    text: str
    symbol: str


@dataclass(frozen=True, slots=True)
class SymbolMatches:
    definitions: list[IndexedChunk]
    references: list[Reference]


@dataclass(frozen=True, slots=True)
class MappedSymbol:
    name: str
    kind: str
    line: int
    references: int


@dataclass(frozen=True, slots=True)
class MappedFile:
    path: str
    score: float
    symbols: list[MappedSymbol]


def safe_path(path: str) -> str:
    """``path`` as a clean repository-relative path; :class:`InvalidInput` for absolute paths or ``..``."""
    cleaned = path.strip()
    pure = PurePosixPath(cleaned)
    if (
        not cleaned
        or "\\" in cleaned
        or "\0" in cleaned
        or pure.is_absolute()
        or re.match(r"^[A-Za-z]:", cleaned)
        or any(part == ".." for part in pure.parts)
    ):
        raise InvalidInput(
            f"invalid path {path!r}: give a path relative to the repository root, without '..'",
            hint="list the files with listFiles and use a path from there",
        )
    return str(pure)


class Navigator:
    """File reading, symbol lookup and the repository map over a :class:`KnowledgeBase`. Thread-safe."""

    def __init__(self, knowledge: KnowledgeBase) -> None:
        self._knowledge = knowledge
        self._maps: dict[tuple[str, str], list[MappedFile]] = {}
        self._lock = threading.Lock()

    def read_file(self, repository: str, path: str, start_line: int = 1, end_line: int | None = None) -> FileText:
        """Lines of an indexed file at the indexed commit; at most :data:`MAX_READ_LINES` lines at once."""
        clean = safe_path(path)
        record = self._knowledge.repository(repository)
        blobs = self._knowledge.index.file_blobs(repository=repository)
        if clean not in blobs:
            raise NotFound(
                f"{clean} is not an indexed file of {repository}",
                hint="list the files with listFiles; secrets, vendored and binary files are never indexed",
            )
        if start_line < 1 or (end_line is not None and end_line < start_line):
            raise InvalidInput(f"bad line range {start_line}-{end_line}", hint="lines are 1-based and inclusive")
        with GitReader(Path(record.path)) as reader:
            data = reader.read_blob(blobs[clean])
        try:
            lines = data.decode("utf-8").splitlines()
        except UnicodeDecodeError:  # a document: its extracted text, chunk by chunk
            lines = [
                line
                for chunk in self._knowledge.index.chunks_for_path(repository=repository, path=clean)
                for line in chunk.text.splitlines()
            ]
        total = len(lines)
        if start_line > max(total, 1):
            raise InvalidInput(
                f"{clean} has {total} lines; startLine {start_line} is past its end",
                hint=f"read from a startLine between 1 and {max(total, 1)}",
            )
        last = min(end_line or total, total, start_line + MAX_READ_LINES - 1)
        text = "\n".join(lines[start_line - 1 : last])
        truncated = last < min(end_line or total, total)
        if len(text) > MAX_READ_CHARS:
            text, truncated = text[:MAX_READ_CHARS], True
        return FileText(
            path=clean,
            commit=record.commit or "",
            start_line=start_line,
            end_line=last,
            total_lines=total,
            text=text,
            truncated=truncated,
        )

    def list_files(self, repository: str, prefix: str = "", limit: int = 200) -> list[IndexedFile]:
        """Indexed files under ``prefix`` (a directory or the start of a path), by path."""
        clean = safe_path(prefix) if prefix.strip() else ""
        if clean in (".", ""):
            clean = ""
        self._knowledge.repository(repository)
        return self._knowledge.index.list_files(repository=repository, prefix=clean, limit=limit)

    def find_symbol(self, repository: str, name: str, limit: int = 20) -> SymbolMatches:
        """Definitions of ``name`` (``Class.method`` or a bare name) and lines that use it elsewhere."""
        if not IDENTIFIER.fullmatch(name.split(".")[-1] or ""):
            raise InvalidInput(f"{name!r} is not an identifier", hint="give a function, class or method name")
        self._knowledge.repository(repository)
        index = self._knowledge.index
        definitions = index.find_symbols(repository=repository, name=name, limit=limit)
        bare = name.split(".")[-1]
        word = re.compile(rf"\b{re.escape(bare)}\b")
        hits = index.search_lexical(repository=repository, terms=query_terms(bare), k=100)
        if not definitions:
            # A small class is one chunk, so its methods have no chunk of their own: look inside the chunks.
            inside = (
                index.find_symbols(repository=repository, name=name.rsplit(".", 1)[0], limit=limit)
                if "." in name
                else []
            )
            declares = _declaration(bare)
            definitions = [c for c in [*inside, *(h.chunk for h in hits)] if declares.search(c.text)][:limit]
            definitions = list({c.chunk_id: c for c in definitions}.values())
        defined = {c.chunk_id for c in definitions}
        references: list[Reference] = []
        for hit in sorted(hits, key=lambda h: (h.chunk.path, h.chunk.start_line)):
            chunk = hit.chunk
            if chunk.chunk_id in defined:
                continue
            for offset, line in enumerate(chunk.text.splitlines()):
                if word.search(line):
                    references.append(
                        Reference(chunk.path, chunk.start_line + offset, line.strip()[:300], chunk.symbol)
                    )
            if len(references) >= limit:
                break
        return SymbolMatches(definitions=definitions, references=references[:limit])

    def repo_map(self, repository: str, limit: int = 20, symbols_per_file: int = 8) -> list[MappedFile]:
        """The ``limit`` most central files, each with its most referenced definitions (cached per commit)."""
        record = self._knowledge.repository(repository)
        key = (repository, record.commit or "")
        with self._lock:
            ranked = self._maps.get(key)
        if ranked is None:
            ranked = self._rank(repository)
            with self._lock:
                self._maps = {k: v for k, v in self._maps.items() if k[0] != repository}
                self._maps[key] = ranked
        return [MappedFile(path=f.path, score=f.score, symbols=f.symbols[:symbols_per_file]) for f in ranked[:limit]]

    def _rank(self, repository: str) -> list[MappedFile]:
        index = self._knowledge.index
        files = [f.path for f in index.list_files(repository=repository, limit=ALL_FILES)]
        chunks = {path: index.chunks_for_path(repository=repository, path=path) for path in files}
        definers: dict[str, set[str]] = defaultdict(set)
        definitions: dict[str, dict[str, tuple[str, int]]] = defaultdict(dict)  # path -> name -> (kind, line)
        top_level: set[str] = set()
        for path, file_chunks in chunks.items():
            for chunk in file_chunks:
                if chunk.kind in DEFINITION_KINDS and chunk.symbol:
                    name = chunk.symbol.split(".")[-1]
                    if len(name) >= MIN_NAME_LENGTH:
                        definers[name].add(path)
                        definitions[path].setdefault(name, (chunk.kind, chunk.start_line))
                        if "." not in chunk.symbol:
                            top_level.add(name)
        # A method with a plain name (count, lower, run) is called on every kind of object: its name alone
        # does not say which definition a use means, so only specific method names make edges.
        useful = {
            name
            for name, where in definers.items()
            if len(where) <= MAX_DEFINING_FILES and (name in top_level or SPECIFIC_NAME.match(name))
        }
        scores: defaultdict[str, float] = defaultdict(float)
        referenced: Counter[tuple[str, str]] = Counter()  # (defining path, name) -> referencing lines
        for path, file_chunks in chunks.items():
            used = Counter(
                token for chunk in file_chunks for token in IDENTIFIER.findall(chunk.text) if token in useful
            )
            own = set(definitions.get(path, {}))
            for name, count in used.items():
                if name in own:
                    continue
                for target in definers[name]:
                    scores[target] += _weight(name) / len(definers[name])
                    referenced[(target, name)] += count
        result: list[MappedFile] = []
        for path in sorted(files, key=lambda p: (-scores[p], p)):
            symbols = sorted(
                (
                    MappedSymbol(name, kind, line, referenced[(path, name)])
                    for name, (kind, line) in definitions[path].items()
                ),
                key=lambda s: (-s.references, s.line),
            )
            result.append(MappedFile(path=path, score=round(scores[path], 3), symbols=symbols))
        return result


def _weight(name: str) -> float:
    """How much one file's use of ``name`` says it depends on the definer (Aider's weighting of names)."""
    if name.startswith("_"):
        return 0.1
    return 10.0 if SPECIFIC_NAME.match(name) else 1.0


def _declaration(name: str) -> re.Pattern[str]:
    """A line that declares ``name`` in one of the chunked languages (def, function, func, class...)."""
    escaped = re.escape(name)
    return re.compile(
        rf"^\s*(?:export\s+)?(?:async\s+)?(?:def|function|func|class|interface|type|fn)\s+(?:\([^)]*\)\s*)?{escaped}\b"
        rf"|^\s*(?:(?:public|private|protected|static|final|abstract|async)\s+)*(?:[\w<>\[\],.]+\s+)?{escaped}\s*\([^;]*\)\s*[{{:]?\s*$",
        re.MULTILINE,
    )
