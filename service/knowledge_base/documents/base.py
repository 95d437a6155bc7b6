"""What every format shares: the limits, the one error, and packing a document's sections into chunks.

A format module turns bytes into :class:`Section` s (a heading path and its :class:`Block` s, in document order);
:func:`sections_to_chunks` packs each section's blocks into chunks of about ``TARGET_CHARS`` characters. Blocks are
never merged across sections, so every chunk has one ``symbol`` (its heading path, page or sheet); a block larger
than the target is split by lines, and a single over-long line by characters at whitespace.
"""

from __future__ import annotations

import io
import time
import zipfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from service.domain.knowledge import file_line
from service.errors import InvalidInput
from service.knowledge_base.chunking import TARGET_CHARS, Chunk

OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
# A code block (or other block that reads badly when cut) stays whole up to this size.
MAX_ATOMIC_CHARS = 2 * TARGET_CHARS


class DocumentError(InvalidInput):
    """A document that cannot be extracted: corrupt, encrypted, over a limit, or not the format its name says.

    ``reason`` is a short lower-case phrase meant to be recorded as ``skipped: <reason>``.
    """

    code = "document_unreadable"
    retryable = False

    def __init__(self, reason: str) -> None:
        super().__init__(reason, hint="Fix or re-export the file, or exclude it from the index.")
        self.reason = reason


@dataclass(frozen=True, slots=True)
class Limits:
    """Bounds on the work one document may cause. Over ``max_bytes``, ``max_unpacked_bytes``, ``max_zip_ratio``,
    ``max_html_depth`` or ``max_seconds`` the document is refused (:class:`DocumentError`); over the page, sheet,
    row, column or character counts the rest is left out and a note says so (:attr:`Extraction.notes`)."""

    max_bytes: int = 64 * 1024 * 1024  # the file as given
    max_unpacked_bytes: int = 256 * 1024 * 1024  # sum of a docx/xlsx's declared uncompressed members
    max_zip_ratio: int = 200  # uncompressed / compressed, for any member over 1 MiB
    max_zip_members: int = 10_000
    max_pages: int = 2_000  # pdf
    max_sheets: int = 100  # xlsx, xls
    max_rows: int = 100_000  # csv/tsv per file; xlsx/xls per sheet
    max_columns: int = 256  # csv, sheets, docx tables
    max_chars: int = 20_000_000  # extracted text per document
    max_html_depth: int = 5_000  # nested elements; the HTML parser slows down sharply past ~10,000
    max_seconds: float = 120.0  # wall clock, checked between pages, rows and blocks


DEFAULT_LIMITS = Limits()


@dataclass(frozen=True, slots=True)
class Block:
    """A unit of text that is kept together when it fits. ``start``/``end`` are 1-based inclusive locators in the
    format's own unit (source line, page, row, paragraph); 0 means unknown. ``lines_match`` says that the text's
    lines are exactly the source lines ``start..end``, so a split can give each piece its own range."""

    text: str
    start: int
    end: int
    lines_match: bool = False
    atomic: bool = False


@dataclass(slots=True)
class Section:
    """A heading path (or page, sheet) and the blocks under it. ``lead`` holds the heading's own block (and those
    of empty parent sections folded into it); ``blocks`` the content."""

    path: tuple[str, ...]
    blocks: list[Block] = field(default_factory=list)
    lead: list[Block] = field(default_factory=list)
    kind: str = "section"
    symbol: str | None = None  # defaults to the path joined with " > "
    header: tuple[str, ...] = ()  # header lines after the file line; defaults to "# section: <path>"

    def label(self) -> str:
        return self.symbol if self.symbol is not None else " > ".join(self.path)


@dataclass(frozen=True, slots=True)
class Extraction:
    """The chunks of one document, in document order, and notes on anything left out (e.g. pages over a limit)."""

    chunks: list[Chunk]
    notes: tuple[str, ...] = ()


