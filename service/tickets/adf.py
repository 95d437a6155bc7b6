"""Markdown to Atlassian Document Format (ADF), the body format of Jira Cloud's REST API v3.

Markdown is parsed by markdown-it-py (CommonMark, plus tables and strikethrough); the syntax tree is mapped to ADF
nodes and marks. Everything ADF cannot say is degraded to text rather than dropped (raw HTML, images become
links). Every document this module can produce validates against Atlassian's ADF JSON schema
(``@atlaskit/adf-schema`` ``json-schema/v1/full.json``); the test suite checks it on generated input.
Node and mark shapes: https://developer.atlassian.com/cloud/jira/platform/apis/document/structure/
"""

from __future__ import annotations

from typing import Any

from markdown_it import MarkdownIt
from markdown_it.tree import SyntaxTreeNode

Node = dict[str, Any]
Mark = dict[str, Any]

_PARSER = MarkdownIt("commonmark").enable(["table", "strikethrough"])
_MARKS = {"strong": "strong", "em": "em", "s": "strike"}


def _text(text: str, marks: list[Mark]) -> list[Node]:
    if not text:
        return []  # ADF text nodes must not be empty
    node: Node = {"type": "text", "text": text}
    if marks:
        node["marks"] = [dict(mark) for mark in marks]
    return [node]


def _inline(node: SyntaxTreeNode, marks: list[Mark]) -> list[Node]:
    kind = node.type
    if kind == "text":
        return _text(node.content, marks)
    if kind == "softbreak":
        return _text(" ", marks)
    if kind == "hardbreak":
        return [{"type": "hardBreak"}]
    if kind == "code_inline":
        # The code mark may only be combined with a link.
        return _text(node.content, [m for m in marks if m["type"] == "link"] + [{"type": "code"}])
    if kind == "html_inline":
        return _text(node.content, marks)
    if kind in _MARKS:
        nested = [*marks, {"type": _MARKS[kind]}]
        return [child for sub in node.children for child in _inline(sub, nested)]
    if kind == "link":
        href = str(node.attrs.get("href", ""))
        nested = [*marks, {"type": "link", "attrs": {"href": href}}] if href else marks
        return [child for sub in node.children for child in _inline(sub, nested)]
    if kind == "image":
        src = str(node.attrs.get("src", ""))
        label = "".join(child.content for child in node.children) or src
        return _text(label, [*marks, {"type": "link", "attrs": {"href": src}}] if src else marks)
    return [child for sub in node.children for child in _inline(sub, marks)]


def _inline_content(node: SyntaxTreeNode) -> list[Node]:
    return [child for sub in node.children for child in _inline(sub, [])]


def _paragraph(content: list[Node]) -> Node:
    return {"type": "paragraph", "content": content}


def _cell(cell: SyntaxTreeNode) -> Node:
    kind = "tableHeader" if cell.type == "th" else "tableCell"
    inline = [child for sub in cell.children for child in _inline_content(sub)] if cell.children else []
    return {"type": kind, "attrs": {}, "content": [_paragraph(inline)]}


def _table(node: SyntaxTreeNode) -> Node:
    rows = [row for section in node.children for row in section.children]
    return {
        "type": "table",
        "attrs": {"isNumberColumnEnabled": False, "layout": "default"},
        "content": [{"type": "tableRow", "content": [_cell(cell) for cell in row.children]} for row in rows],
    }


def _list_item(node: SyntaxTreeNode) -> Node:
    blocks = [block for child in node.children for block in _block(child)]
    # A list item must start with a paragraph (or a nested list); an empty item gets an empty paragraph.
    if not blocks or blocks[0]["type"] not in ("paragraph", "bulletList", "orderedList", "codeBlock"):
        blocks.insert(0, _paragraph([]))
    allowed = ("paragraph", "bulletList", "orderedList", "codeBlock")
    return {"type": "listItem", "content": [b if b["type"] in allowed else _paragraph(_flatten(b)) for b in blocks]}


def _flatten(block: Node) -> list[Node]:
    """The text nodes of any block, for places where ADF allows only a paragraph."""
    if block.get("type") == "text":
        return [block]
    if block.get("type") == "hardBreak":
        return [block]
    found: list[Node] = []
    for child in block.get("content", []):
        found.extend(_flatten(child))
    return found


def _block(node: SyntaxTreeNode) -> list[Node]:
    kind = node.type
    if kind == "paragraph":
        return [_paragraph(_inline_content(node.children[0]) if node.children else [])]
    if kind == "heading":
        level = int(node.tag[1]) if node.tag[1:].isdigit() else 1
        content = _inline_content(node.children[0]) if node.children else []
        return [{"type": "heading", "attrs": {"level": level}, "content": content}]
    if kind in ("fence", "code_block"):
        code = node.content.rstrip("\n")
        block: Node = {"type": "codeBlock", "content": _text(code, [])}
        language = (node.info or "").strip().split(" ")[0] if kind == "fence" else ""
        if language:
            block["attrs"] = {"language": language}
        return [block]
    if kind == "bullet_list":
        return [{"type": "bulletList", "content": [_list_item(item) for item in node.children]}]
    if kind == "ordered_list":
        start = int(node.attrs.get("start", 1) or 1)
        ordered: Node = {"type": "orderedList", "content": [_list_item(item) for item in node.children]}
        if start != 1:
            ordered["attrs"] = {"order": max(start, 0)}
        return [ordered]
    if kind == "blockquote":
        inner = [block for child in node.children for block in _block(child)]
        allowed = ("paragraph", "bulletList", "orderedList", "codeBlock")
        return [
            {
                "type": "blockquote",
                "content": [b if b["type"] in allowed else _paragraph(_flatten(b)) for b in inner] or [_paragraph([])],
            }
        ]
    if kind == "hr":
        return [{"type": "rule"}]
    if kind == "table":
        return [_table(node)]
    if kind == "html_block":
        return [_paragraph(_text(node.content.strip(), []))]
    return [block for child in node.children for block in _block(child)]


def markdown_to_adf(markdown: str) -> Node:
    """The ADF document (``{"version": 1, "type": "doc", ...}``) for ``markdown``."""
    tree = SyntaxTreeNode(_PARSER.parse(markdown))
    content = [block for child in tree.children for block in _block(child)]
    return {"version": 1, "type": "doc", "content": content}
