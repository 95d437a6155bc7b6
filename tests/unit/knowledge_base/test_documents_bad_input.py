"""Bad documents are refused with a reason (``DocumentError``), never a crash or a hang: truncated and corrupt
files of every binary format, encrypted files, zip bombs, formats under the wrong suffix, and the time budget."""

from __future__ import annotations

import io
import zipfile
import zlib

import pytest
from pypdf import PdfReader, PdfWriter
from pypdf.generic import DictionaryObject, NameObject, StreamObject

from service.errors import InvalidInput
from service.knowledge_base.documents import DocumentError, Limits, extract_chunks
from tests.unit.knowledge_base.test_documents_office import (
    docx_document,
    pdf_document,
    xls_workbook,
    xlsx_workbook,
)
from tests.unit.knowledge_base.word97_builder import compound_file, word_document


def reason(path: str, data: bytes, limits: Limits | None = None) -> str:
    with pytest.raises(DocumentError) as caught:
        extract_chunks(path, data) if limits is None else extract_chunks(path, data, limits=limits)
    return caught.value.reason


def samples() -> dict[str, bytes]:
    return {
        "a.xlsx": xlsx_workbook(),
        "a.xls": xls_workbook(),
        "a.docx": docx_document(),
        "a.doc": word_document([("Some text of a document\r" * 40, True)]),
        "a.pdf": pdf_document(["page one text", "page two text"]),
    }


@pytest.mark.parametrize("path", ["a.xlsx", "a.xls", "a.docx", "a.doc", "a.pdf"])
@pytest.mark.parametrize("keep", [0.5, 0.1])
def test_a_truncated_binary_document_is_refused_with_a_reason(path: str, keep: float) -> None:
    data = samples()[path]
    assert extract_chunks(path, data)  # the whole file is fine
    assert reason(path, data[: int(len(data) * keep)])


@pytest.mark.parametrize("path", ["a.xlsx", "a.xls", "a.docx", "a.doc", "a.pdf"])
def test_garbage_under_a_binary_suffix_is_refused(path: str) -> None:
    assert reason(path, bytes(range(256)) * 20)


def flipped(data: bytes, step: int) -> bytes:
    """``data`` with every ``step``-th byte inverted, sparing the first and last 200 (signature and trailer)."""
    damaged = bytearray(data)
    for at in range(200, len(damaged) - 200, step):
        damaged[at] ^= 0xFF
    return bytes(damaged)


def test_a_pdf_damaged_throughout_is_refused_with_the_parsers_reason() -> None:
    assert reason("broken.pdf", flipped(samples()["a.pdf"], 97)).startswith(
        "unreadable pdf, corrupt or truncated (pypdf.errors.PdfReadError: Invalid Elementary Object"
    )


def test_a_pdf_damaged_here_and_there_is_read_as_far_as_it_can_be() -> None:
    chunks = extract_chunks("dented.pdf", flipped(samples()["a.pdf"], 500))
    assert [(c.symbol, c.text) for c in chunks] == [("page 1", "page one text"), ("page 2", "page two text")]


def test_document_error_is_in_the_error_tree_and_not_retryable() -> None:
    error = DocumentError("encrypted pdf")
    assert isinstance(error, InvalidInput)
    assert (error.code, error.retryable, error.message) == ("document_unreadable", False, "encrypted pdf")


def test_an_encrypted_pdf_is_refused() -> None:
    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(pdf_document(["secret plans"]))))
    writer.encrypt(user_password="user-secret", owner_password="owner-secret", algorithm="RC4-128")
    out = io.BytesIO()
    writer.write(out)
    assert reason("locked.pdf", out.getvalue()) == "encrypted PDF (needs a password)"


def test_a_pdf_without_text_is_refused_as_needing_ocr() -> None:
    assert reason("scan.pdf", pdf_document(["", ""])) == (
        "PDF has no extractable text (scanned pages need OCR, or its text could not be read)"
    )


def pdf_with_stream(padding: int) -> bytes:
    """A one-page PDF saying "hello" in Helvetica, its content stream padded with ``padding`` spaces."""
    writer = PdfWriter()
    page = writer.add_blank_page(200, 200)
    font = DictionaryObject(
        {
            NameObject("/Type"): NameObject("/Font"),
            NameObject("/Subtype"): NameObject("/Type1"),
            NameObject("/BaseFont"): NameObject("/Helvetica"),
        }
    )
    page[NameObject("/Resources")] = DictionaryObject(
        {NameObject("/Font"): DictionaryObject({NameObject("/F1"): font})}
    )
    content = StreamObject()
    content.set_data(b"")
    content._data = zlib.compress(b"BT /F1 12 Tf (hello) Tj ET " + b" " * padding, 9)
    content[NameObject("/Filter")] = NameObject("/FlateDecode")
    page[NameObject("/Contents")] = writer._add_object(content)
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def test_a_pdf_stream_that_decompresses_past_pypdfs_limit_is_refused() -> None:
    assert [c.text for c in extract_chunks("small.pdf", pdf_with_stream(1000))] == ["hello"]
    bomb = pdf_with_stream(80_000_000)  # 80 MB of content in about 80 KB
    assert len(bomb) < 200_000
    assert reason("bomb.pdf", bomb) == "page 1 decompresses past pypdf's limit (a compression bomb?)"


def test_an_encrypted_doc_is_refused() -> None:
    assert reason("locked.doc", word_document([("secret\r", True)], encrypted=True)) == (
        "encrypted doc (needs a password)"
    )


@pytest.mark.parametrize("path", ["locked.docx", "locked.xlsx"])
def test_a_password_protected_office_open_xml_file_is_refused_as_encrypted(path: str) -> None:
    # Office stores a password-protected .docx/.xlsx as an OLE container with these two streams.
    data = compound_file({"EncryptionInfo": b"\x04\x00\x04\x00", "EncryptedPackage": b"\x00" * 64})
    assert reason(path, data).startswith(f"encrypted {path.split('.')[1]}")


def test_a_docx_zip_bomb_is_refused_before_parsing() -> None:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        archive.writestr("word/document.xml", b"\0" * (8 << 20))  # 8 MiB of zeros deflate to about 8 KiB
    assert reason("bomb.docx", out.getvalue()) == "docx member word/document.xml expands more than 200x"


def test_an_office_file_that_unpacks_past_the_limit_is_refused() -> None:
    assert reason("big.xlsx", xlsx_workbook(), Limits(max_unpacked_bytes=1000)).startswith("xlsx unpacks to ")


def test_formats_under_the_wrong_suffix_are_refused_with_a_reason_that_says_so() -> None:
    assert reason("a.xls", xlsx_workbook()) == "not a valid xls (no OLE container; an xlsx or csv named .xls?)"
    assert reason("a.doc", docx_document()) == "not a Word 97-2003 file (no OLE container; a docx or rtf named .doc?)"
    assert reason("a.docx", xls_workbook()).startswith("encrypted docx (or a legacy binary file")
    assert reason("a.pdf", b"hello, not a pdf") == "not a PDF (no %PDF- signature)"
    assert reason("a.doc", xls_workbook()) == "not a Word document (no WordDocument stream)"


def test_a_spent_time_budget_stops_extraction() -> None:
    assert reason("slow.pdf", pdf_document(["x"]), Limits(max_seconds=-1)) == "extraction took longer than -1 s"
    assert reason("slow.md", b"# a\n\ntext\n", Limits(max_seconds=-1)) == "extraction took longer than -1 s"