class Budget:
    """The time and size budget of one extraction; format modules call :meth:`tick` inside their loops."""

    def __init__(self, limits: Limits) -> None:
        self.limits = limits
        self.deadline = time.monotonic() + limits.max_seconds
        self.chars = 0
        self.notes: list[str] = []

    def tick(self) -> None:
        """Raise :class:`DocumentError` once the wall-clock budget is spent."""
        if time.monotonic() > self.deadline:
            raise DocumentError(f"extraction took longer than {self.limits.max_seconds:g} s")

    def take(self, text: str) -> bool:
        """Count ``text`` against ``max_chars``; False (and a note) once the document is over it."""
        self.tick()
        self.chars += len(text)
        if self.chars > self.limits.max_chars:
            self.note(f"truncated: text over {self.limits.max_chars} characters was left out")
            return False
        return True

    def note(self, message: str) -> None:
        if message not in self.notes:
            self.notes.append(message)


def decode_text(data: bytes) -> str:
    """Text from bytes: a UTF-8/UTF-16 byte-order mark is honoured, anything else is UTF-8 with invalid bytes
    replaced (never an error), and NUL characters are dropped."""
    if data.startswith(b"\xef\xbb\xbf"):
        text = data[3:].decode("utf-8", "replace")
    elif data.startswith((b"\xff\xfe", b"\xfe\xff")):
        text = data.decode("utf-16", "replace")
    else:
        text = data.decode("utf-8", "replace")
    return text.replace("\x00", "")


def check_zip(data: bytes, limits: Limits, what: str) -> None:
    """Refuse an Office Open XML file that is not a sound zip, is encrypted, or would unpack to too much.

    The declared sizes are what :mod:`zipfile` reads up to, so checking them bounds the work of the parsers that
    open the archive afterwards. (``io.BytesIO`` over bytes shares the buffer until written: no copy.)"""
    if data.startswith(OLE_MAGIC):
        # Password-protected .docx/.xlsx files are OLE containers holding an EncryptedPackage stream.
        raise DocumentError(f"encrypted {what} (or a legacy binary file named as {what})")
    if not zipfile.is_zipfile(io.BytesIO(data)):
        raise DocumentError(f"not a valid {what} (not a zip archive; truncated or corrupt?)")
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            members = archive.infolist()
    except (zipfile.BadZipFile, ValueError, OSError) as exc:
        raise DocumentError(f"corrupt {what}: {exc}") from exc
    if len(members) > limits.max_zip_members:
        raise DocumentError(f"{what} has {len(members)} zip members (limit {limits.max_zip_members})")
    total = 0
    for member in members:
        total += member.file_size
        if member.file_size > 1 << 20 and member.file_size > limits.max_zip_ratio * max(member.compress_size, 1):
            raise DocumentError(f"{what} member {member.filename} expands more than {limits.max_zip_ratio}x")
    if total > limits.max_unpacked_bytes:
        raise DocumentError(f"{what} unpacks to {total} bytes (limit {limits.max_unpacked_bytes})")


