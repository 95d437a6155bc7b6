"""Properties of the line-based formats over generated input: chunks are in order, never overlap, quote the
source lines they claim verbatim, and (for plain text) cover every non-blank line."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from service.knowledge_base.chunking import TARGET_CHARS, Chunk
from service.knowledge_base.documents import extract_chunks
from service.knowledge_base.documents.base import MAX_ATOMIC_CHARS

TEXT_LINES = st.sampled_from(["", "", "short line", "a longer line of prose " * 8, "x" * 2000, "  indented", "\t"])
MARKDOWN_LINES = st.sampled_from(
    [
        "",
        "",
        "# Title",
        "## Part",
        "### Deep",
        "plain words " * 10,
        "- item",
        "1. step",
        "> quoted",
        "```",
        "    indented code",
        "| a | b |",
        "|---|---|",
        "---",
        "[ref]: http://example.com",
        "<div>html</div>",
        "y" * 1800,
    ]
)


def assert_in_order_and_verbatim(chunks: list[Chunk], lines: list[str]) -> None:
    """Chunks move forward (pieces of one over-long line share its number) and quote the source: verbatim
    when no line in their range is over the target, else piece by piece."""
    source = "\n".join(lines)
    previous_end = 0
    for chunk in chunks:
        assert previous_end <= chunk.start_line <= chunk.end_line <= len(lines)
        claimed = lines[chunk.start_line - 1 : chunk.end_line]
        if max(len(line) for line in claimed) <= TARGET_CHARS:
            assert previous_end < chunk.start_line
            assert chunk.text == "\n".join(claimed)
        else:
            assert all(part in source for part in chunk.text.split("\n\n"))
        assert chunk.text.strip()
        previous_end = chunk.end_line


@settings(max_examples=80, deadline=None, derandomize=True)
@given(st.lists(TEXT_LINES, max_size=80))
def test_txt_chunks_cover_every_non_blank_line_once(lines: list[str]) -> None:
    chunks = extract_chunks("gen.txt", "\n".join(lines).encode())
    assert_in_order_and_verbatim(chunks, lines)
    covered = {n for c in chunks for n in range(c.start_line, c.end_line + 1)}
    assert {n for n, line in enumerate(lines, start=1) if line.strip()} <= covered
    assert all(len(c.text) <= TARGET_CHARS for c in chunks)


@settings(max_examples=80, deadline=None, derandomize=True)
@given(st.lists(MARKDOWN_LINES, max_size=80))
def test_markdown_chunks_are_in_order_and_quote_their_source(lines: list[str]) -> None:
    chunks = extract_chunks("gen.md", "\n".join(lines).encode())
    assert_in_order_and_verbatim([c for c in chunks if c.start_line > 0], lines)
    assert all(len(c.text) <= MAX_ATOMIC_CHARS for c in chunks)
    assert all(c.symbol or c.kind in ("section", "metadata") for c in chunks)
