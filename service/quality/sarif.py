"""SARIF 2.1.0 output, for GitHub code scanning and other SARIF viewers.

One run per analyser, each listing the rules it reported; results carry our fingerprint under
``partialFingerprints`` so viewers can track a finding across commits the way we do. Spec:
https://docs.oasis-open.org/sarif/sarif/v2.1.0/sarif-v2.1.0.html
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from service import __version__
from service.domain.findings import Finding, Severity
from service.quality.runner import CheckReport

SARIF_SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
FINGERPRINT_KEY = "ticketsmith/v1"
TOOL_URIS = {
    "ruff": "https://docs.astral.sh/ruff/",
    "bandit": "https://bandit.readthedocs.io/",
    "lizard": "https://github.com/terryyin/lizard",
    "detect-secrets": "https://github.com/Yelp/detect-secrets",
}
LEVELS = {
    Severity.CRITICAL: "error",
    Severity.HIGH: "error",
    Severity.MEDIUM: "warning",
    Severity.LOW: "note",
    Severity.INFO: "note",
}


def _location(finding: Finding) -> list[dict[str, Any]]:
    if not finding.path:
        return []  # about the repository as a whole: SARIF results may have no location
    physical: dict[str, Any] = {"artifactLocation": {"uri": finding.path, "uriBaseId": "%SRCROOT%"}}
    if finding.start_line > 0:
        region: dict[str, Any] = {"startLine": finding.start_line, "endLine": max(finding.end_line, finding.start_line)}
        if finding.snippet:
            region["snippet"] = {"text": finding.snippet}
        physical["region"] = region
    location: dict[str, Any] = {"physicalLocation": physical}
    if finding.symbol:
        location["logicalLocations"] = [{"fullyQualifiedName": finding.symbol}]
    return [location]


def _run(tool: str, findings: list[Finding], report: CheckReport) -> dict[str, Any]:
    rule_ids = sorted({f.rule_id for f in findings})
    index = {rule: i for i, rule in enumerate(rule_ids)}
    first = {f.rule_id: f for f in reversed(findings)}
    rules = []
    for rule in rule_ids:
        entry: dict[str, Any] = {"id": rule, "shortDescription": {"text": first[rule].message[:200]}}
        if first[rule].help_url:
            entry["helpUri"] = first[rule].help_url
        rules.append(entry)
    driver: dict[str, Any] = {"name": tool, "rules": rules}
    if tool in TOOL_URIS:
        driver["informationUri"] = TOOL_URIS[tool]
    else:
        driver["version"] = __version__
    results = [
        {
            "ruleId": f.rule_id,
            "ruleIndex": index[f.rule_id],
            "level": LEVELS[f.severity],
            "message": {"text": f.message},
            "locations": _location(f),
            "partialFingerprints": {FINGERPRINT_KEY: f.fingerprint},
            "properties": {"category": f.category.value, "severity": f.severity.value},
        }
        for f in findings
    ]
    run: dict[str, Any] = {
        "tool": {"driver": driver},
        "originalUriBaseIds": {"%SRCROOT%": {"uri": report.root.as_uri() + "/"}},
        "results": results,
        "columnKind": "unicodeCodePoints",
    }
    if report.commit:
        run["properties"] = {"commit": report.commit}
    return run


def to_sarif(report: CheckReport) -> dict[str, Any]:
    """The report as a SARIF 2.1.0 log.

    Our own run (markers, hygiene) is always there and carries the invocation, with a warning notification
    for each checker that was skipped.
    """
    by_tool: defaultdict[str, list[Finding]] = defaultdict(list)
    for finding in report.findings:
        by_tool[finding.tool].append(finding)
    by_tool.setdefault("ticketsmith", [])
    runs = {tool: _run(tool, findings, report) for tool, findings in sorted(by_tool.items())}
    runs["ticketsmith"]["invocations"] = [
        {
            "executionSuccessful": True,
            "toolExecutionNotifications": [
                {"level": "warning", "message": {"text": f"checker {s.name} skipped: {s.reason}"}}
                for s in report.skipped
            ],
        }
    ]
    return {"$schema": SARIF_SCHEMA, "version": "2.1.0", "runs": list(runs.values())}
