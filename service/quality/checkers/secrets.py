"""Hard-coded credentials with detect-secrets. The secret itself never leaves this module: snippets are redacted."""

from __future__ import annotations

from detect_secrets.core.secrets_collection import SecretsCollection
from detect_secrets.settings import default_settings

from service.domain.findings import Category, Finding, Severity
from service.quality.checker import CheckerUnavailable, CheckTarget

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


class SecretsChecker:
    """Scans every text file with detect-secrets' default plugins (keys, tokens, passwords, high entropy)."""

    name = "secrets"

    def run(self, target: CheckTarget) -> list[Finding]:
        collection = SecretsCollection(root=str(target.root))
        try:
            with default_settings():
                for path in target.files:
                    collection.scan_file(path)
        except Exception as exc:  # detect-secrets plugins raise assorted errors on odd input
            raise CheckerUnavailable(f"detect-secrets failed: {type(exc).__name__}") from None
        findings: list[Finding] = []
        for path, secrets in collection.data.items():
            source = target.source(path) or ""
            lines = source.splitlines()
            for secret in secrets:
                line = lines[secret.line_number - 1] if 0 < secret.line_number <= len(lines) else ""
                findings.append(
                    Finding(
                        rule_id=f"secrets.{secret.type.lower().replace(' ', '-')}",
                        tool="detect-secrets",
                        category=Category.SECRETS,
                        severity=Severity.CRITICAL,
                        path=path,
                        start_line=secret.line_number,
                        end_line=secret.line_number,
                        symbol="",
                        message=f"{secret.type} committed to the repository; revoke it and load it from a secret store",
                        snippet=redact(line.strip(), secret.secret_value),
                        fingerprint="",
                        help_url=HELP_URL,
                    )
                )
        return findings
