"""Text documents into chunks by structure: txt paragraphs, markdown headings, html main text, csv/tsv rows."""

from __future__ import annotations

import pytest

from service.knowledge_base.chunking import TARGET_CHARS, Chunk
from service.knowledge_base.documents import (
    DOCUMENT_SUFFIXES,
    DocumentError,
    Limits,
    document_language,
    extract_chunks,
    extract_document,
    is_document,
)


def where(chunks: list[Chunk], needle: str) -> list[int]:
    """Indexes of the chunks whose embedded content holds ``needle``."""
    return [index for index, chunk in enumerate(chunks) if needle in chunk.content]


def spans(chunks: list[Chunk]) -> list[tuple[str, str, int, int]]:
    return [(c.symbol, c.kind, c.start_line, c.end_line) for c in chunks]


def test_suffixes_are_the_bedrock_formats_and_case_does_not_matter() -> None:
    assert {".txt", ".md", ".html", ".csv", ".xls", ".xlsx", ".doc", ".docx", ".pdf"} <= DOCUMENT_SUFFIXES
    assert is_document("docs/Guide.MD")
    assert is_document("a/b/report.PDF")
    assert not is_document("service/app.py")
    assert not is_document("Makefile")
    assert [document_language(p) for p in ("a.MARKDOWN", "b.htm", "c.tsv", "d.doc", "e.py")] == [
        "markdown",
        "html",
        "tsv",
        "doc",
        None,
    ]


def test_unknown_suffix_is_a_document_error() -> None:
    with pytest.raises(DocumentError) as caught:
        extract_chunks("app.py", b"print(1)\n")
    assert caught.value.reason == "not a document format: .py"


# -- txt ---------------------------------------------------------------------------------------------------------

PARAGRAPH = "word " * 59 + "end."  # 299 characters


def test_txt_paragraphs_merge_into_windows_with_their_source_lines() -> None:
    lines: list[str] = []
    for number in range(8):
        lines += [f"Paragraph {number}: {PARAGRAPH}", f"second line of paragraph {number}.", "", ""]
    chunks = extract_chunks("notes/readme.txt", "\n".join(lines).encode())
    # Each paragraph is 2 lines and ~340 characters, so four fit in a 1,500-character window.
    assert [(c.start_line, c.end_line) for c in chunks] == [(1, 14), (17, 30)]
    assert all(c.language == "text" and c.kind == "text" and c.symbol == "" for c in chunks)
    assert chunks[0].header == "# file: notes/readme.txt"
    assert chunks[0].text == "\n".join(lines[0:14])
    assert where(chunks, "Paragraph 4:") == [1]
    assert all(len(c.text) <= TARGET_CHARS for c in chunks)


def test_txt_one_huge_line_is_cut_at_whitespace_and_keeps_its_line_number() -> None:
    data = ("intro\n\n" + "lorem ipsum " * 400 + "\n\ntail line\n").encode()
    chunks = extract_chunks("big.txt", data)
    # 4,800 characters on line 3: three full pieces, and the rest shares a chunk with the paragraph after it.
    assert [(c.start_line, c.end_line) for c in chunks] == [(1, 1), (3, 3), (3, 3), (3, 3), (3, 5)]
    assert [len(c.text) for c in chunks[1:4]] == [1499, 1499, 1499]
    assert chunks[1].text.startswith("lorem ipsum lorem")
    assert chunks[4].text.endswith("lorem ipsum\n\ntail line")
    assert where(chunks, "tail line") == [4]


def test_txt_that_is_not_utf8_is_decoded_with_replacement() -> None:
    chunks = extract_chunks("latin.txt", "café crème\n".encode("latin-1") + b"\x00\xff ok\n")
    assert [c.text for c in chunks] == ["caf\ufffd cr\ufffdme\n\ufffd ok"]


def test_txt_with_a_utf16_byte_order_mark_is_read_as_utf16() -> None:
    chunks = extract_chunks("wide.txt", "naïve text\n".encode("utf-16"))
    assert [c.text for c in chunks] == ["naïve text"]


