"""Markdown (``.md``, ``.markdown``): one section per heading, its ``symbol`` the heading path
(``"Install > From PyPI"``), parsed with markdown-it-py (CommonMark plus tables).

Line numbers are the real source lines. YAML (``---``) or TOML (``+++``) front matter at the top becomes a chunk
of its own (symbol ``"front matter"``, kind ``metadata``). Each top-level block (paragraph, list, table, quote,
code block) is kept together when it fits; fenced and indented code is kept whole up to twice the target size.
A heading with nothing under it but a sub-heading is folded into that sub-heading's chunk.
"""

from __future__ import annotations

from functools import cache

from markdown_it import MarkdownIt

from service.knowledge_base.chunking import Chunk
from service.knowledge_base.documents.base import Block, Budget, Section, sections_to_chunks
from service.knowledge_base.documents.text import bounded_lines

FRONT_MATTER_FENCES = {"---": ("---", "..."), "+++": ("+++",)}
MAX_FRONT_MATTER_LINES = 200
CODE_TOKENS = frozenset({"fence", "code_block"})


@cache
def _parser() -> MarkdownIt:
    return MarkdownIt("commonmark").enable("table")


def _front_matter(lines: list[str]) -> int:
    """The number of lines the front matter takes at the top (0 if there is none)."""
    if not lines or lines[0].strip() not in FRONT_MATTER_FENCES:
        return 0
    closers = FRONT_MATTER_FENCES[lines[0].strip()]
    for index in range(1, min(len(lines), MAX_FRONT_MATTER_LINES)):
        if lines[index].strip() in closers:
            return index + 1
    return 0


def markdown_sections(lines: list[str], budget: Budget) -> list[Section]:
    """Sections of markdown source ``lines`` (front matter first, if any), with real 1-based line numbers."""
    sections: list[Section] = []
    skip = _front_matter(lines)
    if skip:
        block = Block("\n".join(lines[:skip]), 1, skip, lines_match=True)
        sections.append(Section(("front matter",), [block], kind="metadata"))
    current = Section(())
    sections.append(current)
    stack: list[tuple[int, str]] = []  # (heading level, title)
    tokens = _parser().parse("\n".join(lines[skip:]))
    for index, token in enumerate(tokens):
        if token.level != 0 or token.nesting == -1 or token.map is None:
            continue
        first, last = token.map[0] + skip, token.map[1] + skip  # 0-based, end exclusive
        budget.tick()
        if token.type == "heading_open":
            level = int(token.tag[1:])
            title = tokens[index + 1].content.strip() if index + 1 < len(tokens) else ""
            while stack and stack[-1][0] >= level:
                stack.pop()
            stack.append((level, title or f"(untitled h{level})"))
            heading = Block("\n".join(lines[first:last]), first + 1, last, lines_match=True)
            current = Section(tuple(t for _, t in stack), lead=[heading])
            sections.append(current)
            continue
        text = "\n".join(lines[first:last]).rstrip("\n")
        if text.strip():
            atomic = token.type in CODE_TOKENS
            current.blocks.append(Block(text, first + 1, first + len(text.split("\n")), True, atomic))
    return sections


def extract_markdown(path: str, data: bytes, budget: Budget) -> list[Chunk]:
    lines = bounded_lines(data, budget)
    return sections_to_chunks(path, "markdown", markdown_sections(lines, budget), source_lines=lines)
