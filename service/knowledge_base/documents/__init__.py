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
.md .markdown               markdown    section / heading path [1]  source lines
.html .htm                  html        section / heading path      source lines, best effort (0: unknown)
.csv .tsv                   csv, tsv    rows / ""                   source lines [2]
.xlsx .xls                  xlsx, xls   sheet / sheet name          sheet row numbers
.docx                       docx        section / heading path      body item numbers [3]
.doc (Word 97-2003)         doc         text / ""                   paragraph numbers
.pdf                        pdf         page / "page N"             page numbers
==========================  ==========  ==========================  ======================================

Numbers are 1-based and inclusive. [1] Text before the first heading has symbol ``""``; front matter is kind
``metadata``, symbol ``"front matter"``. [2] The header is line 1; a row is its physical lines (a quoted field
may span several), so without multi-line fields line N is row N. [3] Paragraphs in body order, each table row
counting as one item. Each format module's docstring says more.

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
    "document_language",
    "extract_chunks",
    "extract_document",
    "is_document",
]


class _Extractor(Protocol):
    def __call__(self, path: str, data: bytes, budget: Budget, /) -> list[Chunk]: ...


# suffix → (language, module, function); modules are imported on first use, so is_document() loads no parser.
_FORMATS: dict[str, tuple[str, str, str]] = {
    ".txt": ("text", "text", "extract_text"),
    ".md": ("markdown", "markdown", "extract_markdown"),
    ".markdown": ("markdown", "markdown", "extract_markdown"),
    ".html": ("html", "html", "extract_html"),
    ".htm": ("html", "html", "extract_html"),
    ".csv": ("csv", "delimited", "extract_csv"),
    ".tsv": ("tsv", "delimited", "extract_tsv"),
    ".xlsx": ("xlsx", "spreadsheets", "extract_xlsx"),
    ".xls": ("xls", "spreadsheets", "extract_xls"),
    ".docx": ("docx", "word", "extract_docx"),
    ".doc": ("doc", "word97", "extract_doc"),
    ".pdf": ("pdf", "pdf", "extract_pdf"),
}
DOCUMENT_SUFFIXES: frozenset[str] = frozenset(_FORMATS)


def is_document(path: str) -> bool:
    """Whether ``path``'s suffix (case-insensitive) is one of :data:`DOCUMENT_SUFFIXES`."""
    return PurePosixPath(path).suffix.lower() in _FORMATS


def document_language(path: str) -> str | None:
    """The ``language`` the chunks of ``path`` will carry (e.g. ``"pdf"``), or ``None`` if it is no document;
    for summaries that count files by language, skipped ones included."""
    spec = _FORMATS.get(PurePosixPath(path).suffix.lower())
    return spec[0] if spec else None


def extract_document(path: str, data: bytes, *, limits: Limits = DEFAULT_LIMITS) -> Extraction:
    """The chunks of one document and notes on what limits left out. Raises only :class:`DocumentError`."""
    suffix = PurePosixPath(path).suffix.lower()
    if suffix not in _FORMATS:
        raise DocumentError(f"not a document format: {suffix or 'no suffix'}")
    if len(data) > limits.max_bytes:
        raise DocumentError(f"file is {len(data)} bytes (limit {limits.max_bytes})")
    if not data.strip():
        return Extraction([])
    _, module_name, function_name = _FORMATS[suffix]
    module = importlib.import_module(f"{__name__}.{module_name}")
    extractor: _Extractor = getattr(module, function_name)
    budget = Budget(limits)
    try:
        # Parsers warn about features they skip (openpyxl: data validation; pypdf: odd objects); those are not
        # ours to surface, and must not become errors where warnings are errors. (catch_warnings swaps a global
        # filter list: threads extracting at once may see each other's filters, which is harmless here.)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            chunks = extractor(path, data, budget)
    except DocumentError:
        raise
    except Exception as exc:
        # Third-party parsers fed untrusted bytes raise whatever they meet (KeyError, struct.error, zlib.error,
        # RecursionError, ...): each is a reason to skip this one file, never to stop an index run.
        detail = f"{type(exc).__module__}.{type(exc).__qualname__}: {exc}".removeprefix("builtins.")
        raise DocumentError(f"unreadable {suffix[1:]}, corrupt or truncated ({detail})"[:300]) from exc
    return Extraction(chunks, tuple(budget.notes))


def extract_chunks(path: str, data: bytes, *, limits: Limits = DEFAULT_LIMITS) -> list[Chunk]:
    """The chunks of one document, in document order. Raises only :class:`DocumentError`."""
    return extract_document(path, data, limits=limits).chunks
