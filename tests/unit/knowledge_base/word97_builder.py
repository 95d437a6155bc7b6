"""Write a minimal but valid Word 97-2003 ``.doc`` for tests, from text the test defines (no tool, no download).

Two parts, both per Microsoft's published specs: a Compound File Binary container ([MS-CFB], version 3, 512-byte
sectors; every stream padded past the 4 KiB mini-stream cutoff so no mini stream is needed) holding a
``WordDocument`` stream (a Word 97 FIB, nFib 0x00C1, followed by the text) and a ``1Table`` stream holding the
``Clx`` piece table ([MS-DOC] 2.5.1, 2.9.38). Each piece is stored either 8-bit ("compressed", Windows-1252) or
UTF-16LE, so both decoding paths are exercised.

Checked by hand with Debian's ``antiword``, an independent reader: it prints the text of these files, but it also
reads formatting tables (character and paragraph properties, styles) that this minimal file leaves out, and
crashes on some runs, so it is not part of the tests.
"""

from __future__ import annotations

import struct

SECTOR = 512
FREE, END_OF_CHAIN, FAT_SECTOR, NO_STREAM = 0xFFFFFFFF, 0xFFFFFFFE, 0xFFFFFFFD, 0xFFFFFFFF
MINI_CUTOFF = 4096
TEXT_OFFSET = 0x800  # where the text starts in WordDocument, past the FIB


def _pad(data: bytes, size: int) -> bytes:
    return data + b"\0" * (-len(data) % size)


def _dir_entry(name: str, kind: int, start: int, size: int, *, left: int = NO_STREAM, child: int = NO_STREAM) -> bytes:
    encoded = (name + "\0").encode("utf-16-le") if name else b""
    entry = encoded.ljust(64, b"\0") + struct.pack("<HBB", len(encoded), kind, 1)
    entry += struct.pack("<III", left, NO_STREAM, child) + b"\0" * 16 + b"\0" * 4 + b"\0" * 16
    entry += struct.pack("<IQ", start, size)
    assert len(entry) == 128
    return entry


def compound_file(streams: dict[str, bytes]) -> bytes:
    """A CFB v3 file with the given root-level streams (each at least 4 KiB after padding)."""
    bodies = [_pad(data.ljust(MINI_CUTOFF, b"\0"), SECTOR) for data in streams.values()]
    starts, sector = [], 0
    for body in bodies:
        starts.append(sector)
        sector += len(body) // SECTOR
    dir_sector = sector
    data_sectors = sector + 1
    fat_sectors = 1
    while (data_sectors + fat_sectors) > fat_sectors * (SECTOR // 4):
        fat_sectors += 1
    fat: list[int] = []
    for body in bodies:
        count = len(body) // SECTOR
        fat.extend(len(fat) + 1 for _ in range(count - 1))
        fat.append(END_OF_CHAIN)
    fat.append(END_OF_CHAIN)  # the directory sector
    fat.extend([FAT_SECTOR] * fat_sectors)
    fat.extend([FREE] * (fat_sectors * (SECTOR // 4) - len(fat)))
    names = list(streams)
    # The root's children form a binary tree ordered by name length, then name; a left-leaning chain will do.
    order = sorted(range(len(names)), key=lambda i: (len(names[i]), names[i].upper()))
    entries = [b""] * len(names)
    for rank, index in enumerate(order):
        left = order[rank - 1] + 1 if rank > 0 else NO_STREAM
        entries[index] = _dir_entry(names[index], 2, starts[index], len(bodies[index]), left=left)
    root = _dir_entry("Root Entry", 5, END_OF_CHAIN, 0, child=order[-1] + 1)
    directory = _pad(root + b"".join(entries), SECTOR)
    assert len(directory) == SECTOR, "this writer keeps the directory in one sector (at most 3 streams)"
    difat = [data_sectors + i for i in range(fat_sectors)] + [FREE] * (109 - fat_sectors)
    header = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 16
    header += struct.pack("<HHHHH", 0x003E, 0x0003, 0xFFFE, 9, 6) + b"\0" * 6
    header += struct.pack("<IIIIIIIII", 0, fat_sectors, dir_sector, 0, MINI_CUTOFF, END_OF_CHAIN, 0, END_OF_CHAIN, 0)
    header += struct.pack("<109I", *difat)
    assert len(header) == SECTOR
    return header + b"".join(bodies) + directory + struct.pack(f"<{len(fat)}I", *fat)


def word_document(pieces: list[tuple[str, bool]], *, encrypted: bool = False, grpprl: bytes = b"") -> bytes:
    """A .doc whose main text is the concatenation of ``pieces`` (text, stored 8-bit?). Use ``\\r`` to end a
    paragraph, ``\\x07`` for table cell marks and ``\\x13``/``\\x14``/``\\x15`` for fields, as Word does. A
    non-empty ``grpprl`` puts a ``Prc`` (property modifiers, as Word writes after editing) before the piece table."""
    text_bytes = b""
    positions, descriptors = [0], []
    for text, compressed in pieces:
        fc = TEXT_OFFSET + len(text_bytes)
        if compressed:
            text_bytes += text.encode("cp1252")
            descriptors.append(struct.pack("<HIH", 0, (fc * 2) | 0x40000000, 0))
        else:
            text_bytes += text.encode("utf-16-le")
            descriptors.append(struct.pack("<HIH", 0, fc, 0))
        positions.append(positions[-1] + len(text))
    plc = struct.pack(f"<{len(positions)}I", *positions) + b"".join(descriptors)
    prc = b"\x01" + struct.pack("<h", len(grpprl)) + grpprl if grpprl else b""
    clx = prc + b"\x02" + struct.pack("<I", len(plc)) + plc
    table = b"\0" * 16 + clx  # fcClx need not be 0; put the Clx a little into the stream
    ccp_text = positions[-1]

    # fWhichTblStm (0x0200): the table stream is 1Table; fEncrypted (0x0100). fExtChar (0x1000), which Word sets,
    # is left 0: our reader ignores it, and with it set antiword crashes on every run instead of on some.
    flags = 0x0200 | (0x0100 if encrypted else 0)
    fib_base = struct.pack("<HHHHHHHHIBBHH", 0xA5EC, 0x00C1, 0, 0x0409, 0, flags, 0x00BF, 0, 0, 0, 0, 0, 0)
    fib_base += b"\0" * (32 - len(fib_base))
    rg_w = struct.pack("<H", 14) + b"\0" * 28
    rg_lw = [0] * 22
    rg_lw[0] = TEXT_OFFSET + len(text_bytes)  # cbMac
    rg_lw[3] = ccp_text
    fib_lw = struct.pack("<H", 22) + struct.pack("<22i", *rg_lw)
    pairs = [0] * (93 * 2)
    pairs[33 * 2], pairs[33 * 2 + 1] = 16, len(clx)  # fcClx, lcbClx
    fib_rg = struct.pack("<H", 93) + struct.pack(f"<{len(pairs)}I", *pairs) + struct.pack("<H", 0)
    fib = fib_base + rg_w + fib_lw + fib_rg
    assert len(fib) < TEXT_OFFSET
    word = fib.ljust(TEXT_OFFSET, b"\0") + text_bytes
    return compound_file({"WordDocument": word, "1Table": table})
