"""Security issues in Python with bandit (JSON output)."""

from __future__ import annotations

import re
from typing import Any

from service.domain.findings import Category, Finding, Severity
from service.quality.checker import CheckTarget
from service.quality.checkers.tools import batches, find_tool, relative, run_json

_SEVERITY = {"HIGH": Severity.HIGH, "MEDIUM": Severity.MEDIUM, "LOW": Severity.LOW}
# `assert` is how pytest tests are written; bandit's B101 is about production code run with -O.
TEST_FILE = re.compile(r"(^|/)(tests?/|test_[^/]*\.py$|[^/]*_test\.py$|conftest\.py$)")


def _is_test_assert(rule: str, path: str) -> bool:
    return rule == "B101" and TEST_FILE.search(path) is not None


class BanditChecker:
    """Runs bandit on the Python files; bandit only reads them."""

    name = "security"
    tool = "bandit"

    def run(self, target: CheckTarget) -> list[Finding]:
        files = [f for f in target.files if f.endswith(".py")]
        if not files:
            return []
        bandit = find_tool("bandit")
        findings: list[Finding] = []
        for batch in batches(files):
            # Exit code 1 means "issues found"; anything else is a failure of bandit itself.
            report: dict[str, Any] = run_json(
                [bandit, "-f", "json", "-q", "--", *batch], cwd=target.root, ok_codes=(0, 1)
            )
            for item in report.get("results", []):
                path = relative(target.root, item["filename"])
                if _is_test_assert(str(item.get("test_id")), path):
                    continue
                lines = item.get("line_range") or [item["line_number"]]
                findings.append(
                    Finding(
                        rule_id=f"bandit.{item['test_id']}",
                        tool="bandit",
                        category=Category.SECURITY,
                        severity=_SEVERITY.get(str(item.get("issue_severity")).upper(), Severity.LOW),
                        path=path,
                        start_line=int(min(lines)),
                        end_line=int(max(lines)),
                        symbol="",
                        message=f"{item.get('test_name')}: {item.get('issue_text')}",
                        snippet="",
                        fingerprint="",
                        help_url=item.get("more_info"),
                    )
                )
        return findings