@pytest.mark.parametrize("suffix", sorted(DOCUMENT_SUFFIXES))
def test_an_empty_file_has_no_chunks_and_is_no_error(suffix: str) -> None:
    assert extract_document(f"empty{suffix}", b"").chunks == []
    assert extract_document(f"blank{suffix}", b" \n\n").chunks == []


def test_text_over_the_character_limit_is_cut_with_a_note() -> None:
    result = extract_document("long.txt", b"abc\n" * 1000, limits=Limits(max_chars=400))
    assert result.chunks[-1].end_line == 100
    assert result.notes == ("truncated: text over 400 characters was left out",)


def test_a_file_over_the_byte_limit_is_refused() -> None:
    with pytest.raises(DocumentError) as caught:
        extract_chunks("big.md", b"x" * 101, limits=Limits(max_bytes=100))
    assert caught.value.reason == "file is 101 bytes (limit 100)"


# -- markdown ----------------------------------------------------------------------------------------------------

MARKDOWN = """\
---
title: Ticketsmith guide
tags: [kb]
---
Welcome to the guide.

# Install

## From PyPI

Run the installer:

```sh
# this is a shell comment, not a heading
pip install ticketsmith
```

## From source
Clone the repository.

- build it
- test it

Usage
=====

Call `ticketsmith index`.

### Flags
Use --ref for a tag.
"""


def test_markdown_sections_follow_the_heading_path_with_real_lines() -> None:
    chunks = extract_chunks("docs/guide.md", MARKDOWN.encode())
    assert spans(chunks) == [
        ("front matter", "metadata", 1, 4),
        ("", "section", 5, 5),
        ("Install > From PyPI", "section", 7, 16),  # the empty "# Install" section folds into its child
        ("Install > From source", "section", 18, 22),
        ("Usage", "section", 24, 27),
        ("Usage > Flags", "section", 29, 30),
    ]
    assert all(c.language == "markdown" for c in chunks)
    lines = MARKDOWN.splitlines()
    for chunk in chunks:
        assert chunk.text == "\n".join(lines[chunk.start_line - 1 : chunk.end_line])
    assert chunks[2].header == "# file: docs/guide.md\n# section: Install > From PyPI"
    assert chunks[1].header == "# file: docs/guide.md"
    assert where(chunks, "pip install ticketsmith") == [2]
    assert where(chunks, "title: Ticketsmith guide") == [0]
    assert where(chunks, "--ref") == [5]


def test_big_markdown_section_splits_by_paragraph_and_keeps_code_whole() -> None:
    paragraphs = [f"Paragraph {n}. " + "text " * 100 for n in range(6)]  # ~515 characters each
    code = "```python\n" + "\n".join(f"value_{n} = {n} * 2  # keep together" for n in range(60)) + "\n```"
    source = "# Big\n\n" + "\n\n".join(paragraphs[:3]) + "\n\n" + code + "\n\n" + "\n\n".join(paragraphs[3:]) + "\n"
    chunks = extract_chunks("big.md", source.encode())
    lines = source.splitlines()
    assert [c.symbol for c in chunks] == ["Big"] * len(chunks)
    assert len(code) > TARGET_CHARS
    # Heading and two paragraphs fill the first chunk; the third cannot join the code block, which is over the
    # target but under twice it, so it stays whole; the last three paragraphs pack two and one.
    assert [(c.start_line, c.end_line) for c in chunks] == [(1, 5), (7, 7), (9, 70), (72, 74), (76, 76)]
    assert chunks[2].text == code  # over the target but under twice it: kept whole
    for chunk in chunks:
        assert chunk.text == "\n".join(lines[chunk.start_line - 1 : chunk.end_line])
    assert where(chunks, "Paragraph 2.") == [1]
    assert where(chunks, "Paragraph 5.") == [4]


def test_a_list_longer_than_the_target_is_split_by_lines_that_never_start_or_end_blank() -> None:
    items = "\n\n".join(f"- item {n:02d} " + "detail " * 12 for n in range(30))  # a loose list: one block
    source = f"# List\n\n{items}\n"
    chunks = extract_chunks("list.md", source.encode())
    lines = source.splitlines()
    # Item lines are 94 characters: fifteen items and their blank lines fill a window, which the heading joins.
    assert [(c.start_line, c.end_line) for c in chunks] == [(1, 31), (33, 61)]
    for chunk in chunks:
        assert lines[chunk.start_line - 1].strip()
        assert lines[chunk.end_line - 1].strip()
        assert chunk.text == "\n".join(lines[chunk.start_line - 1 : chunk.end_line])
        assert len(chunk.text) <= TARGET_CHARS


