"""Binary documents into chunks: xlsx/xls per sheet, docx by heading, legacy doc by paragraph, pdf per page.

Every file is written here, from content the test defines: openpyxl and xlwt write spreadsheets, python-docx
writes Word documents, ``word97_builder`` writes a Word 97-2003 file and fpdf2 writes PDFs.
"""

from __future__ import annotations

import datetime as dt
import io

import docx
import openpyxl
import xlwt
from fpdf import FPDF

from service.knowledge_base.chunking import TARGET_CHARS, Chunk
from service.knowledge_base.documents import Limits, extract_chunks, extract_document
from tests.unit.knowledge_base.word97_builder import word_document


def where(chunks: list[Chunk], needle: str) -> list[int]:
    return [index for index, chunk in enumerate(chunks) if needle in chunk.content]


def spans(chunks: list[Chunk]) -> list[tuple[str, str, int, int]]:
    return [(c.symbol, c.kind, c.start_line, c.end_line) for c in chunks]


# -- xlsx / xls --------------------------------------------------------------------------------------------------


def xlsx_workbook() -> bytes:
    workbook = openpyxl.Workbook()
    sales = workbook.active
    sales.title = "Sales"
    sales.append(["Region", "Revenue", "Closed"])
    sales.append(["North", 1200.0, dt.date(2024, 3, 1)])
    sales.append([])
    sales.append(["South", 99.5, None])
    workbook.create_sheet("Empty")
    notes = workbook.create_sheet("Notes")
    notes["B3"] = "Topic"
    notes["C3"] = "Owner"
    notes["B5"] = "Retention"
    notes["C5"] = "Dana"
    out = io.BytesIO()
    workbook.save(out)
    return out.getvalue()


def test_xlsx_is_chunked_per_sheet_with_headers_and_row_numbers() -> None:
    chunks = extract_chunks("data/report.xlsx", xlsx_workbook())
    assert spans(chunks) == [("Sales", "sheet", 2, 4), ("Notes", "sheet", 5, 5)]
    assert all(c.language == "xlsx" for c in chunks)
    assert chunks[0].header == (
        "# file: data/report.xlsx\n# sheet: Sales\n# header row: 1\n# columns: Region, Revenue, Closed"
    )
    assert chunks[0].text == "Region: North\nRevenue: 1200\nClosed: 2024-03-01\n\nRegion: South\nRevenue: 99.5"
    # The empty column A before the header gets a name of its own; the sheet's header is on row 3.
    assert chunks[1].header.endswith("# header row: 3\n# columns: column 1, Topic, Owner")
    assert chunks[1].text == "Topic: Retention\nOwner: Dana"
    assert where(chunks, "Dana") == [1]


def test_a_long_sheet_is_split_into_runs_of_rows_that_repeat_the_header() -> None:
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    sheet.title = "Log"
    sheet.append(["When", "Event"])
    for number in range(1, 121):
        sheet.append([f"day {number:03d}", "e" * 40])
    out = io.BytesIO()
    workbook.save(out)
    result = extract_document("log.xlsx", out.getvalue(), limits=Limits(max_rows=101))
    # A row is "When: day 001\nEvent: " + 40 characters = 61, 63 with its separator: 23 rows fit in 1,500.
    assert [(c.start_line, c.end_line) for c in result.chunks] == [(2, 24), (25, 47), (48, 70), (71, 93), (94, 101)]
    assert all(c.symbol == "Log" and "# columns: When, Event" in c.header for c in result.chunks)
    assert where(result.chunks, "When: day 050\n") == [2]
    assert result.notes == ("truncated: sheet 'Log': rows after 101 were left out",)


def test_sheets_over_the_limit_are_left_out_with_a_note() -> None:
    result = extract_document("report.xlsx", xlsx_workbook(), limits=Limits(max_sheets=1))
    assert [c.symbol for c in result.chunks] == ["Sales"]
    assert result.notes == ("truncated: sheets after the first 1 were left out",)


def test_columns_over_the_limit_are_left_out_with_a_note() -> None:
    result = extract_document("report.xlsx", xlsx_workbook(), limits=Limits(max_columns=2, max_sheets=1))
    assert [c.text for c in result.chunks] == ["Region: North\nRevenue: 1200\n\nRegion: South\nRevenue: 99.5"]
    assert result.notes == (
        "truncated: sheets after the first 1 were left out",
        "truncated: sheet 'Sales': columns after 2 were left out",
    )


