"""Spreadsheets (``.xlsx`` with openpyxl, legacy ``.xls`` with xlrd): one section per sheet, its ``symbol`` the
sheet name and kind ``sheet``; each row rendered as ``column: value`` lines under the names in the sheet's first
non-empty row, repeated in every chunk's header.

Cells are read as their cached values (``data_only``: a formula's last computed result, not the formula).
Line numbers are the sheet's 1-based row numbers. At most ``Limits.max_sheets`` sheets, ``Limits.max_rows`` rows
per sheet (counting empty ones) and ``Limits.max_columns`` columns are read; the rest is left out with a note.
"""

from __future__ import annotations

import io
from collections.abc import Iterable, Sequence
from typing import Any

from service.knowledge_base.chunking import Chunk
from service.knowledge_base.documents.base import (
    OLE_MAGIC,
    Block,
    Budget,
    DocumentError,
    Limits,
    Section,
    check_zip,
    sections_to_chunks,
)
from service.knowledge_base.documents.rows import column_names, columns_header, row_block


def sheet_section(name: str, rows: Iterable[Sequence[object]], budget: Budget) -> Section | None:
    """The section of one sheet from its rows (row 1 first), or ``None`` when the sheet has no header row."""
    limits = budget.limits
    columns: list[str] | None = None
    header_row = 0
    blocks: list[Block] = []
    for number, values in enumerate(rows, start=1):
        if number > limits.max_rows:
            budget.note(f"truncated: sheet {name!r}: rows after {limits.max_rows} were left out")
            break
        budget.tick()
        cells = list(values[: limits.max_columns])
        while cells and cells[-1] in (None, ""):  # rows come padded to the widest one read
            cells.pop()
        if len(values) > limits.max_columns and any(v not in (None, "") for v in values[limits.max_columns :]):
            budget.note(f"truncated: sheet {name!r}: columns after {limits.max_columns} were left out")
        if columns is None:
            if any(v not in (None, "") for v in cells):
                columns, header_row = column_names(cells, limits.max_columns), number
            continue
        block = row_block(columns, cells, number)
        if block is not None:
            if not budget.take(block.text):
                break
            blocks.append(block)
    if columns is None:
        return None
    header = (f"# sheet: {name}", f"# header row: {header_row}", columns_header(columns))
    return Section((name,), blocks, kind="sheet", symbol=name, header=header)


def _chunks(path: str, language: str, sections: Iterable[Section | None]) -> list[Chunk]:
    return sections_to_chunks(path, language, [s for s in sections if s is not None and s.blocks])


def _xlsx_rows(sheet: Any, limits: Limits) -> Iterable[Sequence[object]]:
    """The sheet's rows from row 1, stopping one row and one column past the limits (what is found there is
    noted as left out). Rows come padded to the sheet's declared width, so that width is capped too."""
    columns = min(sheet.max_column or 1, limits.max_columns + 1)
    rows: Iterable[Sequence[object]] = sheet.iter_rows(
        min_row=1, max_row=limits.max_rows + 1, max_col=columns, values_only=True
    )
    return rows


def extract_xlsx(path: str, data: bytes, budget: Budget) -> list[Chunk]:
    import openpyxl
    from openpyxl.utils.exceptions import InvalidFileException

    check_zip(data, budget.limits, "xlsx")
    try:
        workbook = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except InvalidFileException as exc:
        raise DocumentError(f"not a valid xlsx: {exc}") from exc
    limits = budget.limits
    try:
        sheets = workbook.worksheets
        if len(sheets) > budget.limits.max_sheets:
            budget.note(f"truncated: sheets after the first {budget.limits.max_sheets} were left out")
        sections = [
            sheet_section(sheet.title, _xlsx_rows(sheet, limits), budget) for sheet in sheets[: limits.max_sheets]
        ]
    finally:
        workbook.close()
    return _chunks(path, "xlsx", sections)


def _xls_rows(book: Any, sheet: Any) -> Iterable[list[object]]:
    import xlrd

    for index in range(sheet.nrows):
        values: list[object] = []
        for cell in sheet.row(index):
            if cell.ctype == xlrd.XL_CELL_DATE:
                try:
                    values.append(xlrd.xldate_as_datetime(cell.value, book.datemode))
                except (ValueError, OverflowError, xlrd.xldate.XLDateError):
                    values.append(cell.value)
            elif cell.ctype == xlrd.XL_CELL_BOOLEAN:
                values.append(bool(cell.value))
            elif cell.ctype == xlrd.XL_CELL_ERROR:
                values.append(xlrd.error_text_from_code.get(cell.value, "#ERROR"))
            else:
                values.append(cell.value)
        yield values


def extract_xls(path: str, data: bytes, budget: Budget) -> list[Chunk]:
    import xlrd

    if not data.startswith(OLE_MAGIC):
        raise DocumentError("not a valid xls (no OLE container; an xlsx or csv named .xls?)")
    try:
        book = xlrd.open_workbook(file_contents=data, on_demand=True, logfile=io.StringIO(), verbosity=0)
    except xlrd.XLRDError as exc:
        raise DocumentError(f"unreadable xls: {exc}") from exc
    try:
        names = book.sheet_names()
        if len(names) > budget.limits.max_sheets:
            budget.note(f"truncated: sheets after the first {budget.limits.max_sheets} were left out")
        sections = []
        for index, name in enumerate(names[: budget.limits.max_sheets]):
            sheet = book.sheet_by_index(index)
            sections.append(sheet_section(name, _xls_rows(book, sheet), budget))
            book.unload_sheet(index)
    finally:
        book.release_resources()
    return _chunks(path, "xls", sections)
