"""Word documents (``.docx``, with python-docx): one section per heading (paragraph styles ``Title`` (the root) and
``Heading 1``..``Heading 9``; ``symbol`` the heading path, as in markdown), paragraphs as blocks, and each table
rendered as ``column: value`` rows under its first row's names.

A .docx has no lines, so line numbers are body item numbers: the 1-based position of a paragraph in the body,
each table row counting as one item. Page headers and footers, footnotes, comments and text boxes are not read.
A password-protected file is an OLE container rather than a zip, and is refused as encrypted.
"""

from __future__ import annotations

import io
import re
from typing import Any

from service.knowledge_base.chunking import Chunk
from service.knowledge_base.documents.base import Block, Budget, Section, check_zip, sections_to_chunks
from service.knowledge_base.documents.rows import column_names, columns_header, row_block

HEADING_STYLE = re.compile(r"^heading ([1-9])$", re.IGNORECASE)


def _level(name: str) -> int | None:
    if name.strip().lower() == "title":
        return 0  # above Heading 1, so the title heads the path of every section under it
    match = HEADING_STYLE.match(name.strip())
    return int(match.group(1)) if match else None


def heading_levels(document: Any) -> dict[str, int]:
    """Heading level by paragraph style id. Built once: ``Paragraph.style`` looks a style up by scanning every
    style (and again for the default), which made a 2,000-paragraph file take seconds."""
    levels: dict[str, int] = {}
    for style in document.styles:
        level = _level(getattr(style, "name", None) or "")
        if level is not None and style.style_id:
            levels[style.style_id] = level
    return levels


def _row_cells(row: Any) -> list[str]:
    """The texts of a row's cells, a merged cell once (python-docx repeats it for every grid column it spans)."""
    texts: list[str] = []
    seen: set[int] = set()
    for cell in row.cells:
        if id(cell._tc) in seen:
            continue
        seen.add(id(cell._tc))
        texts.append(" ".join(cell.text.split()))
    return texts


class _Builder:
    def __init__(self, budget: Budget, levels: dict[str, int]) -> None:
        self.budget = budget
        self.levels = levels
        self.sections: list[Section] = [Section(())]
        self.stack: list[tuple[int, str]] = []
        self.item = 0

    def paragraph(self, paragraph: Any) -> None:
        self.item += 1
        text = paragraph.text.strip()
        if not text or not self.budget.take(text):
            return
        style_id = paragraph._p.style  # the w:pStyle value; None means the default (body text) style
        level = self.levels.get(style_id) if style_id else None
        if level is None:
            self.sections[-1].blocks.append(Block(text, self.item, self.item))
            return
        title = " ".join(text.split())
        while self.stack and self.stack[-1][0] >= level:
            self.stack.pop()
        self.stack.append((level, title))
        self.sections.append(Section(tuple(t for _, t in self.stack), lead=[Block(title, self.item, self.item)]))

    def table(self, table: Any) -> None:
        limits = self.budget.limits
        columns: list[str] | None = None
        for row in table.rows:
            self.item += 1
            self.budget.tick()
            cells = _row_cells(row)[: limits.max_columns]
            if columns is None:
                if any(cells):
                    columns = column_names(cells, limits.max_columns)
                    self.sections[-1].blocks.append(Block(columns_header(columns)[2:], self.item, self.item))
                continue
            block = row_block(columns, cells, self.item)
            if block is not None and self.budget.take(block.text):
                self.sections[-1].blocks.append(block)


def extract_docx(path: str, data: bytes, budget: Budget) -> list[Chunk]:
    import docx
    from docx.table import Table

    check_zip(data, budget.limits, "docx")
    document = docx.Document(io.BytesIO(data))
    builder = _Builder(budget, heading_levels(document))
    for item in document.iter_inner_content():
        if isinstance(item, Table):
            builder.table(item)
        else:
            builder.paragraph(item)
    return sections_to_chunks(path, "docx", builder.sections)