def test_markdown_without_front_matter_closing_fence_is_plain_markdown() -> None:
    chunks = extract_chunks("odd.md", b"---\nnot closed\n\n# Title\nbody\n")
    assert spans(chunks) == [("", "section", 1, 2), ("Title", "section", 4, 5)]


# -- html --------------------------------------------------------------------------------------------------------

HTML = """\
<!doctype html>
<html><head><title>Guide</title><style>p { color: red }</style></head>
<body>
<nav><a href="/">Home</a> <a href="/docs">Docs</a></nav>
<main>
<h1>Guide</h1>
<p>Ticketsmith indexes
your repository.</p>
<aside>Related: nothing here</aside>
<h2>Install</h2>
<ul>
<li>Download the wheel</li>
<li>Run pip &amp; check</li>
</ul>
<pre>pip install ticketsmith
ticketsmith --help</pre>
<h2>Sizes</h2>
<table>
<tr><th>Plan</th><th>Seats</th></tr>
<tr><td>Team</td><td>10</td></tr>
</table>
<script>var tracking = "do not index";</script>
</main>
<footer>Copyright footer</footer>
</body></html>
"""


def test_html_keeps_main_text_split_by_heading_with_best_effort_lines() -> None:
    chunks = extract_chunks("site/guide.html", HTML.encode())
    assert spans(chunks) == [
        ("Guide", "section", 6, 8),
        ("Guide > Install", "section", 10, 16),
        ("Guide > Sizes", "section", 17, 20),
    ]
    assert all(c.language == "html" for c in chunks)
    assert chunks[0].text == "Guide\n\nTicketsmith indexes your repository."
    assert chunks[1].text == (
        "Install\n\n- Download the wheel\n\n- Run pip & check\n\npip install ticketsmith\nticketsmith --help"
    )
    assert chunks[2].text == "Sizes\n\ncolumns: Plan, Seats\n\nPlan: Team\nSeats: 10"
    assert chunks[2].header == "# file: site/guide.html\n# section: Guide > Sizes"
    for dropped in ("Home", "Related", "tracking", "Copyright", "color: red"):
        assert where(chunks, dropped) == []


def test_html_without_main_drops_site_chrome_and_reports_unknown_lines_as_zero() -> None:
    source = "<body><header>Site menu</header><p>&amp;&amp;&amp;</p><p>Real text here</p><footer>x</footer></body>"
    chunks = extract_chunks("page.htm", source.encode())
    assert spans(chunks) == [("", "section", 1, 1)]
    assert chunks[0].text == "&&&\n\nReal text here"
    only_entities = extract_chunks("e.html", b"<p>&lt;&gt;</p>")
    assert spans(only_entities) == [("", "section", 0, 0)]


def test_html_inline_markup_joins_words_as_rendered_and_br_breaks_lines() -> None:
    source = (
        "<h2>Set<em>up</em></h2><p>Ticket<b>smith</b> <i>indexes</i><br>code <br/> <br>and docs</p><ul><li></li></ul>"
        "<table><tr><th>Na<b>me</b></th></tr><tr><td>Al<i>ice</i></td></tr></table>"
    )
    chunks = extract_chunks("inline.html", source.encode())
    assert [(c.symbol, c.text) for c in chunks] == [
        ("Setup", "Setup\n\nTicketsmith indexes\ncode\nand docs\n\ncolumns: Name\n\nName: Alice")
    ]


def test_html_declared_charset_is_honoured() -> None:
    source = '<html><head><meta charset="windows-1252"></head><body><p>caf\xe9 \x93quoted\x94</p></body></html>'
    chunks = extract_chunks("legacy.html", source.encode("latin-1"))
    assert [c.text for c in chunks] == ["café \u201cquoted\u201d"]


