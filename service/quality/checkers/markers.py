"""TODO, FIXME, HACK and XXX markers, with their text and age from ``git blame``."""

from __future__ import annotations

import re
import subprocess
from datetime import UTC, datetime

from service.domain.findings import Category, Finding, Severity
from service.quality.checker import CheckTarget

# A marker is a word of its own followed by ':' or a space, inside what looks like a comment.
MARKER = re.compile(r"(?:#|//|/\*|\*|--|<!--|;)\s*(?P<tag>TODO|FIXME|HACK|XXX)\b[:(\s]*(?P<text>.*)")
SEVERITY = {"TODO": Severity.INFO, "XXX": Severity.LOW, "HACK": Severity.LOW, "FIXME": Severity.LOW}


def _blame_times(target: CheckTarget, path: str) -> dict[int, datetime]:
    """Line number → when that line was last changed; empty outside git or for untracked files."""
    try:
        completed = subprocess.run(  # noqa: S603 - fixed command, path from the repository's own file list
            ["git", "blame", "--line-porcelain", "--", path],  # noqa: S607 - git from PATH by design
            cwd=target.root,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return {}
    if completed.returncode != 0:
        return {}
    times: dict[int, datetime] = {}
    line = 0
    for row in completed.stdout.splitlines():
        header = row.split(" ")
        if len(header) >= 3 and len(header[0]) == 40 and header[1].isdigit() and header[2].isdigit():
            line = int(header[2])
        elif row.startswith("author-time "):
            times[line] = datetime.fromtimestamp(int(row.split(" ", 1)[1]), tz=UTC)
    return times


class MarkersChecker:
    """Lists work markers left in comments; the message says how long each has been there."""

    name = "markers"
    tool = "git blame"

    def run(self, target: CheckTarget) -> list[Finding]:
        findings: list[Finding] = []
        now = datetime.now(UTC)
        for path in target.files:
            source = target.source(path)
            if source is None or not any(tag in source for tag in SEVERITY):
                continue
            hits = [(n, m) for n, text in enumerate(source.splitlines(), 1) if (m := MARKER.search(text))]
            if not hits:
                continue
            times = _blame_times(target, path)
            for number, match in hits:
                tag, text = match.group("tag"), match.group("text").strip().rstrip("*/ ->").strip()
                age = f", {(now - times[number]).days} days old" if number in times else ""
                findings.append(
                    Finding(
                        rule_id=f"markers.{tag.lower()}",
                        tool="ticketsmith",
                        category=Category.MARKERS,
                        severity=SEVERITY[tag],
                        path=path,
                        start_line=number,
                        end_line=number,
                        symbol="",
                        message=f"{tag}: {text or '(no text)'}{age}",
                        snippet=match.group(0).strip(),
                        fingerprint="",
                    )
                )
        return findings
