"""Step ``check``: the quality checks on the repository's work tree (all of it, or files changed ``since``).

The findings are kept in the checkpoint with their snippets and messages already through the redaction gate,
so nothing downstream (tickets, spans, the stored checkpoint) can carry a secret a checker quoted.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from service.domain.findings import Category, Finding, Severity
from service.orchestrator.workflow import Checkpoint, StepContext, require


def finding_data(finding: Finding) -> dict[str, Any]:
    """The JSON form of a finding (as kept in checkpoints): :meth:`Finding.as_dict`."""
    return finding.as_dict()


def finding_of(data: Mapping[str, Any]) -> Finding:
    """A finding from :func:`finding_data`'s form."""
    return Finding(
        rule_id=str(data["rule_id"]),
        tool=str(data["tool"]),
        category=Category(data["category"]),
        severity=Severity(data["severity"]),
        path=str(data["path"]),
        start_line=int(data["start_line"]),
        end_line=int(data["end_line"]),
        symbol=str(data["symbol"]),
        message=str(data["message"]),
        snippet=str(data["snippet"]),
        fingerprint=str(data["fingerprint"]),
        help_url=data.get("help_url"),
    )


def redacted(finding: Finding, gate: Callable[[str], str]) -> Finding:
    """``finding`` with its message and snippet through the redaction gate."""
    message, snippet = gate(finding.message), gate(finding.snippet)
    if message == finding.message and snippet == finding.snippet:
        return finding
    return replace(finding, message=message, snippet=snippet)


@dataclass(frozen=True)
class CheckStep:
    name: str = "check"

    def run(self, ctx: StepContext) -> Checkpoint:
        root = Path(str(ctx.checkpoint["sync"]["root"]))
        since = ctx.parameters.get("since")
        require(ctx, "quality.check")
        ctx.services.echo(f"checking {'files changed since ' + since if since else 'the whole repository'}")
        with ctx.recorder.tool("quality.check", {"root": str(root), "since": since}) as call:
            report = ctx.services.checks(root, since)
            call.observation = {
                "commit": report.commit,
                "files_checked": report.files_checked,
                "findings": len(report.findings),
                "suppressed": report.suppressed,
                "checkers_run": report.checkers_run,
                "skipped": [{"checker": s.name, "reason": s.reason} for s in report.skipped],
            }
        findings = report.findings
        if since:
            # Findings about the repository as a whole (no LICENSE, no README) are judged on the file list, and
            # a --since run only lists the changed files: they would be false alarms here.
            findings = [f for f in findings if f.path]
        return {
            "check": {
                "commit": report.commit,
                "since": since,
                "files_checked": report.files_checked,
                "suppressed": report.suppressed,
                "checkers_run": list(report.checkers_run),
                "skipped": [{"checker": s.name, "reason": s.reason} for s in report.skipped],
                "findings": [finding_data(redacted(f, ctx.services.redact)) for f in findings],
            }
        }
