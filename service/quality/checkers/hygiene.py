"""Cheap repository checks: very large files, committed binaries, missing licence or readme."""

from __future__ import annotations

from pathlib import PurePosixPath

from service.domain.findings import Category, Finding, Severity
from service.quality.checker import CheckTarget

# Build outputs and archives that belong in a package registry or release, not in git.
ARTIFACT_SUFFIXES = frozenset(
    {
        ".exe",
        ".dll",
        ".so",
        ".dylib",
        ".o",
        ".a",
        ".class",
        ".jar",
        ".war",
        ".pyc",
        ".whl",
        ".egg",
        ".zip",
        ".tar",
        ".gz",
        ".tgz",
        ".bz2",
        ".xz",
        ".7z",
        ".rar",
        ".iso",
        ".dmg",
        ".bin",
    }
)
BINARY_SNIFF_BYTES = 8192


def _finding(rule: str, severity: Severity, path: str, message: str) -> Finding:
    return Finding(
        rule_id=f"hygiene.{rule}",
        tool="ticketsmith",
        category=Category.HYGIENE,
        severity=severity,
        path=path,
        start_line=0,
        end_line=0,
        symbol="",
        message=message,
        snippet="",
        fingerprint="",
    )


class HygieneChecker:
    """Checks the file list itself; reads at most the first 8 KiB of each file."""

    name = "hygiene"
    tool = "ticketsmith"

    def run(self, target: CheckTarget) -> list[Finding]:
        findings: list[Finding] = []
        top_level = {PurePosixPath(f).name.lower() for f in target.files if "/" not in f}
        if not any(name.startswith(("license", "licence", "copying")) for name in top_level):
            findings.append(_finding("missing-license", Severity.LOW, "", "no LICENSE file at the repository root"))
        if not any(name.startswith("readme") for name in top_level):
            findings.append(_finding("missing-readme", Severity.LOW, "", "no README at the repository root"))
        for path in target.files:
            full = target.root / path
            try:
                size = full.stat().st_size
                with full.open("rb") as handle:
                    head = handle.read(BINARY_SNIFF_BYTES)
            except OSError:
                continue
            if size > target.config.max_file_bytes:
                findings.append(
                    _finding(
                        "large-file",
                        Severity.MEDIUM,
                        path,
                        f"{path} is {size:,} bytes (limit {target.config.max_file_bytes:,}); use Git LFS or a "
                        "release artefact",
                    )
                )
            if PurePosixPath(path).suffix.lower() in ARTIFACT_SUFFIXES or (b"\0" in head and size > 1_000_000):
                findings.append(
                    _finding("committed-binary", Severity.MEDIUM, path, f"{path} is a binary build artefact or archive")
                )
        return findings
