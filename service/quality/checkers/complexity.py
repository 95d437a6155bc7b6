"""Cyclomatic complexity and function length for every language lizard parses, with configurable limits."""

from __future__ import annotations

import logging

import lizard

from service.domain.findings import Category, Finding, Severity
from service.quality.checker import CheckTarget

HELP_URL = "https://github.com/terryyin/lizard"
logger = logging.getLogger(__name__)


def _supported(path: str) -> bool:
    return lizard.get_reader_for(path) is not None


class ComplexityChecker:
    """Flags functions over ``max_complexity`` (cyclomatic) or ``max_function_lines`` (lines of code)."""

    name = "complexity"
    tool = "lizard"

    def run(self, target: CheckTarget) -> list[Finding]:
        config = target.config
        findings: list[Finding] = []
        for path in target.files:
            if not _supported(path):
                continue
            source = target.source(path)
            if source is None:
                continue
            try:
                info = lizard.analyze_file.analyze_source_code(path, source)
            except Exception as exc:  # lizard has no error type of its own
                logger.info("lizard could not parse path=%s error=%s", path, type(exc).__name__)
                continue
            for function in info.function_list:
                where = {"path": path, "start_line": function.start_line, "end_line": function.end_line}
                if function.cyclomatic_complexity > config.max_complexity:
                    ccn = function.cyclomatic_complexity
                    findings.append(
                        Finding(
                            rule_id="complexity.cyclomatic",
                            tool="lizard",
                            category=Category.COMPLEXITY,
                            severity=Severity.HIGH if ccn > 2 * config.max_complexity else Severity.MEDIUM,
                            symbol=function.name,
                            message=(
                                f"{function.name} has cyclomatic complexity {ccn} (limit {config.max_complexity}); "
                                "split it into smaller functions"
                            ),
                            snippet=function.long_name,
                            fingerprint="",
                            help_url=HELP_URL,
                            **where,
                        )
                    )
                if function.nloc > config.max_function_lines:
                    findings.append(
                        Finding(
                            rule_id="complexity.function-length",
                            tool="lizard",
                            category=Category.COMPLEXITY,
                            severity=Severity.LOW,
                            symbol=function.name,
                            message=(
                                f"{function.name} has {function.nloc} lines of code (limit {config.max_function_lines})"
                            ),
                            snippet=function.long_name,
                            fingerprint="",
                            help_url=HELP_URL,
                            **where,
                        )
                    )
        return findings
