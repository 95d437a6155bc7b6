"""PDF (with pypdf): one section per page, kind ``page``, ``symbol`` ``"page N"``; a page's text split into
paragraphs (blank-line separated) and, when over the target size, into windows that all carry the page.

Line numbers are page numbers (1-based; every chunk of page N has ``start_line == end_line == N``). An encrypted
PDF is opened with the empty user password when it has one (owner-password-only files are readable); otherwise it
is refused as encrypted. A PDF whose pages yield no text at all (a scan, which needs OCR) is refused too. At most
``Limits.max_pages`` pages are read; the rest is left out with a note. pypdf itself caps what one stream may
decompress to (75 MB by default, ``pypdf.filters.ZLIB_MAX_OUTPUT_LENGTH`` and its LZW/run-length siblings) and
raises past it, so a compression bomb inside a PDF is refused rather than filling memory.
"""

from __future__ import annotations

import contextlib
import io
import logging
from collections.abc import Iterator

from service.knowledge_base.chunking import Chunk
from service.knowledge_base.documents.base import Block, Budget, DocumentError, Section, sections_to_chunks


def _page_blocks(text: str, number: int) -> list[Block]:
    blocks: list[Block] = []
    paragraph: list[str] = []
    for line in [*text.splitlines(), ""]:
        if line.strip():
            paragraph.append(line.rstrip())
        elif paragraph:
            blocks.append(Block("\n".join(paragraph), number, number))
            paragraph = []
    return blocks


@contextlib.contextmanager
def _quiet_pypdf() -> Iterator[None]:
    """pypdf logs a warning for every repair it makes in a damaged file; one reason per file is what we report."""
    logger = logging.getLogger("pypdf")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        logger.setLevel(level)


def extract_pdf(path: str, data: bytes, budget: Budget) -> list[Chunk]:
    with _quiet_pypdf():
        return _extract(path, data, budget)


def _extract(path: str, data: bytes, budget: Budget) -> list[Chunk]:
    from pypdf import PasswordType, PdfReader
    from pypdf.errors import DependencyError, FileNotDecryptedError, LimitReachedError, PdfReadError

    if b"%PDF-" not in data[:1024]:
        raise DocumentError("not a PDF (no %PDF- signature)")
    try:
        reader = PdfReader(io.BytesIO(data))
        if reader.is_encrypted:
            try:
                opened = reader.decrypt("")
            except (DependencyError, NotImplementedError) as exc:
                raise DocumentError(f"encrypted PDF with an unsupported cipher: {exc}") from exc
            if opened == PasswordType.NOT_DECRYPTED:
                raise DocumentError("encrypted PDF (needs a password)")
        total = len(reader.pages)
    except FileNotDecryptedError as exc:
        raise DocumentError("encrypted PDF (needs a password)") from exc
    except PdfReadError as exc:
        raise DocumentError(f"corrupt PDF: {exc}") from exc
    limits = budget.limits
    if total > limits.max_pages:
        budget.note(f"truncated: pages after the first {limits.max_pages} of {total} were left out")
    sections: list[Section] = []
    for index in range(min(total, limits.max_pages)):
        budget.tick()
        try:
            text = reader.pages[index].extract_text() or ""
        except LimitReachedError as exc:
            raise DocumentError(f"page {index + 1} decompresses past pypdf's limit (a compression bomb?)") from exc
        if not text.strip():
            continue
        if not budget.take(text):
            break
        number = index + 1
        sections.append(
            Section((f"page {number}",), _page_blocks(text, number), kind="page", header=(f"# page: {number}",))
        )
    if total and not sections:
        raise DocumentError("PDF has no extractable text (scanned pages need OCR, or its text could not be read)")
    return sections_to_chunks(path, "pdf", sections)
