"""Split source code into retrieval chunks along its syntax tree.

Definitions (classes, functions, methods) are found with the tree-sitter queries in ``queries/chunks/<lang>.scm``.
A definition that fits the target size is one chunk; a larger class is split into its members (the class's own
lines before, between and after them form chunks of their own); a larger function is split into line windows.
Code between definitions (imports, constants) forms chunks too, and neighbouring small chunks of the same scope
are merged up to the target size. Every chunk carries a header naming its path, enclosing class and signature, so
the text that is embedded and searched says where it comes from (the embedding key leaves the path out, so a moved
file keeps its vectors). Files in other languages, or that fail to parse, fall back to line windows.
"""

from __future__ import annotations

from bisect import bisect_left
from dataclasses import dataclass
from functools import cache
from itertools import accumulate
from operator import add
from pathlib import Path, PurePosixPath
from typing import Any

from service.domain.knowledge import content_without_path, file_line

TARGET_CHARS = 1500
MIN_CHARS = 300
QUERIES = Path(__file__).resolve().parent / "queries" / "chunks"
# file suffix → (language name, query file, grammar module, grammar function)
LANGUAGES: dict[str, tuple[str, str, str, str]] = {
    ".py": ("python", "python", "tree_sitter_python", "language"),
    ".js": ("javascript", "javascript", "tree_sitter_javascript", "language"),
    ".jsx": ("javascript", "javascript", "tree_sitter_javascript", "language"),
    ".mjs": ("javascript", "javascript", "tree_sitter_javascript", "language"),
    ".cjs": ("javascript", "javascript", "tree_sitter_javascript", "language"),
    ".ts": ("typescript", "typescript", "tree_sitter_typescript", "language_typescript"),
    ".tsx": ("tsx", "typescript", "tree_sitter_typescript", "language_tsx"),
    ".java": ("java", "java", "tree_sitter_java", "language"),
    ".go": ("go", "go", "tree_sitter_go", "language"),
}
CLASS_NODES = frozenset(
    {
        "class_definition",
        "class_declaration",
        "abstract_class_declaration",
        "interface_declaration",
        "enum_declaration",
        "record_declaration",
        "type_declaration",
    }
)


@dataclass(frozen=True, slots=True)
class Chunk:
    """A piece of a file to index. Lines are 1-based and inclusive; ``symbol`` is ``Class.method`` or ``""``."""

    path: str
    language: str
    start_line: int
    end_line: int
    symbol: str
    kind: str  # class, function, code or text
    header: str
    text: str

    @property
    def content(self) -> str:
        """What gets embedded and searched: the header, then the code."""
        return f"{self.header}\n{self.text}"

    @property
    def path_free_content(self) -> str:
        """What the embedding key hashes (:func:`service.domain.knowledge.content_without_path`)."""
        return content_without_path(self.path, self.header, self.text)


@dataclass(frozen=True, slots=True)
class _Definition:
    name: str
    kind: str
    start: int  # 0-based line
    end: int  # 0-based line, inclusive
    parent: str


@dataclass
class _Unit:
    start: int
    end: int
    symbol: str
    kind: str
    scope: str  # enclosing class, for headers and merging
    head: int | None = None  # first line of the definition this unit belongs to (its signature)


@cache
def _parser_and_query(suffix: str) -> tuple[Any, Any] | None:
    spec = LANGUAGES.get(suffix)
    if spec is None:
        return None
    _, query_file, module_name, function = spec
    try:
        from tree_sitter import Language, Parser, Query

        module = __import__(module_name)
    except ImportError:
        return None
    language = Language(getattr(module, function)())
    query = Query(language, (QUERIES / f"{query_file}.scm").read_text(encoding="utf-8"))
    return Parser(language), query


def _definitions(source: bytes, suffix: str) -> list[_Definition] | None:
    tools = _parser_and_query(suffix)
    if tools is None:
        return None
    from tree_sitter import QueryCursor

    parser, query = tools
    tree = parser.parse(source)
    if tree.root_node.has_error:
        return None
    found: list[tuple[Any, str]] = []
    for _, captures in QueryCursor(query).matches(tree.root_node):
        for node in captures.get("definition", []):
            names = captures.get("name", [])
            raw = names[0].text if names else None
            found.append((node, raw.decode("utf-8", "replace") if raw else "?"))
    found.sort(key=lambda item: (item[0].start_byte, -item[0].end_byte))
    definitions: list[_Definition] = []
    stack: list[tuple[Any, str]] = []
    for node, label in found:
        while stack and not (stack[-1][0].start_byte <= node.start_byte and node.end_byte <= stack[-1][0].end_byte):
            stack.pop()
        parent = ".".join(n for _, n in stack)
        kind = "class" if node.type in CLASS_NODES else "function"
        definitions.append(_Definition(label, kind, node.start_point[0], node.end_point[0], parent))
        stack.append((node, label))
    return definitions


