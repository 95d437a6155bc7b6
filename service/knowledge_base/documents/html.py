"""HTML (``.html``, ``.htm``): the main text only, one section per ``h1`` to ``h6`` heading (``symbol`` the heading
path, as in markdown), parsed with selectolax's Lexbor HTML5 parser.

Main text: the first ``<main>``, else a lone ``<article>``, else ``<body>``; scripts, styles, navigation, asides,
forms' controls and embedded objects are dropped, and so are ``<header>``/``<footer>`` when the whole body is
used (site chrome). Paragraphs, list items, quotes and ``<pre>`` blocks (kept whole when they fit) are the
blocks; a table becomes ``column: value`` rows under its first row's names.

Line numbers are best effort: the parser keeps no source positions, so each block's first and last text is
looked up in the source, in order. Text whose source spells it with character references (``&amp;``) or that
cannot be found gets 0 (unknown) for that end; a chunk's range spans the blocks whose lines were found.
"""

from __future__ import annotations

import bisect
import codecs
import re
from dataclasses import dataclass, field

from selectolax.lexbor import LexborHTMLParser, LexborNode

from service.knowledge_base.chunking import Chunk
from service.knowledge_base.documents.base import Block, Budget, Section, decode_text, sections_to_chunks
from service.knowledge_base.documents.rows import column_names, columns_header, row_block

DROP = frozenset(
    {
        "script",
        "style",
        "noscript",
        "template",
        "nav",
        "aside",
        "svg",
        "iframe",
        "object",
        "canvas",
        "button",
        "select",
        "input",
        "textarea",
        "head",
        "-comment",
    }
)
CHROME = frozenset({"header", "footer"})
HEADINGS = {f"h{n}": n for n in range(1, 7)}
BLOCKS = frozenset(
    {
        "p",
        "div",
        "section",
        "article",
        "main",
        "li",
        "dt",
        "dd",
        "blockquote",
        "figcaption",
        "caption",
        "address",
        "ul",
        "ol",
        "dl",
        "figure",
        "details",
        "summary",
        "hr",
        "header",
        "footer",
        "form",
        "fieldset",
        "body",
    }
)
CHARSET = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?([A-Za-z0-9_.:-]+)""", re.IGNORECASE)
SNIPPET_STOP = re.compile(r"[&<>\"'\u00a0]")
MIN_SNIPPET = 3


def decode_html(data: bytes) -> str:
    """Text of an HTML file: the ``<meta charset>`` of its first 2 KiB when Python knows it, else UTF-8."""
    match = CHARSET.search(data[:2048])
    if match and not data.startswith((b"\xef\xbb\xbf", b"\xff\xfe", b"\xfe\xff")):
        try:
            codec = codecs.lookup(match.group(1).decode("ascii"))
        except LookupError:
            codec = None
        if codec is not None and codec.name != "utf-8":
            return data.decode(codec.name, "replace").replace("\x00", "")
    return decode_text(data)


class _Locator:
    """Finds text in the source, moving forward only, and turns offsets into 1-based line numbers."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.newlines = [index for index, char in enumerate(source) if char == "\n"]
        self.cursor = 0

    @staticmethod
    def snippet(raw: str, *, tail: bool = False) -> str | None:
        lines = [line.strip() for line in raw.strip().split("\n")]
        line = lines[-1] if tail else lines[0]
        parts = SNIPPET_STOP.split(line)
        piece = parts[-1][-40:] if tail else parts[0][:40]
        return piece if len(piece) >= MIN_SNIPPET else None

    def find(self, snippet: str | None, *, advance: bool) -> int:
        if snippet is None:
            return 0
        at = self.source.find(snippet, self.cursor)
        if at < 0:
            return 0
        if advance:
            self.cursor = at
        return bisect.bisect_right(self.newlines, at) + 1


@dataclass
class _Pending:
    parts: list[str] = field(default_factory=list)
    first_raw: str | None = None
    last_raw: str | None = None

    def add(self, raw: str, text: str) -> None:
        if text:
            self.parts.append(text)
            if self.first_raw is None and _Locator.snippet(raw):
                self.first_raw = raw
            if _Locator.snippet(raw, tail=True):
                self.last_raw = raw


