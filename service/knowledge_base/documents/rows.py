"""Tables as text: each row rendered as ``column: value`` lines, so every chunk of a table repeats its headers.

Shared by CSV/TSV, spreadsheets and Word tables. The first non-empty row gives the column names (a blank or
repeated name becomes ``column N``); empty cells are left out of a row's text, and empty rows are skipped.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from service.knowledge_base.documents.base import Block

MAX_CELL_CHARS = 2_000
MAX_HEADER_COLUMNS_SHOWN = 40


def cell_text(value: object) -> str:
    """A cell as text: integral floats without ``.0``, dates in ISO form, whitespace collapsed, bounded."""
    if value is None:
        return ""
    if isinstance(value, bool):
        text = "TRUE" if value else "FALSE"
    elif isinstance(value, float) and value.is_integer() and abs(value) < 1e15:
        text = str(int(value))
    elif isinstance(value, dt.datetime):
        text = value.isoformat(sep=" ") if value.time() != dt.time() else value.date().isoformat()
    elif isinstance(value, dt.date | dt.time):
        text = value.isoformat()
    else:
        text = str(value)
    text = " ".join(text.split())
    return text[:MAX_CELL_CHARS]


def column_names(values: Sequence[object], max_columns: int) -> list[str]:
    """Names for the columns from a header row: blank or repeated names become ``column N`` (1-based)."""
    names: list[str] = []
    seen: set[str] = set()
    for number, value in enumerate(values[:max_columns], start=1):
        name = cell_text(value)
        if not name or name in seen:
            name = f"column {number}"
        seen.add(name)
        names.append(name)
    return names


def render_row(columns: Sequence[str], values: Sequence[object]) -> str:
    """``column: value`` lines for a row's non-empty cells (cells past the header are ``column N``)."""
    lines = []
    for number, value in enumerate(values, start=1):
        text = cell_text(value)
        if text:
            name = columns[number - 1] if number <= len(columns) else f"column {number}"
            lines.append(f"{name}: {text}")
    return "\n".join(lines)


def row_block(columns: Sequence[str], values: Sequence[object], start: int, end: int | None = None) -> Block | None:
    """The block of one data row (``None`` for an empty row); ``start..end`` locate it (row or line numbers)."""
    text = render_row(columns, values)
    return Block(text, start, start if end is None else end) if text else None


def columns_header(columns: Sequence[str]) -> str:
    """The ``# columns:`` header line, naming at most the first ``MAX_HEADER_COLUMNS_SHOWN`` columns."""
    shown = ", ".join(columns[:MAX_HEADER_COLUMNS_SHOWN])
    more = len(columns) - MAX_HEADER_COLUMNS_SHOWN
    return f"# columns: {shown}" + (f", ... ({more} more)" if more > 0 else "")
