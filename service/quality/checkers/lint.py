"""Lint for Python with ruff (JSON output), run read-only: no fixes, no cache in the repository."""

from __future__ import annotations

from typing import Any

from service.domain.findings import Category, Finding, Severity
from service.quality.checker import CheckTarget
from service.quality.checkers.tools import batches, find_tool, relative, run_json


def _severity(code: str) -> Severity:
    if code.startswith("E9") or code == "F821" or code.startswith("PLE"):
        return Severity.HIGH  # syntax errors and undefined names break at run time
    if code.startswith(("F", "B")):
        return Severity.MEDIUM  # likely bugs
    return Severity.LOW


class RuffChecker:
    """Runs ``ruff check`` with the repository's own ruff configuration, never fixing and never caching."""

    name = "lint"
    tool = "ruff"

    def run(self, target: CheckTarget) -> list[Finding]:
        files = [f for f in target.files if f.endswith((".py", ".pyi"))]
        if not files:
            return []
        ruff = find_tool("ruff")
        findings: list[Finding] = []
        for batch in batches(files):
            command = [ruff, "check", "--output-format=json", "--no-fix", "--no-cache", "--exit-zero", "--", *batch]
            results: list[dict[str, Any]] = run_json(command, cwd=target.root, ok_codes=(0,))
            for item in results or []:
                code = item.get("code") or "syntax-error"
                location, end = item.get("location") or {}, item.get("end_location") or {}
                findings.append(
                    Finding(
                        rule_id=f"ruff.{code}",
                        tool="ruff",
                        category=Category.LINT,
                        severity=_severity(code),
                        path=relative(target.root, item["filename"]),
                        start_line=int(location.get("row") or 1),
                        end_line=int(end.get("row") or location.get("row") or 1),
                        symbol="",
                        message=str(item.get("message", "")),
                        snippet="",
                        fingerprint="",
                        help_url=item.get("url"),
                    )
                )
        return findings
