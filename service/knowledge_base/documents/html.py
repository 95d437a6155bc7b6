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
from service.knowledge_base.documents.base import Block, Budget, DocumentError, Section, decode_text, sections_to_chunks
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
LINE_BREAK = "\u2028"  # stands for <br> until whitespace is collapsed
TAG = re.compile(r"<(/?)([A-Za-z][A-Za-z0-9-]*)[^<>]*?(/?)>")
NO_DEPTH = frozenset(
    {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr", "param"}
    | {"p", "li", "dt", "dd", "tr", "td", "th", "option", "optgroup", "thead", "tbody", "tfoot", "colgroup"}
    | {"caption", "rb", "rt", "rp", "rtc", "html", "head", "body"}
)


def check_depth(source: str, limit: int) -> None:
    """Refuse HTML whose elements nest deeper than ``limit``, estimated from its tags in one pass.

    Lexbor's tree building is superlinear in the depth of block elements (nested ``<div>``: 10,000 take 0.07 s,
    20,000 take 0.5 s, 40,000 take 4 s) and runs in C where no time budget reaches it, so the depth is checked
    first. Void elements and those whose end tag may be left out (``<p>``, ``<li>``, ...) never count, so
    ordinary sloppy HTML does not look deep."""
    depth = 0
    for match in TAG.finditer(source):
        closing, name, self_closing = match.groups()
        name = name.lower()
        if self_closing or name in NO_DEPTH:
            continue
        if closing:
            depth = max(depth - 1, 0)
        else:
            depth += 1
            if depth > limit:
                raise DocumentError(f"html nests elements deeper than {limit}")


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
        self.newlines = [match.start() for match in re.finditer("\n", source)]
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
    prefix: str = ""  # "- " for a list item
    first: str | None = None  # the snippet to look the block's start up by
    last_raw: str | None = None  # the last text with anything in it, for the block's end

    def add(self, raw: str) -> None:
        self.parts.append(raw)
        if not raw.isspace():  # most text nodes between tags are whitespace: skip the snippet work for them
            if self.first is None:
                self.first = _Locator.snippet(raw)
            self.last_raw = raw


class _Walker:
    def __init__(self, source: str, budget: Budget) -> None:
        self.locator = _Locator(source)
        self.budget = budget
        self.sections: list[Section] = [Section(())]
        self.stack: list[tuple[int, str]] = []
        self.pending = _Pending()

    def block(self, text: str, first_raw: str | None, last_raw: str | None, *, atomic: bool = False) -> Block:
        return self.located(text, _Locator.snippet(first_raw or ""), last_raw, atomic=atomic)

    def located(self, text: str, first: str | None, last_raw: str | None, *, atomic: bool = False) -> Block:
        start = self.locator.find(first, advance=True)
        end = self.locator.find(_Locator.snippet(last_raw or "", tail=True), advance=False) if last_raw else start
        return Block(text, start, max(end, start) if start else 0, atomic=atomic)

    def flush(self) -> None:
        pending = self.pending
        if not pending.parts:
            pending.prefix = ""
            return
        self.pending = _Pending()
        lines = (" ".join(segment.split()) for segment in "".join(pending.parts).split(LINE_BREAK))
        text = "\n".join(line for line in lines if line)
        if text and self.budget.take(text):
            text = pending.prefix + text
            self.sections[-1].blocks.append(self.located(text, pending.first, pending.last_raw))

    def heading(self, node: LexborNode, level: int) -> None:
        self.flush()
        title = " ".join(node.text(deep=True, separator="").split()) or f"(untitled h{level})"
        while self.stack and self.stack[-1][0] >= level:
            self.stack.pop()
        self.stack.append((level, title))
        lead = self.block(title, *_raws(node))
        self.sections.append(Section(tuple(t for _, t in self.stack), lead=[lead]))

    def table(self, node: LexborNode) -> None:
        self.flush()
        limits = self.budget.limits
        columns: list[str] | None = None
        for row in node.css("tr"):
            self.budget.tick()
            cells = [" ".join(c.text(deep=True, separator="").split()) for c in row.iter() if c.tag in ("td", "th")]
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
                raw = node.text_content
                if raw:
                    self.pending.add(raw)
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
                self.pending.parts.append(LINE_BREAK)
            else:
                if tag in BLOCKS:
                    self.flush()
                    todo.append((node, True))
                    if tag == "li":
                        self.pending.prefix = "- "
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
    check_depth(source, budget.limits.max_html_depth)
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