def _split_line(text: str, limit: int) -> list[str]:
    """Cut one over-long line into pieces of at most ``limit`` characters, at whitespace where there is any."""
    pieces: list[str] = []
    while len(text) > limit:
        cut = text.rfind(" ", limit // 2, limit)
        cut = limit if cut <= 0 else cut
        pieces.append(text[:cut].rstrip())
        text = text[cut:].lstrip()
    if text.strip():
        pieces.append(text.rstrip())
    return pieces


def split_block(block: Block, limit: int = TARGET_CHARS) -> list[Block]:
    """``block`` itself when it fits ``limit`` (or ``MAX_ATOMIC_CHARS`` for an atomic one); otherwise windows of
    whole lines, each at most ``limit`` characters, with their own line ranges when the lines match the source."""
    if len(block.text) <= (MAX_ATOMIC_CHARS if block.atomic else limit):
        return [block]
    lines = block.text.split("\n")
    exact = block.lines_match and block.start > 0 and block.end - block.start + 1 == len(lines)
    pieces: list[Block] = []
    window: list[str] = []
    first = 0
    size = 0

    def flush() -> None:
        kept = [index for index, line in enumerate(window) if line.strip()]
        if kept:  # blank lines at a window's edges belong to neither neighbour
            body = window[kept[0] : kept[-1] + 1]
            if exact:
                start, end = block.start + first + kept[0], block.start + first + kept[-1]
            else:
                start, end = block.start, block.end
            pieces.append(Block("\n".join(body), start, end, lines_match=exact))

    for number, line in enumerate(lines):
        if len(line) > limit:
            flush()
            for part in _split_line(line, limit):
                at = block.start + number if exact else block.start
                pieces.append(Block(part, at, at if exact else block.end, lines_match=False))
            window, first, size = [], number + 1, 0
            continue
        if window and size + len(line) + 1 > limit:
            flush()
            window, first, size = [], number, 0
        window.append(line)
        size += len(line) + 1
    flush()
    return pieces


def pack(blocks: Iterable[Block], limit: int = TARGET_CHARS) -> list[list[Block]]:
    """Consecutive blocks grouped greedily into windows of at most ``limit`` characters (joined by a blank
    line); an over-long block is split first, and an atomic block that is kept whole over the limit stands alone."""
    windows: list[list[Block]] = []
    current: list[Block] = []
    size = 0
    for block in blocks:
        for piece in split_block(block, limit):
            grow = len(piece.text) + (2 if current else 0)
            if current and size + grow > limit:
                windows.append(current)
                current, size, grow = [], 0, len(piece.text)
            current.append(piece)
            size += grow
    if current:
        windows.append(current)
    return windows


def _span(blocks: Sequence[Block]) -> tuple[int, int]:
    starts = [b.start for b in blocks if b.start > 0]
    ends = [b.end for b in blocks if b.end > 0]
    return (min(starts) if starts else 0, max(ends) if ends else 0)


def fold_empty_sections(sections: Iterable[Section]) -> list[Section]:
    """A section with nothing but its heading, followed by one nested under it, lends its heading to that one
    (so ``# Install`` directly above ``## From PyPI`` is not a chunk of its own); other sections are kept."""
    result: list[Section] = []
    for section in sections:
        previous = result[-1] if result else None
        if (
            previous is not None
            and not previous.blocks
            and previous.lead
            and len(section.path) > len(previous.path)
            and section.path[: len(previous.path)] == previous.path
        ):
            result.pop()
            section.lead = previous.lead + section.lead
        result.append(section)
    return result


def sections_to_chunks(
    path: str,
    language: str,
    sections: Iterable[Section],
    *,
    source_lines: Sequence[str] | None = None,
) -> list[Chunk]:
    """Chunks from sections in order. With ``source_lines`` (line-based formats), a chunk whose blocks all match
    the source takes its text verbatim from the source lines it spans; otherwise block texts are joined by a
    blank line. The header names the file and, when there is one, the section (or the section's own header)."""
    chunks: list[Chunk] = []
    for section in fold_empty_sections(sections):
        blocks = section.lead + section.blocks
        header_lines = [file_line(path)]
        if section.header:
            header_lines.extend(section.header)
        elif section.path:
            header_lines.append(f"# section: {section.label()}")
        header = "\n".join(header_lines)
        for window in pack(blocks):
            start, end = _span(window)
            if source_lines is not None and start > 0 and all(b.lines_match for b in window):
                text = "\n".join(source_lines[start - 1 : end]).strip("\n")
            else:
                text = "\n\n".join(b.text.strip("\n") for b in window)
            if not text.strip():
                continue
            chunks.append(Chunk(path, language, start, end, section.label(), section.kind, header, text))
    return chunks