class _Lines:
    """A file's lines with running totals, so the size and blankness of any stretch cost O(1), not O(lines)."""

    __slots__ = ("filled", "lines", "offsets")

    def __init__(self, lines: list[str]) -> None:
        self.lines = lines
        # offsets[i]: characters (each line plus its newline) before line i; filled[i]: non-blank lines before i.
        # Built from C-level iterators: a Python expression per line cost more than the rest of the chunking.
        self.offsets: list[int] = list(map(add, accumulate(map(len, lines), initial=0), range(len(lines) + 1)))
        self.filled: list[int] = [0, *accumulate(map(bool, map(str.strip, lines)))]

    def size(self, start: int, end: int) -> int:
        return self.offsets[end + 1] - self.offsets[start]

    def blank(self, start: int, end: int) -> bool:
        return self.filled[end + 1] == self.filled[start]


def _windows(
    lines: _Lines, start: int, end: int, symbol: str, kind: str, scope: str, head: int | None = None
) -> list[_Unit]:
    """Line windows over ``start..end``: each ends at the first line that brings it to the target size."""
    units: list[_Unit] = []
    offsets = lines.offsets
    first = start
    while first <= end:
        # The first line `number` with size(first, number) >= TARGET_CHARS, i.e. offsets[number + 1] >= goal.
        number = min(bisect_left(offsets, offsets[first] + TARGET_CHARS, first + 1) - 1, end)
        units.append(_Unit(first, number, symbol, kind, scope, head))
        first = number + 1
    return units


def _units(definitions: list[_Definition], lines: _Lines, start: int, end: int, scope: str) -> list[_Unit]:
    """Units covering lines ``start..end`` exactly, from the definitions whose parent is ``scope``."""
    prefix = f"{scope}." if scope else ""
    direct = [d for d in definitions if d.parent == scope and start <= d.start and d.end <= end]
    units: list[_Unit] = []
    cursor = start
    for definition in direct:
        if definition.start > cursor:
            units.extend(_windows(lines, cursor, definition.start - 1, scope, "code", scope))
        symbol = f"{prefix}{definition.name}"
        if lines.size(definition.start, definition.end) <= TARGET_CHARS:
            units.append(_Unit(definition.start, definition.end, symbol, definition.kind, scope, definition.start))
        elif definition.kind == "class":
            units.extend(_units(definitions, lines, definition.start, definition.end, symbol))
        else:
            units.extend(
                _windows(lines, definition.start, definition.end, symbol, definition.kind, scope, definition.start)
            )
        cursor = max(cursor, definition.end + 1)
    if cursor <= end:
        units.extend(_windows(lines, cursor, end, scope, "code", scope))
    return units


def _merge(units: list[_Unit], lines: _Lines) -> list[_Unit]:
    """Fold small stretches of plain code (imports, constants, a class's own lines) into a neighbour of the same
    scope, up to the target size. Definitions are never merged with each other, so each keeps its symbol."""
    merged: list[_Unit] = []
    for unit in units:
        if lines.blank(unit.start, unit.end):
            continue
        previous = merged[-1] if merged else None
        if (
            previous is not None
            and previous.scope == unit.scope
            and "code" in (previous.kind, unit.kind)
            and min(lines.size(previous.start, previous.end), lines.size(unit.start, unit.end)) < MIN_CHARS
            and lines.size(previous.start, unit.end) <= TARGET_CHARS
        ):
            definition = unit if previous.kind == "code" else previous
            merged[-1] = _Unit(
                previous.start, unit.end, definition.symbol, definition.kind, unit.scope, definition.head
            )
        else:
            merged.append(unit)
    return merged


def _header(path: str, unit: _Unit, lines: list[str]) -> str:
    parts = [file_line(path)]
    if unit.scope:
        parts.append(f"# class: {unit.scope}")
    if unit.head is not None:
        parts.append(f"# definition: {lines[unit.head].strip()}")
    return "\n".join(parts)


def chunk_file(path: str, text: str) -> list[Chunk]:
    """The chunks of one file (``path`` relative, ``/``-separated), in line order, covering every non-blank line."""
    lines = text.splitlines()
    if not lines:
        return []
    table = _Lines(lines)
    suffix = PurePosixPath(path).suffix.lower()
    language = LANGUAGES[suffix][0] if suffix in LANGUAGES else "text"
    definitions = _definitions(text.encode("utf-8"), suffix) if suffix in LANGUAGES else None
    if definitions is None:
        units = _windows(table, 0, len(lines) - 1, "", "text", "")
    else:
        units = _merge(_units(definitions, table, 0, len(lines) - 1, ""), table)
    return [
        Chunk(
            path=path,
            language=language,
            start_line=unit.start + 1,
            end_line=unit.end + 1,
            symbol=unit.symbol,
            kind=unit.kind,
            header=_header(path, unit, lines),
            text="\n".join(lines[unit.start : unit.end + 1]),
        )
        for unit in units
        if not table.blank(unit.start, unit.end)
    ]
