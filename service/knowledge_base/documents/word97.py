"""Legacy Word 97-2003 documents (``.doc``): the main text, read from the OLE container with olefile and the
document's piece table, as paragraphs merged into windows of about ``TARGET_CHARS`` (kind ``text``).

Why this way: it is pure Python over a dependency we already have, works offline and inside a Lambda, and reads
only what [MS-DOC] defines for the text, rather than shelling out to ``antiword``/``catdoc`` (a system package
per host, unmaintained, and a subprocess per file) or converting with LibreOffice (hundreds of MB).

Layout, from [MS-DOC] (https://learn.microsoft.com/openspecs/office_file_formats/ms-doc/): the
``WordDocument`` stream starts with the FIB: ``FibBase`` (32 bytes: ``wIdent`` 0xA5EC, flags at 0x0A with
``fEncrypted`` 0x0100, ``fWhichTblStm`` 0x0200 naming ``1Table`` or ``0Table``, ``fObfuscated`` 0x8000), then
``csw`` and ``fibRgW``, ``cslw`` and ``fibRgLw`` (``ccpText``, the main text's length in characters, is its 4th
long), then ``cbRgFcLcb`` and the ``fc``/``lcb`` pairs, of which the 34th locates the ``Clx`` in the table stream.
The ``Clx`` is a run of ``Prc`` records (0x01) then a ``Pcdt`` (0x02) holding the ``PlcPcd``: n+1 character
positions and n 8-byte piece descriptors whose ``fc`` (bit 30: 8-bit "compressed" text at ``fc / 2``, else
UTF-16LE at ``fc``) says where each piece's text lies in the ``WordDocument`` stream.

Special characters: paragraph marks (``\\r``) end paragraphs, cell marks (``\\x07``) separate table cells (two in
a row end a table row), field codes between ``\\x13`` and ``\\x14`` are dropped and their results kept. Line
numbers are paragraph numbers. Headings are not recognised (styles live in a separate binary table), so the
whole document is one section. Encrypted or obfuscated files are refused.
"""

from __future__ import annotations

import io
import struct

from service.knowledge_base.chunking import Chunk
from service.knowledge_base.documents.base import OLE_MAGIC, Budget, DocumentError, Section, sections_to_chunks
from service.knowledge_base.documents.text import paragraphs

W_IDENT = 0xA5EC
F_ENCRYPTED = 0x0100
F_WHICH_TABLE = 0x0200
F_OBFUSCATED = 0x8000
CLX_PAIR = 33  # index of fcClx/lcbClx among the FibRgFcLcb pairs
PCD_SIZE = 8
# Anchors of pictures (0x01, 0x08), footnote and comment marks (0x02, 0x05) and other controls carry no text.
DROP_CHARS: dict[int, str | None] = dict.fromkeys([*range(0x00, 0x07), 0x08, *range(0x0E, 0x13), *range(0x16, 0x1E)])
# Line (0x0B) and page (0x0C) breaks stay inside their paragraph, so a paragraph is exactly one line of text;
# 0x1E is a non-breaking hyphen, 0x1F an optional one.
REPLACE_CHARS: dict[int, str | None] = {0x0B: " ", 0x0C: " ", 0x1E: "-", 0x1F: None, 0xA0: " "}


def _u16(data: bytes, at: int) -> int:
    return int(struct.unpack_from("<H", data, at)[0])


def _u32(data: bytes, at: int) -> int:
    return int(struct.unpack_from("<I", data, at)[0])


def _streams(data: bytes) -> tuple[bytes, bytes]:
    """The ``WordDocument`` stream and the table stream the FIB names."""
    import olefile

    if not data.startswith(OLE_MAGIC):
        raise DocumentError("not a Word 97-2003 file (no OLE container; a docx or rtf named .doc?)")
    try:
        ole = olefile.OleFileIO(io.BytesIO(data))
    except OSError as exc:
        raise DocumentError(f"corrupt doc: {exc}") from exc
    try:
        if ole.exists("EncryptionInfo"):
            raise DocumentError("encrypted doc (needs a password)")
        if not ole.exists("WordDocument"):
            raise DocumentError("not a Word document (no WordDocument stream)")
        word = ole.openstream("WordDocument").read()
        if len(word) < 0x200 or _u16(word, 0) != W_IDENT:
            raise DocumentError("corrupt doc: bad FIB signature")
        flags = _u16(word, 0x0A)
        if flags & (F_ENCRYPTED | F_OBFUSCATED):
            raise DocumentError("encrypted doc (needs a password)")
        table_name = "1Table" if flags & F_WHICH_TABLE else "0Table"
        if not ole.exists(table_name):
            raise DocumentError(f"corrupt doc: no {table_name} stream")
        table = ole.openstream(table_name).read()
    finally:
        ole.close()
    return word, table


