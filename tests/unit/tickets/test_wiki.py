"""Markdown → Jira wiki markup (Server/Data Center, REST v2)."""

from __future__ import annotations

import pytest

from service.tickets.wiki import markdown_to_wiki


@pytest.mark.parametrize(
    ("markdown", "wiki"),
    [
        ("# Title", "h1. Title"),
        ("### Three", "h3. Three"),
        ("**bold** *em* ~~gone~~ `x = {1}`", "*bold* _em_ -gone- {{x = {1}}}"),
        (
            "[the rule](https://docs.astral.sh/ruff/rules/unused-import/)",
            "[the rule|https://docs.astral.sh/ruff/rules/unused-import/]",
        ),
        ("- a\n- b\n  - c\n1. one\n2. two", "* a\n* b\n** c\n\n# one\n# two"),
        ("```python\nprint({1})\n```", "{code:python}\nprint({1})\n{code}"),
        ("```\nplain\n```", "{code}\nplain\n{code}"),
        ("> quoted", "{quote}\nquoted\n{quote}"),
        ("---", "----"),
        ("| rule | sev |\n|---|---|\n| F401 | low |", "||rule||sev||\n|F401|low|"),
        ("a\\\nb", "a\\\\\nb"),
        ("not *markup*: a|b [x] {y} ~z^ #1 _u_", "not _markup_: a\\|b \\[x\\] \\{y\\} \\~z\\^ \\#1 _u_"),
    ],
)
def test_markdown_becomes_wiki_markup(markdown: str, wiki: str) -> None:
    assert markdown_to_wiki(markdown) == wiki


def test_code_block_cannot_be_closed_early() -> None:
    assert markdown_to_wiki("```\n{code}\nrm -rf /\n```") == "{code}\n{ code}\nrm -rf /\n{code}"


@pytest.mark.parametrize("markdown", ["", "   ", "-\n-", "<div>x</div>", "![i](https://x/y.png)"])
def test_edge_cases_do_not_fail(markdown: str) -> None:
    assert isinstance(markdown_to_wiki(markdown), str)