def xls_workbook() -> bytes:
    workbook = xlwt.Workbook()
    people = workbook.add_sheet("People")
    for column, name in enumerate(["Name", "Joined", "Active", "Score"]):
        people.write(0, column, name)
    people.write(1, 0, "Ada")
    people.write(1, 1, dt.datetime(2023, 7, 14), xlwt.easyxf(num_format_str="YYYY-MM-DD"))
    people.write(1, 2, True)
    people.write(1, 3, 3.0)
    people.write(3, 0, "Linus")
    people.write(3, 3, 2.25)
    other = workbook.add_sheet("Budget")
    other.write(0, 0, "Item")
    other.write(0, 1, "Cost")
    other.write(1, 0, "Servers")
    other.write(1, 1, 4200)
    out = io.BytesIO()
    workbook.save(out)
    return out.getvalue()


def test_xls_is_chunked_per_sheet_with_typed_cells() -> None:
    chunks = extract_chunks("legacy/people.xls", xls_workbook())
    assert spans(chunks) == [("People", "sheet", 2, 4), ("Budget", "sheet", 2, 2)]
    assert all(c.language == "xls" for c in chunks)
    assert chunks[0].text == "Name: Ada\nJoined: 2023-07-14\nActive: TRUE\nScore: 3\n\nName: Linus\nScore: 2.25"
    assert chunks[1].header == "# file: legacy/people.xls\n# sheet: Budget\n# header row: 1\n# columns: Item, Cost"
    assert where(chunks, "Servers") == [1]


# -- docx --------------------------------------------------------------------------------------------------------


def docx_document() -> bytes:
    document = docx.Document()
    document.add_paragraph("Draft, do not circulate.")  # item 1
    document.add_heading("Runbook", 0)  # 2: the Title style, root of every path
    document.add_heading("Deploy", 1)  # 3
    document.add_paragraph("Tag the release first.")  # 4
    table = document.add_table(rows=3, cols=2)  # items 5, 6, 7
    table.cell(0, 0).text, table.cell(0, 1).text = "Step", "Owner"
    table.cell(1, 0).text, table.cell(1, 1).text = "Build", "CI"
    merged = table.cell(2, 0).merge(table.cell(2, 1))
    merged.text = "Announce in chat"
    document.add_heading("Rollback", 2)  # 8
    document.add_paragraph("Revert the tag.")  # 9
    document.add_paragraph("")  # 10: empty, counted, not indexed
    document.add_heading("Monitoring", 1)  # 11
    document.add_paragraph("Watch the error rate.")  # 12
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()


def test_docx_sections_follow_heading_styles_and_tables_keep_their_headers() -> None:
    chunks = extract_chunks("ops/runbook.docx", docx_document())
    assert spans(chunks) == [
        ("", "section", 1, 1),
        ("Runbook > Deploy", "section", 2, 7),
        ("Runbook > Deploy > Rollback", "section", 8, 9),
        ("Runbook > Monitoring", "section", 11, 12),
    ]
    assert all(c.language == "docx" for c in chunks)
    assert chunks[1].text == (
        "Runbook\n\nDeploy\n\nTag the release first.\n\ncolumns: Step, Owner\n\nStep: Build\nOwner: CI\n\n"
        "Step: Announce in chat"
    )
    assert chunks[2].header == "# file: ops/runbook.docx\n# section: Runbook > Deploy > Rollback"
    assert where(chunks, "Revert the tag.") == [2]


def test_a_big_docx_section_is_split_by_paragraph() -> None:
    document = docx.Document()
    document.add_heading("Policy", 1)
    for number in range(10):
        document.add_paragraph(f"Clause {number}. " + "shall " * 60)
    out = io.BytesIO()
    document.save(out)
    chunks = extract_chunks("policy.docx", out.getvalue())
    # Clauses are 369 characters: the heading (item 1) and four clauses make 1,490; then four; then two.
    assert [(c.start_line, c.end_line) for c in chunks] == [(1, 5), (6, 9), (10, 11)]
    assert all(c.symbol == "Policy" and len(c.text) <= TARGET_CHARS for c in chunks)
    assert where(chunks, "Clause 7.") == [1]  # item 9


