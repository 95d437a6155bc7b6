"""Which class or function encloses a line: the ``symbol`` of a finding, part of its fingerprint.

Python is read with the standard library's ``ast`` (classes and functions, nested names joined with dots);
every other language lizard can parse is read with lizard, which knows function boundaries for C/C++, Java,
JavaScript/TypeScript, Go, C#, Kotlin, Swift, Rust, Ruby, PHP and more.
"""

from __future__ import annotations

import ast
import warnings
from dataclasses import dataclass

import lizard


@dataclass(frozen=True, slots=True)
class Span:
    """A named block from ``start`` to ``end`` (1-based, inclusive)."""

    name: str
    start: int
    end: int


def _python_spans(source: str) -> list[Span]:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", SyntaxWarning)  # e.g. invalid escapes in the analysed code
            tree = ast.parse(source)
    except (SyntaxError, ValueError):
        return []
    spans: list[Span] = []

    def visit(node: ast.AST, prefix: str) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
                name = f"{prefix}{child.name}"
                start = min([child.lineno, *(d.lineno for d in child.decorator_list)])
                spans.append(Span(name, start, child.end_lineno or child.lineno))
                visit(child, f"{name}.")
            else:
                visit(child, prefix)

    visit(tree, "")
    return spans


def _lizard_spans(path: str, source: str) -> list[Span]:
    try:
        info = lizard.analyze_file.analyze_source_code(path, source)
    except Exception:  # lizard has no error type of its own; an unparsable file just has no symbols
        return []
    return [Span(function.name, function.start_line, function.end_line) for function in info.function_list]


class SymbolIndex:
    """Finds enclosing symbols, parsing each file once."""

    def __init__(self) -> None:
        self._spans: dict[str, list[Span]] = {}

    def spans(self, path: str, source: str) -> list[Span]:
        """Every class and function of ``path`` (whose text is ``source``)."""
        if path not in self._spans:
            self._spans[path] = _python_spans(source) if path.endswith(".py") else _lizard_spans(path, source)
        return self._spans[path]

    def symbol_at(self, path: str, source: str, line: int) -> str:
        """The innermost symbol containing ``line``, or ``""`` at module level."""
        containing = [span for span in self.spans(path, source) if span.start <= line <= span.end]
        if not containing:
            return ""
        return min(containing, key=lambda span: span.end - span.start).name
