"""Markdown to Jira wiki markup, the body format of Jira Server/Data Center's REST API v2.

Same parser as :mod:`service.tickets.adf`; the syntax tree is written out with the notation of
https://jira.atlassian.com/secure/WikiRendererHelpAction.jspa (``h1.``, ``*bold*``, ``{{code}}``, ``{code:lang}``,
``||header||``, ``[text|url]``). Text that would read as markup is escaped with a backslash.
"""

from __future__ import annotations

import re

from markdown_it import MarkdownIt
from markdown_it.tree import SyntaxTreeNode

_PARSER = MarkdownIt("commonmark").enable(["table", "strikethrough"])
_SPECIAL = re.compile(r"([\\{}\[\]|*_!^~#])")
_WRAP = {"strong": "*", "em": "_", "s": "-"}


def _escape(text: str) -> str:
    return _SPECIAL.sub(r"\\\1", text)


def _inline(node: SyntaxTreeNode) -> str:
    kind = node.type
    if kind == "text":
        return _escape(node.content)
    if kind == "softbreak":
        return " "
    if kind == "hardbreak":
        return "\\\\\n"
    if kind == "code_inline":
        return "{{" + node.content.replace("}}", "} }") + "}}"
    if kind == "html_inline":
        return _escape(node.content)
    if kind in _WRAP:
        inner = "".join(_inline(child) for child in node.children)
        return f"{_WRAP[kind]}{inner}{_WRAP[kind]}" if inner.strip() else inner
    if kind == "link":
        inner = "".join(_inline(child) for child in node.children)
        href = str(node.attrs.get("href", "")).replace("|", "%7C").replace("]", "%5D")
        return f"[{inner}|{href}]" if inner else f"[{href}]"
    if kind == "image":
        src = str(node.attrs.get("src", "")).replace("|", "%7C").replace("]", "%5D")
        label = _escape("".join(child.content for child in node.children)) or src
        return f"[{label}|{src}]"
    return "".join(_inline(child) for child in node.children)


def _inline_of(node: SyntaxTreeNode) -> str:
    return "".join(_inline(child) for child in node.children[0].children) if node.children else ""


def _list(node: SyntaxTreeNode, prefix: str) -> list[str]:
    marker = "*" if node.type == "bullet_list" else "#"
    lines: list[str] = []
    for item in node.children:
        first = True
        for child in item.children:
            if child.type in ("bullet_list", "ordered_list"):
                lines.extend(_list(child, prefix + marker))
            elif first:
                lines.append(f"{prefix}{marker} {' '.join(_block(child)).strip()}")
                first = False
            else:
                lines.append(" ".join(_block(child)))
        if first:
            lines.append(f"{prefix}{marker} ")
    return lines


def _block(node: SyntaxTreeNode) -> list[str]:
    kind = node.type
    if kind == "paragraph":
        return [_inline_of(node)]
    if kind == "heading":
        return [f"{node.tag}. {_inline_of(node)}"]
    if kind in ("fence", "code_block"):
        language = (node.info or "").strip().split(" ")[0] if kind == "fence" else ""
        opener = f"{{code:{language}}}" if re.fullmatch(r"[\w+#-]+", language) else "{code}"
        body = node.content.rstrip("\n").replace("{code}", "{ code}")
        return [f"{opener}\n{body}\n{{code}}"]
    if kind in ("bullet_list", "ordered_list"):
        return ["\n".join(_list(node, ""))]
    if kind == "blockquote":
        inner = "\n\n".join(line for child in node.children for line in _block(child))
        return [f"{{quote}}\n{inner}\n{{quote}}"]
    if kind == "hr":
        return ["----"]
    if kind == "table":
        rows = []
        for section in node.children:
            for row in section.children:
                cells = ["".join(_inline(c) for sub in cell.children for c in sub.children) for cell in row.children]
                separator = "||" if section.type == "thead" else "|"
                rows.append(separator + separator.join(cell or " " for cell in cells) + separator)
        return ["\n".join(rows)]
    if kind == "html_block":
        return [_escape(node.content.strip())]
    return [line for child in node.children for line in _block(child)]


def markdown_to_wiki(markdown: str) -> str:
    """Jira wiki markup for ``markdown``: blocks separated by blank lines."""
    tree = SyntaxTreeNode(_PARSER.parse(markdown))
    return "\n\n".join(block for child in tree.children for block in _block(child) if block.strip())
