"""Markdown → ADF: the shapes Jira Cloud expects, and every produced document valid against Atlassian's schema."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from jsonschema import Draft4Validator

from service.tickets.adf import markdown_to_adf

SCHEMA = Path(__file__).resolve().parents[2] / ".schemas" / "adf-full.json"

TICKET = """# Unused import in app/models.py

**Why it matters:** dead imports slow start-up and *hide* real dependencies.

Where: `app/models.py` line 1, see [the rule](https://docs.astral.sh/ruff/rules/unused-import/).

1. Remove the import
2. Run the tests
   - unit
   - integration

```python
import os  # remove
```

| rule | severity |
|------|----------|
| F401 | medium   |

> Found by ticketsmith, ~~not~~ fingerprint `ts-fp-abc`.

---
Line one
Line two\\
Hard break above.
"""


@pytest.fixture(scope="module")
def validator() -> Draft4Validator:
    if not SCHEMA.exists():
        reason = f"{SCHEMA} is missing: run `make test-schemas`"
        if os.environ.get("CI") == "true":
            pytest.fail(reason)
        pytest.skip(reason)
    return Draft4Validator(json.loads(SCHEMA.read_text()))


def _errors(validator: Draft4Validator, document: dict[str, Any]) -> list[str]:
    return [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(document)]


def _types(node: Any) -> list[str]:
    if isinstance(node, dict):
        return [node.get("type", ""), *[t for value in node.values() for t in _types(value)]]
    if isinstance(node, list):
        return [t for item in node for t in _types(item)]
    return []


def test_a_ticket_body_renders_every_construct_and_validates(validator: Draft4Validator) -> None:
    document = markdown_to_adf(TICKET)
    assert _errors(validator, document) == []
    types = set(_types(document))
    for expected in ("heading", "paragraph", "orderedList", "bulletList", "listItem", "codeBlock", "table"):
        assert expected in types
    assert {"tableHeader", "tableCell", "blockquote", "rule", "hardBreak"} <= types
    code = next(b for b in document["content"] if b["type"] == "codeBlock")
    assert code == {
        "type": "codeBlock",
        "attrs": {"language": "python"},
        "content": [{"type": "text", "text": "import os  # remove"}],
    }
    marks = {m["type"] for node in json.loads(json.dumps(document))["content"] for m in _marks(node)}
    assert {"strong", "em", "code", "link", "strike"} <= marks


def _marks(node: Any) -> list[dict[str, Any]]:
    found = list(node.get("marks", [])) if isinstance(node, dict) else []
    children = node.get("content", []) if isinstance(node, dict) else []
    return found + [m for child in children for m in _marks(child)]


def test_heading_levels_and_links() -> None:
    document = markdown_to_adf("### Three\n\n[docs](https://example.com/x?a=1)")
    assert document["content"][0] == {
        "type": "heading",
        "attrs": {"level": 3},
        "content": [{"type": "text", "text": "Three"}],
    }
    link = document["content"][1]["content"][0]
    assert link["marks"] == [{"type": "link", "attrs": {"href": "https://example.com/x?a=1"}}]


def test_code_mark_is_never_combined_with_emphasis(validator: Draft4Validator) -> None:
    document = markdown_to_adf("**bold `code` bold**")
    code = next(n for n in document["content"][0]["content"] if n["text"] == "code")
    assert code["marks"] == [{"type": "code"}]
    assert _errors(validator, document) == []


@pytest.mark.parametrize(
    "markdown", ["", "   \n\n", "<div>raw html</div>", "![alt](https://x/y.png)", "-\n-", "1.\n", "> \n"]
)
def test_edge_cases_still_validate(validator: Draft4Validator, markdown: str) -> None:
    assert _errors(validator, markdown_to_adf(markdown)) == []


MARKDOWN_PIECES = st.sampled_from(
    [
        "# ",
        "## ",
        "- ",
        "1. ",
        "> ",
        "**",
        "*",
        "`",
        "~~",
        "```",
        "```py\n",
        "\n",
        "\n\n",
        "| a | b |\n|---|---|\n| ",
        "[l](https://x.y)",
        "![i](https://x/i.png)",
        "<b>",
        "\\",
        "  \n",
        "---",
        "text",
        " ",
        "    code",
        "\t",
    ]
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow], derandomize=True)
@given(st.lists(st.one_of(MARKDOWN_PIECES, st.text(max_size=8)), max_size=30).map("".join))
def test_any_markdown_gives_a_valid_document(validator: Draft4Validator, markdown: str) -> None:
    assert _errors(validator, markdown_to_adf(markdown)) == []
