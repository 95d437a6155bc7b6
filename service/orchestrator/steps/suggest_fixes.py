"""The mechanical fixes the analysers offer, as a diff: ruff's safe fixes for the findings in some files.

Ruff runs in a scratch checkout of the indexed commit with the repository's own configuration, caches off, and
``--diff``: it prints what it would change and writes nothing. Its bare ``---``/``+++`` paths get the ``a/`` and
``b/`` prefixes ``git apply`` expects. Only fixes ruff deems safe are offered (no ``--unsafe-fixes``).
"""

from __future__ import annotations

import subprocess
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from service.orchestrator.steps.suggest_git import with_prefixes
from service.quality.checker import CheckerUnavailable
from service.quality.checkers.tools import find_tool, relative, run_json

RUFF_TIMEOUT = 300
PYTHON_SUFFIXES = (".py", ".pyi")
DIFF_LINE_STARTS = frozenset(" +-@\\")


@dataclass(frozen=True)
class MechanicalFixes:
    """ruff's diff for ``files`` (empty when it has none), the findings there, and why ruff did not run."""

    tool: str
    files: tuple[str, ...]
    diff: str
    findings: list[dict[str, Any]] = field(default_factory=list)
    unavailable: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "tool": self.tool,
            "files": list(self.files),
            "diff": self.diff,
            "findings": self.findings,
            "unavailable": self.unavailable,
        }


def _finding(root: Path, item: dict[str, Any]) -> dict[str, Any]:
    fix = item.get("fix") or {}
    location = item.get("location") or {}
    return {
        "rule_id": f"ruff.{item.get('code') or 'syntax-error'}",
        "path": relative(root, str(item.get("filename", ""))),
        "line": int(location.get("row") or 1),
        "message": str(item.get("message", "")),
        "fix": fix.get("message") if fix else None,
        "applicability": fix.get("applicability") if fix else None,
        "help_url": item.get("url"),
    }


def diff_lines(output: str) -> str:
    """Only the diff of ruff's ``--diff`` output: its summary (``Would fix 1 error.``, hints about unsafe
    fixes) and the blank lines between files dropped. Every line of a unified diff starts with a space, ``+``,
    ``-``, ``@`` or a backslash."""
    return "".join(line for line in output.splitlines(keepends=True) if line[:1] in DIFF_LINE_STARTS)


def ruff_fixes(root: Path, files: Sequence[str]) -> MechanicalFixes:
    """ruff's findings and safe-fix diff for the Python files among ``files`` in the work tree ``root``."""
    wanted = tuple(f for f in dict.fromkeys(files) if f.endswith(PYTHON_SUFFIXES) and (root / f).is_file())
    if not wanted:
        return MechanicalFixes(tool="ruff", files=(), diff="")
    try:
        ruff = find_tool("ruff")
        listed: list[dict[str, Any]] = (
            run_json(
                [ruff, "check", "--output-format=json", "--no-fix", "--no-cache", "--exit-zero", "--", *wanted],
                cwd=root,
                ok_codes=(0,),
            )
            or []
        )
        completed = subprocess.run(  # noqa: S603 - a fixed tool with file arguments, no shell
            [ruff, "check", "--fix", "--diff", "--no-unsafe-fixes", "--no-cache", "--", *wanted],
            cwd=root,
            capture_output=True,
            text=True,
            timeout=RUFF_TIMEOUT,
            check=False,
        )
    except CheckerUnavailable as exc:
        return MechanicalFixes(tool="ruff", files=wanted, diff="", unavailable=str(exc))
    except (OSError, subprocess.TimeoutExpired) as exc:
        return MechanicalFixes(tool="ruff", files=wanted, diff="", unavailable=f"ruff could not run: {exc}")
    # --diff exits 1 when it has fixes to show, 0 when none; anything else is ruff failing.
    if completed.returncode not in (0, 1):
        tail = " | ".join((completed.stderr or completed.stdout).strip().splitlines()[-3:])
        return MechanicalFixes(
            tool="ruff", files=wanted, diff="", unavailable=f"ruff exited {completed.returncode}: {tail}"
        )
    diff = with_prefixes(diff_lines(completed.stdout)).strip("\n")
    return MechanicalFixes(
        tool="ruff",
        files=wanted,
        diff=f"{diff}\n" if diff else "",
        findings=[_finding(root, item) for item in listed],
    )