class _Walker:
    def __init__(self, source: str, budget: Budget) -> None:
        self.locator = _Locator(source)
        self.budget = budget
        self.sections: list[Section] = [Section(())]
        self.stack: list[tuple[int, str]] = []
        self.pending = _Pending()

    def block(self, text: str, first_raw: str | None, last_raw: str | None, *, atomic: bool = False) -> Block:
        start = self.locator.find(_Locator.snippet(first_raw or ""), advance=True)
        end = self.locator.find(_Locator.snippet(last_raw or "", tail=True), advance=False) if last_raw else start
        return Block(text, start, max(end, start), atomic=atomic)

    def flush(self) -> None:
        pending, self.pending = self.pending, _Pending()
        text = " ".join(" ".join(pending.parts).split())
        if text and self.budget.take(text):
            self.sections[-1].blocks.append(self.block(text, pending.first_raw, pending.last_raw))

    def heading(self, node: LexborNode, level: int) -> None:
        self.flush()
        title = " ".join(node.text(deep=True, separator=" ").split()) or f"(untitled h{level})"
        while self.stack and self.stack[-1][0] >= level:
            self.stack.pop()
        self.stack.append((level, title))
        raws = [n.text_content or "" for n in node.traverse(include_text=True) if n.tag == "-text"]
        raws = [r for r in raws if r.strip()] or [""]
        lead = self.block(title, raws[0], raws[-1])
        self.sections.append(Section(tuple(t for _, t in self.stack), lead=[lead]))

    def table(self, node: LexborNode) -> None:
        self.flush()
        limits = self.budget.limits
        columns: list[str] | None = None
        for row in node.css("tr"):
            self.budget.tick()
            cells = [" ".join(c.text(deep=True, separator=" ").split()) for c in row.iter() if c.tag in ("td", "th")]
            if columns is None:
                if any(cells):
                    columns = column_names(cells, limits.max_columns)
                    self.sections[-1].blocks.append(self.block(columns_header(columns)[2:], *_raws(row)))
                continue
            block = row_block(columns, cells[: limits.max_columns], 0)
            if block is not None and self.budget.take(block.text):
                located = self.block(block.text, *_raws(row))
                self.sections[-1].blocks.append(located)

    def walk(self, root: LexborNode, *, drop_chrome: bool) -> None:
        todo: list[tuple[LexborNode, bool]] = [(root, False)]
        while todo:
            node, leaving = todo.pop()
            tag = node.tag or ""
            if leaving:
                self.flush()
                continue
            if tag == "-text":
                raw = node.text_content or ""
                self.pending.add(raw, raw)
                continue
            if tag in DROP or (drop_chrome and tag in CHROME):
                continue
            if tag in HEADINGS:
                self.heading(node, HEADINGS[tag])
            elif tag == "table":
                self.table(node)
            elif tag == "pre":
                self.flush()
                raw = node.text(deep=True, separator="")
                if raw.strip() and self.budget.take(raw):
                    self.sections[-1].blocks.append(self.block(raw.strip("\n"), raw, raw, atomic=True))
            elif tag == "br":
                self.pending.parts.append("\n")
            else:
                if tag in BLOCKS:
                    self.flush()
                    todo.append((node, True))
                children = list(node.iter(include_text=True))
                todo.extend((child, False) for child in reversed(children))


def _raws(node: LexborNode) -> tuple[str | None, str | None]:
    raws = [n.text_content or "" for n in node.traverse(include_text=True) if n.tag == "-text"]
    raws = [r for r in raws if r.strip()]
    return (raws[0], raws[-1]) if raws else (None, None)


def _main(tree: LexborHTMLParser) -> tuple[LexborNode | None, bool]:
    main = tree.css_first("main")
    if main is not None:
        return main, False
    articles = tree.css("article")
    if len(articles) == 1:
        return articles[0], False
    return tree.body, True


def extract_html(path: str, data: bytes, budget: Budget) -> list[Chunk]:
    source = decode_html(data)
    tree = LexborHTMLParser(source)
    root, whole_body = _main(tree)
    if root is None:
        return []
    walker = _Walker(source, budget)
    opening = re.search(rf"<{root.tag}[\s>]", source, re.IGNORECASE)
    walker.locator.cursor = opening.start() if opening else 0  # so the <title> is not taken for the <h1>
    walker.walk(root, drop_chrome=whole_body)
    walker.flush()
    return sections_to_chunks(path, "html", walker.sections)
