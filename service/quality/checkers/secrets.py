"""Hard-coded credentials with detect-secrets. The secret itself never leaves this module: snippets are redacted.

The scan runs as detect-secrets' own command, which spreads the files over every core (in-process scanning of a
large repository took 1.8x as long, bench/checks.py). Its report holds only hashes of the secrets, so the few
files it flags are scanned again in-process to find the exact text to redact.
"""

from __future__ import annotations

from typing import Any

from detect_secrets.core.secrets_collection import SecretsCollection
from detect_secrets.settings import default_settings

from service.domain.findings import Category, Finding, Severity
from service.quality.checker import CheckTarget
from service.quality.checkers.tools import batches, find_tool, run_json

REDACTED = "********"
HELP_URL = "https://github.com/Yelp/detect-secrets"


def redact(line: str, secret: str | None) -> str:
    """``line`` with ``secret`` replaced; when the secret cannot be located, everything after ``=``/``:`` goes."""
    if secret and secret in line:
        return line.replace(secret, REDACTED)
    for separator in ("=", ":"):
        if separator in line:
            return f"{line.split(separator, 1)[0]}{separator} {REDACTED}"
    return REDACTED


def _secret_values(target: CheckTarget, path: str) -> dict[tuple[int, str], str]:
    """(line, hashed secret) → secret, for one flagged file, scanned in-process."""
    collection = SecretsCollection(root=str(target.root))
    try:
        with default_settings():
            collection.scan_file(path)
    except Exception:  # the file was flagged, but cannot be re-read: fall back to redacting the whole value
        return {}
    return {
        (secret.line_number, secret.secret_hash): secret.secret_value
        for secrets in collection.data.values()
        for secret in secrets
        if secret.secret_value
    }


class SecretsChecker:
    """Scans every tracked file with detect-secrets' default plugins (keys, tokens, passwords, high entropy)."""

    name = "secrets"
    tool = "detect-secrets"

    def run(self, target: CheckTarget) -> list[Finding]:
        if not target.files:
            return []
        tool = find_tool("detect-secrets")
        results: dict[str, list[dict[str, Any]]] = {}
        for batch in batches(list(target.files)):
            report: dict[str, Any] = run_json([tool, "scan", "--", *batch], cwd=target.root, ok_codes=(0,))
            for path, items in (report or {}).get("results", {}).items():
                results.setdefault(path, []).extend(items)
        findings: list[Finding] = []
        for path, items in sorted(results.items()):
            lines = (target.source(path) or "").splitlines()
            values = _secret_values(target, path)
            for item in items:
                number = int(item.get("line_number") or 0)
                line = lines[number - 1] if 0 < number <= len(lines) else ""
                kind = str(item.get("type") or "secret")
                findings.append(
                    Finding(
                        rule_id=f"secrets.{kind.lower().replace(' ', '-')}",
                        tool="detect-secrets",
                        category=Category.SECRETS,
                        severity=Severity.CRITICAL,
                        path=path,
                        start_line=number,
                        end_line=number,
                        symbol="",
                        message=f"{kind} committed to the repository; revoke it and load it from a secret store",
                        snippet=redact(line.strip(), values.get((number, str(item.get("hashed_secret"))))),
                        fingerprint="",
                        help_url=HELP_URL,
                    )
                )
        return findings
