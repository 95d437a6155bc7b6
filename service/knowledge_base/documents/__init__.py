"""Documents in the formats Amazon Bedrock Knowledge Bases ingest, turned into retrieval chunks by structure.

Contract: :func:`extract_chunks` takes a repository-relative ``/``-separated ``path`` (its suffix picks the
format) and the file's bytes, and returns :class:`~service.knowledge_base.chunking.Chunk` s in document order,
the same type the code chunker returns, so the indexer stores code and documents alike. It never raises anything
but :class:`DocumentError` (corrupt, truncated, encrypted, over a limit, or not what the suffix says), whose
``reason`` is meant to be recorded as ``skipped: <reason>``. An empty file yields no chunks and no error.
:func:`extract_document` returns the same chunks plus notes on what a limit left out (pages, rows, sheets).

==========================  ==========  ==========================  ======================================
suffix                      language    kind / symbol               start_line..end_line are
==========================  ==========  ==========================  ======================================
.txt                        text        text / ""                   source lines
.md .markdown               markdown    section / heading path      source lines
.html .htm                  html        section / heading path      source lines, best effort (0: unknown)
.csv .tsv                   csv, tsv    rows / ""                   source lines (= row numbers, 1 header)
.xlsx .xls                  xlsx, xls   sheet / sheet name          sheet row numbers
.docx                       docx        section / heading path      body paragraph numbers (a table row: 1)
.doc (Word 97-2003)         doc         text / ""                   paragraph numbers
.pdf                        pdf         page / "page N"             page numbers
==========================  ==========  ==========================  ======================================

Every chunk's ``header`` names the file and its section, sheet (with its columns) or page, so the embedded text
says where it comes from. Work is bounded by :class:`Limits` (bytes, unpacked zip size, pages, sheets, rows,
columns, characters, seconds); pass your own ``limits`` to change them.
"""

from __future__ import annotations

import importlib
import warnings
from pathlib import PurePosixPath
from typing import Protocol

from service.knowledge_base.chunking import Chunk
from service.knowledge_base.documents.base import DEFAULT_LIMITS, Budget, DocumentError, Extraction, Limits

__all__ = [
    "DEFAULT_LIMITS",
    "DOCUMENT_SUFFIXES",
    "DocumentError",
    "Extraction",
    "Limits",
    "extract_chunks",
    "extract_document",
    "is_document",
]


class _Extractor(Protocol):
    def __call__(self, path: str, data: bytes, budget: Budget, /) -> list[Chunk]: ...


# suffix → (module, function); modules are imported on first use so that asking is_document() loads no parser.
_FORMATS: dict[str, tuple[str, str]] = {
    ".txt": ("text", "extract_text"),
    ".md": ("markdown", "extract_markdown"),
    ".markdown": ("markdown", "extract_markdown"),
    ".html": ("html", "extract_html"),
    ".htm": ("html", "extract_html"),
    ".csv": ("delimited", "extract_csv"),
    ".tsv": ("delimited", "extract_tsv"),
    ".xlsx": ("spreadsheets", "extract_xlsx"),
    ".xls": ("spreadsheets", "extract_xls"),
    ".docx": ("word", "extract_docx"),
    ".doc": ("word97", "extract_doc"),
    ".pdf": ("pdf", "extract_pdf"),
}
DOCUMENT_SUFFIXES: frozenset[str] = frozenset(_FORMATS)


def is_document(path: str) -> bool:
    """Whether ``path``'s suffix (case-insensitive) is one of :data:`DOCUMENT_SUFFIXES`."""
    return PurePosixPath(path).suffix.lower() in _FORMATS


def extract_document(path: str, data: bytes, *, limits: Limits = DEFAULT_LIMITS) -> Extraction:
    """The chunks of one document and notes on what limits left out. Raises only :class:`DocumentError`."""
    suffix = PurePosixPath(path).suffix.lower()
    if suffix not in _FORMATS:
        raise DocumentError(f"not a document format: {suffix or 'no suffix'}")
    if len(data) > limits.max_bytes:
        raise DocumentError(f"file is {len(data)} bytes (limit {limits.max_bytes})")
    if not data.strip():
        return Extraction([])
    module_name, function_name = _FORMATS[suffix]
    module = importlib.import_module(f"{__name__}.{module_name}")
    extractor: _Extractor = getattr(module, function_name)
    budget = Budget(limits)
    try:
        # Parsers warn about features they skip (openpyxl: data validation; pypdf: odd objects); those are not
        # ours to surface, and must not become errors where warnings are errors.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            chunks = extractor(path, data, budget)
    except DocumentError:
        raise
    except Exception as exc:
        # Third-party parsers fed untrusted bytes raise whatever they meet (KeyError, struct.error, zlib.error,
        # RecursionError, ...): each is a reason to skip this one file, never to stop an index run.
        raise DocumentError(f"unreadable {suffix[1:]}: {type(exc).__name__}: {exc}"[:300]) from exc
    return Extraction(chunks, tuple(budget.notes))


def extract_chunks(path: str, data: bytes, *, limits: Limits = DEFAULT_LIMITS) -> list[Chunk]:
    """The chunks of one document, in document order. Raises only :class:`DocumentError`."""
    return extract_document(path, data, limits=limits).chunks