# -- doc (Word 97-2003) ------------------------------------------------------------------------------------------


def test_doc_main_text_comes_from_the_piece_table() -> None:
    data = word_document(
        [
            ('Incident review\rThe cache \x13 HYPERLINK "http://x" \x14expired\x15 early.\r\r', True),
            ("Owner\x07Action\x07\x07Dana\x07Rotate keys\x07\x07", True),
            ("Ωmega follow-up\x0bwith a line break\r", False),  # a UTF-16 piece
        ]
    )
    chunks = extract_chunks("reviews/incident.doc", data)
    assert spans(chunks) == [("", "text", 1, 6)]
    assert chunks[0].language == "doc"
    assert chunks[0].header == "# file: reviews/incident.doc"
    assert chunks[0].text == (
        "Incident review\nThe cache expired early.\n\nOwner | Action\nDana | Rotate keys\n"
        "Ωmega follow-up with a line break"
    )


def test_doc_property_modifiers_before_the_piece_table_are_skipped() -> None:
    data = word_document([("After edits\r", True)], grpprl=b"\x03\x24\x01" * 5)
    assert [c.text for c in extract_chunks("edited.doc", data)] == ["After edits"]


def test_a_long_doc_is_split_into_windows_of_paragraphs() -> None:
    paragraphs = [f"Finding {number:02d}: " + "observed " * 40 for number in range(12)]  # 371 characters each
    data = word_document([("\r\r".join(paragraphs) + "\r", True)])
    chunks = extract_chunks("long.doc", data)
    # Paragraph n is line 2n + 1 (blank paragraphs between); four (1,490 characters) fill a window.
    assert [(c.start_line, c.end_line) for c in chunks] == [(1, 7), (9, 15), (17, 23)]
    assert where(chunks, "Finding 04:") == [1]


def test_doc_text_is_bounded_by_the_character_limit() -> None:
    result = extract_document("big.doc", word_document([("a" * 900 + "\r", True)]), limits=Limits(max_chars=100))
    assert [c.text for c in result.chunks] == ["a" * 100]
    assert result.notes == ("truncated: text over 100 characters was left out",)


# -- pdf ---------------------------------------------------------------------------------------------------------


def pdf_document(pages: list[str]) -> bytes:
    pdf = FPDF()
    pdf.set_font("helvetica", size=11)
    for text in pages:
        pdf.add_page()
        if text:
            pdf.multi_cell(0, 6, text)
    return bytes(pdf.output())


def test_pdf_is_chunked_per_page_with_page_numbers_as_lines() -> None:
    long_page = " ".join(f"sentence {n} of the long page." for n in range(120))  # ~3,500 characters
    chunks = extract_chunks("manual.pdf", pdf_document(["Cover page: Ticketsmith manual", "", long_page, "Index"]))
    assert [(c.symbol, c.kind, c.start_line, c.end_line) for c in chunks[:1]] == [("page 1", "page", 1, 1)]
    assert all(c.language == "pdf" for c in chunks)
    assert [c.symbol for c in chunks] == ["page 1", "page 3", "page 3", "page 3", "page 4"]  # page 2 is blank
    assert all(c.start_line == c.end_line == int(c.symbol.split()[1]) for c in chunks)
    assert all(len(c.text) <= TARGET_CHARS for c in chunks)
    assert chunks[1].header == "# file: manual.pdf\n# page: 3"
    assert where(chunks, "Ticketsmith manual") == [0]
    assert where(chunks, "sentence 100 of") == [3]
    assert where(chunks, "Index") == [4]


def test_pdf_pages_over_the_limit_are_left_out_with_a_note() -> None:
    result = extract_document("p.pdf", pdf_document(["one", "two", "three"]), limits=Limits(max_pages=2))
    assert [c.text for c in result.chunks] == ["one", "two"]
    assert result.notes == ("truncated: pages after the first 2 of 3 were left out",)


def test_pdf_with_only_an_owner_password_is_read() -> None:
    from pypdf import PdfReader, PdfWriter

    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(pdf_document(["open to read"]))))
    writer.encrypt(user_password="", owner_password="owner-secret", algorithm="RC4-128")
    out = io.BytesIO()
    writer.write(out)
    assert [c.text for c in extract_chunks("owner.pdf", out.getvalue())] == ["open to read"]