def test_deeply_nested_html_does_not_overflow_the_stack() -> None:
    source = "<div>" * 4000 + "<p>deep text</p>" + "</div>" * 4000
    chunks = extract_chunks("deep.html", source.encode())
    assert [c.text for c in chunks] == ["deep text"]


def test_html_nested_past_the_depth_limit_is_refused_before_parsing() -> None:
    with pytest.raises(DocumentError) as caught:
        extract_chunks("bomb.html", b"<div>" * 200_000)  # Lexbor would take minutes over this
    assert caught.value.reason == "html nests elements deeper than 5000"
    sloppy = b"<p>one<li>two<br><img src=x>" * 20_000  # unclosed p and li never count as depth
    assert extract_chunks("sloppy.html", sloppy, limits=Limits(max_html_depth=10))


# -- csv / tsv ---------------------------------------------------------------------------------------------------


def test_csv_dialect_is_sniffed_and_rows_carry_their_headers_and_source_lines() -> None:
    data = b'name;team;note\nAlice;core;"two\nlines"\n\nBob;;ok\n;;\nCarol;web;last\n'
    chunks = extract_chunks("people.csv", data)
    assert spans(chunks) == [("", "rows", 2, 7)]
    assert chunks[0].language == "csv"
    assert chunks[0].header == "# file: people.csv\n# columns: name, team, note"
    assert chunks[0].text == (
        "name: Alice\nteam: core\nnote: two lines\n\nname: Bob\nnote: ok\n\nname: Carol\nteam: web\nnote: last"
    )


def test_csv_chunks_are_runs_of_rows_each_repeating_the_columns() -> None:
    rows = "\n".join(f"{n:03d},customer {n:03d},{'x' * 40}" for n in range(1, 101))
    chunks = extract_chunks("big.csv", f"id,customer,padding\n{rows}\n".encode())
    # Each rendered row is 80 characters plus a blank line between rows: 18 rows (1,474) fit in 1,500.
    assert len(chunks[0].text) == 18 * 82 - 2
    assert [(c.start_line, c.end_line) for c in chunks] == [(2 + 18 * k, 19 + 18 * k) for k in range(5)] + [(92, 101)]
    assert all(c.header == "# file: big.csv\n# columns: id, customer, padding" for c in chunks)
    assert where(chunks, "customer: customer 042\n") == [2]


@pytest.mark.timeout(60)
def test_csv_whose_sample_is_pathological_for_the_sniffer_is_read_in_bounded_time() -> None:
    chunks = extract_chunks("quotes.csv", b',"' * 200_000)
    assert chunks == []  # it is all one line: a header row with no data rows under it


def test_huge_csv_is_bounded_with_a_note() -> None:
    data = b"k,v\n" + b"".join(b"%d,value\n" % n for n in range(200_000))
    result = extract_document("huge.csv", data, limits=Limits(max_rows=1_000, max_columns=1))
    assert result.chunks[0].start_line == 2
    assert result.chunks[-1].end_line == 1_001
    assert result.chunks[-1].text.endswith("k: 998\n\nk: 999")
    assert where(result.chunks, "v: value") == []  # the second column is over max_columns
    assert set(result.notes) == {
        "truncated: rows after the first 1000 were left out",
        "truncated: columns after the first 1 were left out",
    }


def test_csv_byte_order_mark_is_not_part_of_the_first_column_and_a_lone_header_has_no_chunks() -> None:
    chunks = extract_chunks("bom.csv", "\ufeffname,age\nZoë,7\n".encode())
    assert [(c.header, c.text) for c in chunks] == [("# file: bom.csv\n# columns: name, age", "name: Zoë\nage: 7")]
    assert extract_chunks("header-only.csv", b"name,age\n") == []


def test_tsv_is_tab_separated() -> None:
    chunks = extract_chunks("t.tsv", b"a\tb\n1,5\t2\n")
    assert [(c.language, c.text) for c in chunks] == [("tsv", "a: 1,5\nb: 2")]


def test_csv_with_a_field_over_the_csv_module_limit_is_a_document_error() -> None:
    data = b'a,b\n1,"' + b"x" * 200_000 + b'"\n'
    with pytest.raises(DocumentError) as caught:
        extract_chunks("wide.csv", data)
    assert caught.value.reason.startswith("malformed csv at line 2: field larger than field limit")
