"""Security patterns for JavaScript/TypeScript, Java and Go, as tree-sitter queries kept in ``queries/security``.

Bandit covers Python; for the other languages each ``.scm`` file holds patterns that capture ``@finding``, each
preceded by a ``; rule: <id> | <severity> | <message>`` comment. Rules are data: adding one needs no code.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path, PurePosixPath
from typing import Any

from service.domain.findings import Category, Finding, Severity
from service.quality.checker import CheckerUnavailable, CheckTarget

QUERIES = Path(__file__).resolve().parent.parent / "queries" / "security"
RULE_COMMENT = re.compile(r"^; rule: (?P<id>[\w.-]+) \| (?P<severity>\w+) \| (?P<message>.+)$", re.MULTILINE)
# file suffix → (query file, grammar)
LANGUAGES = {
    ".js": ("javascript", "javascript"),
    ".jsx": ("javascript", "javascript"),
    ".mjs": ("javascript", "javascript"),
    ".cjs": ("javascript", "javascript"),
    ".ts": ("javascript", "typescript"),
    ".tsx": ("javascript", "tsx"),
    ".java": ("java", "java"),
    ".go": ("go", "go"),
}


@dataclass(frozen=True, slots=True)
class Rule:
    id: str
    severity: Severity
    message: str


def _grammar(name: str) -> Any:
    try:
        if name in ("typescript", "tsx"):
            import tree_sitter_typescript

            return (
                tree_sitter_typescript.language_tsx() if name == "tsx" else tree_sitter_typescript.language_typescript()
            )
        module = __import__(f"tree_sitter_{name}")
        return module.language()
    except ImportError as exc:
        raise CheckerUnavailable(f"the tree-sitter grammar for {name} is not installed ({exc.name})") from None


@cache
def catalogue() -> dict[str, Rule]:
    """Every pattern rule, by id (without the ``patterns.`` prefix), read from the query files' comments."""
    rules: dict[str, Rule] = {}
    for path in sorted(QUERIES.glob("*.scm")):
        for match in RULE_COMMENT.finditer(path.read_text(encoding="utf-8")):
            rules[match["id"]] = Rule(match["id"], Severity(match["severity"]), match["message"])
    return rules


@cache
def _compiled(query_file: str, grammar: str) -> tuple[Any, Any, tuple[Rule, ...]]:
    """(language, query, rule of each pattern) for one query file compiled against one grammar."""
    from tree_sitter import Language, Query

    text = (QUERIES / f"{query_file}.scm").read_text(encoding="utf-8")
    language = Language(_grammar(grammar))
    query = Query(language, text)
    comments = list(RULE_COMMENT.finditer(text))
    rules = []
    for index in range(query.pattern_count):
        start = query.start_byte_for_pattern(index)
        above = [c for c in comments if c.start() < start]
        if not above:
            raise CheckerUnavailable(f"pattern {index} of {query_file}.scm has no '; rule:' comment")
        match = above[-1]
        rules.append(Rule(match["id"], Severity(match["severity"]), match["message"]))
    return language, query, tuple(rules)


class PatternSecurityChecker:
    """Runs the security queries over the JavaScript/TypeScript, Java and Go files."""

    name = "security"
    tool = "tree-sitter"

    def run(self, target: CheckTarget) -> list[Finding]:
        try:
            from tree_sitter import Parser, QueryCursor
        except ImportError:
            raise CheckerUnavailable("tree-sitter is not installed (pip install tree-sitter)") from None
        findings: list[Finding] = []
        for path in target.files:
            spec = LANGUAGES.get(PurePosixPath(path).suffix.lower())
            if spec is None:
                continue
            source = target.source(path)
            if source is None:
                continue
            language, query, rules = _compiled(*spec)
            tree = Parser(language).parse(source.encode("utf-8"))
            for pattern, captures in QueryCursor(query).matches(tree.root_node):
                rule = rules[pattern]
                for node in captures.get("finding", []):
                    findings.append(
                        Finding(
                            rule_id=f"patterns.{rule.id}",
                            tool="ticketsmith",
                            category=Category.SECURITY,
                            severity=rule.severity,
                            path=path,
                            start_line=node.start_point[0] + 1,
                            end_line=node.end_point[0] + 1,
                            symbol="",
                            message=rule.message,
                            snippet="",
                            fingerprint="",
                        )
                    )
        return findings