def _pieces(word: bytes, table: bytes) -> tuple[int, list[tuple[int, int, int, bool]]]:
    """``ccpText`` and the pieces as (first character position, last + 1, offset in ``WordDocument``, 8-bit?)."""
    try:
        csw = _u16(word, 32)
        lw = 34 + 2 * csw
        cslw = _u16(word, lw)
        ccp_text = _u32(word, lw + 2 + 12)
        rg = lw + 2 + 4 * cslw
        if _u16(word, rg) <= CLX_PAIR:
            raise DocumentError("corrupt doc: FIB has no piece table entry (pre-Word 97 file?)")
        fc_clx = _u32(word, rg + 2 + 8 * CLX_PAIR)
        lcb_clx = _u32(word, rg + 2 + 8 * CLX_PAIR + 4)
    except struct.error as exc:
        raise DocumentError("corrupt doc: truncated FIB") from exc
    clx = table[fc_clx : fc_clx + lcb_clx]
    at = 0
    while at + 3 <= len(clx) and clx[at] == 0x01:  # Prc: clxt 0x01, cbGrpprl (int16), grpprl: skipped
        at += 3 + abs(struct.unpack_from("<h", clx, at + 1)[0])
    if at + 5 > len(clx) or clx[at] != 0x02:
        raise DocumentError("corrupt doc: no piece table")
    lcb = _u32(clx, at + 1)
    plc = clx[at + 5 : at + 5 + lcb]
    count = (len(plc) - 4) // (4 + PCD_SIZE)
    if count <= 0 or len(plc) < 4 * (count + 1) + PCD_SIZE * count:
        raise DocumentError("corrupt doc: truncated piece table")
    positions = struct.unpack_from(f"<{count + 1}I", plc, 0)
    pieces = []
    for index in range(count):
        fc = _u32(plc, 4 * (count + 1) + PCD_SIZE * index + 2)
        compressed = bool(fc & 0x40000000)
        offset = (fc & 0x3FFFFFFF) // 2 if compressed else fc & 0x3FFFFFFF
        pieces.append((positions[index], positions[index + 1], offset, compressed))
    return ccp_text, pieces


def _main_text(word: bytes, table: bytes, budget: Budget) -> str:
    ccp_text, pieces = _pieces(word, table)
    limit = min(ccp_text, budget.limits.max_chars)
    if ccp_text > limit:
        budget.note(f"truncated: text over {budget.limits.max_chars} characters was left out")
    parts: list[str] = []
    for start, end, offset, compressed in pieces:
        budget.tick()
        if start >= limit:
            break
        length = min(end, limit) - start
        if length <= 0:
            continue
        if compressed:  # 8-bit text is Windows-1252: [MS-DOC] 2.4.1 maps 0x80-0x9F as that code page does
            raw = word[offset : offset + length]
            parts.append(raw.decode("cp1252", "replace"))
        else:
            raw = word[offset : offset + 2 * length]
            parts.append(raw.decode("utf-16-le", "replace"))
        if len(raw) < (length if compressed else 2 * length):
            raise DocumentError("corrupt doc: a text piece lies outside the WordDocument stream")
    return "".join(parts)


def _strip_fields(text: str) -> str:
    """Field results without their codes: drop what lies between a field's begin (0x13) and separator (0x14),
    or its end (0x15) when it has no separator; fields nest."""
    out: list[str] = []
    depth_in_code: list[bool] = []  # per open field: still inside its code part?
    for char in text:
        if char == "\x13":
            depth_in_code.append(True)
        elif char == "\x14" and depth_in_code:
            depth_in_code[-1] = False
        elif char == "\x15" and depth_in_code:
            depth_in_code.pop()
        elif not any(depth_in_code):
            out.append(char)
    return "".join(out)


def plain_text(text: str) -> list[str]:
    """The document's paragraphs as lines: table rows as ``cell | cell``, special characters resolved."""
    text = _strip_fields(text).translate(DROP_CHARS).translate(REPLACE_CHARS)
    text = text.replace("\x07\r", "\x07").replace("\x07\x07", "\r").replace("\x07", " | ")
    return [line.rstrip(" |") for line in text.replace("\r\n", "\r").split("\r")]


def extract_doc(path: str, data: bytes, budget: Budget) -> list[Chunk]:
    word, table = _streams(data)
    lines = plain_text(_main_text(word, table, budget))
    return sections_to_chunks(path, "doc", [Section((), paragraphs(lines), kind="text")])
