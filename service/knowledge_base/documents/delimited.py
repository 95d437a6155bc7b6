"""Delimited text (``.csv``, ``.tsv``): runs of rows, each row rendered as ``column: value`` lines under the
header row's names, with the columns repeated in every chunk's header.

A CSV's dialect (delimiter, quoting) is sniffed from its first 4 KiB (comma when that fails); a TSV is
tab-separated. Line numbers are the physical source lines of each row (a quoted field may span lines; otherwise
they are the row numbers, the header being line 1). At most ``Limits.max_rows`` data rows and
``Limits.max_columns`` columns are read; the rest is left out with a note.
"""

from __future__ import annotations

import csv
import io

from service.knowledge_base.chunking import Chunk
from service.knowledge_base.documents.base import Block, Budget, DocumentError, Section, decode_text, sections_to_chunks
from service.knowledge_base.documents.rows import column_names, columns_header, row_block

# csv.Sniffer's quote-guessing regex is quadratic in its sample: 4 KiB of pathological quotes take ~0.3 s,
# 16 KiB take ~4 s. Four KiB is many rows of a normal file.
SNIFF_CHARS = 4 * 1024
SNIFF_DELIMITERS = ",;\t|"
Dialect = type[csv.Dialect] | csv.Dialect


def _dialect(text: str) -> Dialect:
    sample = text[:SNIFF_CHARS]
    if len(text) > SNIFF_CHARS and "\n" in sample:
        sample = sample[: sample.rindex("\n")]
    try:
        return csv.Sniffer().sniff(sample, delimiters=SNIFF_DELIMITERS)
    except csv.Error:
        return csv.excel


def _extract(
    path: str, data: bytes, budget: Budget, language: str, dialect: type[csv.Dialect] | csv.Dialect
) -> list[Chunk]:
    text = decode_text(data)
    limits = budget.limits
    reader = csv.reader(io.StringIO(text, newline=""), dialect)
    columns: list[str] | None = None
    blocks: list[Block] = []
    rows = 0
    last_line = 0
    try:
        for values in reader:
            first_line, last_line = last_line + 1, reader.line_num
            if columns is None:
                if any(v.strip() for v in values):
                    columns = column_names(values, limits.max_columns)
                continue
            if rows >= limits.max_rows:
                budget.note(f"truncated: rows after the first {limits.max_rows} were left out")
                break
            rows += 1
            if len(values) > limits.max_columns:
                budget.note(f"truncated: columns after the first {limits.max_columns} were left out")
                values = values[: limits.max_columns]
            block = row_block(columns, values, first_line, last_line)
            if block is not None:
                if not budget.take(block.text):
                    break
                blocks.append(block)
    except csv.Error as exc:
        raise DocumentError(f"malformed {language} at line {reader.line_num}: {exc}") from exc
    if columns is None:
        return []
    section = Section((), blocks, kind="rows", header=(columns_header(columns),))
    return sections_to_chunks(path, language, [section])


def extract_csv(path: str, data: bytes, budget: Budget) -> list[Chunk]:
    text_head = decode_text(data[: SNIFF_CHARS * 4])
    return _extract(path, data, budget, "csv", _dialect(text_head))


def extract_tsv(path: str, data: bytes, budget: Budget) -> list[Chunk]:
    return _extract(path, data, budget, "tsv", csv.excel_tab)
