"""Plain text (``.txt``): paragraphs (runs of non-blank lines) merged into windows of about ``TARGET_CHARS``.

Line numbers are the real source lines (as ``str.splitlines`` counts them); bytes that are not UTF-8 are
replaced, never an error.
"""

from __future__ import annotations

from collections.abc import Sequence

from service.knowledge_base.chunking import Chunk
from service.knowledge_base.documents.base import Block, Budget, Section, decode_text, sections_to_chunks


def paragraphs(lines: Sequence[str], first_line: int = 1) -> list[Block]:
    """One block per run of non-blank lines; ``first_line`` is the source line number of ``lines[0]``."""
    blocks: list[Block] = []
    start: int | None = None
    for index, line in enumerate([*lines, ""]):
        if line.strip():
            if start is None:
                start = index
        elif start is not None:
            text = "\n".join(lines[start:index])
            blocks.append(Block(text, first_line + start, first_line + index - 1, lines_match=True))
            start = None
    return blocks


def bounded_lines(data: bytes, budget: Budget) -> list[str]:
    """The decoded lines of ``data``, cut at the character limit (with a note)."""
    text = decode_text(data)
    if len(text) > budget.limits.max_chars:
        text = text[: budget.limits.max_chars]
        budget.note(f"truncated: text over {budget.limits.max_chars} characters was left out")
    return text.splitlines()


def extract_text(path: str, data: bytes, budget: Budget) -> list[Chunk]:
    lines = bounded_lines(data, budget)
    section = Section((), paragraphs(lines), kind="text")
    return sections_to_chunks(path, "text", [section], source_lines=lines)
