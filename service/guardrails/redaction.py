"""The redaction gate: secrets in text that leaves the service are replaced by ``[REDACTED:<kind>]``.

Everything that leaves passes it: ticket summaries and bodies, comments, trace spans and exports, prompts to
hosted models. It runs on every span attribute, so it is regex-only and cheap: each rule has a few lowercase
*hints* (substrings every match contains) and runs only on text that holds one of them. Only the secret's
value is replaced (``password = "[REDACTED:assigned_secret]"``), so the rest of the text stays readable.

Contracts, checked by property tests: redaction is deterministic and idempotent (a redacted text has nothing
left to redact); text without secrets comes back unchanged (``findings == 0``); a planted secret of a known
format never survives.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

MARKER_PREFIX = "[REDACTED:"
# A fixpoint is normally reached after one pass; a second pass catches a secret that only matches once an
# earlier rule's replacement has changed its surroundings. Bounded so odd text cannot loop.
_MAX_PASSES = 4


def marker(kind: str) -> str:
    """What replaces a secret of ``kind``."""
    return f"{MARKER_PREFIX}{kind}]"


@dataclass(frozen=True, slots=True)
class Redacted:
    """A redacted text, how many secrets were replaced and their kinds (unique, in order of first finding)."""

    text: str
    findings: int = 0
    kinds: tuple[str, ...] = ()

    @property
    def changed(self) -> bool:
        return self.findings > 0


def _always(_group: str, _value: str) -> bool:
    return True


_IDENTIFIER_LIKE = re.compile(r"[A-Za-z_]+(?:\.[A-Za-z_][A-Za-z0-9_]*)*")


def _bare_value_is_secret(value: str) -> bool:
    """An unquoted assigned value is taken for a secret unless it reads as code or a word: ``password:
    required``, ``token = self._token`` or ``secret = settings.secret`` stay, ``PASSWORD=hunter2`` goes."""
    if len(value) < 6:
        return False
    return not (_IDENTIFIER_LIKE.fullmatch(value) and (len(value) < 20 or "." in value))


def _not_only_letters(_group: str, value: str) -> bool:
    return not value.isalpha()


def _assigned_value_is_secret(group: str, value: str) -> bool:
    return group != "bare" or _bare_value_is_secret(value)


@dataclass(frozen=True, slots=True)
class Rule:
    """One kind of secret. ``groups`` name the pattern's groups holding the value (the first that matched is
    replaced); with none, the whole match is. ``accept(group, value)`` filters values the pattern cannot rule
    out by itself."""

    kind: str
    pattern: re.Pattern[str]
    hints: tuple[str, ...]
    groups: tuple[str, ...] = ()
    accept: Callable[[str, str], bool] = _always


_GITLAB_PREFIXES = ("glpat", "gldt", "glft", "glsoat", "glrt", "glcbt", "glimt", "glptt", "glagent", "gloas")
_ASSIGN = r"""['"]?[ \t]*(?:=|:=|=>|:)[ \t]*"""

RULES: tuple[Rule, ...] = (
    # PEM/OpenSSH/PGP private keys (RFC 7468 labels; detect-secrets plugins/private_key.py lists the BEGIN
    # lines). A block cut short before its END line is redacted to the end of the text.
    Rule(
        "private_key",
        re.compile(
            r"-----BEGIN[A-Z0-9 ]{0,40}PRIVATE KEY(?: BLOCK)?-----"
            r"(?:[\s\S]*?-----END[A-Z0-9 ]{0,40}PRIVATE KEY(?: BLOCK)?-----|[\s\S]*)"
        ),
        ("private key",),
    ),
    # AWS access key ids: 4-character prefix + 16 upper-case alphanumerics (detect-secrets plugins/aws.py;
    # AWS IAM "Understanding unique ID prefixes": AKIA long-term, ASIA temporary).
    Rule(
        "aws_access_key_id",
        re.compile(r"(?:A3T[A-Z0-9]|AKIA|ASIA|ABIA|ACCA)[A-Z0-9]{16}"),
        ("akia", "asia", "a3t", "abia", "acca"),
    ),
    # AWS secret access keys: 40 base64 characters assigned to a name with aws and secret/private in it
    # (detect-secrets plugins/aws.py), e.g. ``aws_secret_access_key = wJalr...`` in ~/.aws/credentials.
    Rule(
        "aws_secret_access_key",
        re.compile(
            r"(?i)aws[A-Za-z0-9_.\-]{0,20}?(?:secret|private)[A-Za-z0-9_.\-]{0,20}"
            + _ASSIGN
            + r"""['"]?(?P<value>[A-Za-z0-9/+]{40})(?![A-Za-z0-9/+])"""
        ),
        ("aws",),
        groups=("value",),
    ),
    # GitHub tokens: ghp_/gho_/ghu_/ghs_/ghr_ + 36 or more (detect-secrets plugins/github_token.py; GitHub blog
    # "Behind GitHub's new authentication token formats"), fine-grained ``github_pat_`` tokens.
    Rule(
        "github_token",
        re.compile(r"(?:gh[pousr]_[A-Za-z0-9]{36,251}|github_pat_[A-Za-z0-9_]{22,255})"),
        ("ghp_", "gho_", "ghu_", "ghs_", "ghr_", "github_pat_"),
    ),
    # GitLab tokens by prefix (detect-secrets plugins/gitlab_token.py; GitLab docs "Token prefixes").
    Rule(
        "gitlab_token",
        re.compile(rf"(?:(?:{'|'.join(_GITLAB_PREFIXES)})-[A-Za-z0-9_\-]{{20,1024}}|GR1348941[A-Za-z0-9_\-]{{20,50}})"),
        (*(f"{prefix}-" for prefix in _GITLAB_PREFIXES), "gr1348941"),
    ),
    # Slack tokens xoxb-/xoxp-/... and app-level xapp- tokens (detect-secrets plugins/slack.py; Slack docs
    # "Token types").
    Rule(
        "slack_token",
        re.compile(r"(?i)(?:xox[abposr]-(?:[0-9]+-)+[a-z0-9]+|xapp-[0-9]-[a-z0-9]+-[0-9]+-[a-z0-9]+)"),
        ("xox", "xapp-"),
    ),
    # Slack incoming webhooks: the URL path is the credential (detect-secrets plugins/slack.py).
    Rule(
        "slack_webhook",
        re.compile(r"(?i)hooks\.slack\.com/services/(?P<value>T[A-Za-z0-9_]+/B[A-Za-z0-9_]+/[A-Za-z0-9_]+)"),
        ("hooks.slack.com",),
        groups=("value",),
    ),
    # Atlassian Cloud API tokens start ATATT3 (gitleaks and nosey-parker np.atlassian.1 rules; Atlassian
    # "Manage API tokens for your Atlassian account"). Older 24-character tokens are caught when assigned.
    Rule("atlassian_token", re.compile(r"ATATT3[A-Za-z0-9_\-=]{20,300}"), ("atatt3",)),
    # JWTs (RFC 7519): base64url header and claims that both encode a JSON object, so both start ``eyJ``;
    # the signature may be empty (alg none). detect-secrets plugins/jwt.py matches the same shape.
    Rule(
        "jwt",
        # Starts only where a base64url run starts, and its runs never backtrack: linear on any input.
        re.compile(
            r"(?<![A-Za-z0-9_\-])eyJ[A-Za-z0-9_\-]{8,}+={0,2}\.eyJ[A-Za-z0-9_\-]{8,}+={0,2}"
            r"(?:\.[A-Za-z0-9_\-+/]*+={0,2})?"
        ),
        ("eyj",),
    ),
    # Credentials in an Authorization header (RFC 9110 section 11.6.2; RFC 6750 bearer tokens), and bearer
    # tokens elsewhere (``curl -H "Authorization: Bearer ..."``, logs) when long and not a plain word.
    Rule(
        "authorization",
        re.compile(
            r"(?i)authorization['\"]?[ \t]*[:=][ \t]*['\"]?(?:bearer|basic|token|digest)[ \t]+"
            r"(?P<value>[A-Za-z0-9._~+/\-]{8,}=*)"
        ),
        ("authorization",),
        groups=("value",),
    ),
    Rule(
        "bearer_token",
        re.compile(r"(?i)bearer[ \t]+(?P<value>[A-Za-z0-9._~+/\-]{20,}=*)"),
        ("bearer",),
        groups=("value",),
        accept=_not_only_letters,
    ),
    # user:password@ in a URL (RFC 3986 section 3.2.1 userinfo; detect-secrets plugins/basic_auth.py).
    Rule(
        "url_password",
        re.compile(r"[A-Za-z][A-Za-z0-9+.\-]{0,20}://[^\s:/@?#\[\]]{1,256}:(?P<value>[^\s/@?#]{1,256})@"),
        ("://",),
        groups=("value",),
    ),
    # ``password|secret|token|api_key ... = "value"`` in code, config, env files, JSON and YAML (the keyword
    # set of detect-secrets plugins/keyword.py). The match starts at the keyword, so scanning stays linear.
    Rule(
        "assigned_secret",
        re.compile(
            r"(?i)(?:password|passwd|passphrase|pwd|secret|token|api[_\-]?key|apikey|private[_\-]?key"
            r"|access[_\-]?key|auth[_\-]?key|client[_\-]?secret)(?![A-Za-z0-9])"
            + _ASSIGN
            + r"""(?:"(?P<dq>[^"\r\n]{1,1000})"|'(?P<sq>[^'\r\n]{1,1000})'"""
            + r"""|(?P<bare>[^\s'"`,;()\[\]{}<>]{1,1000}+)(?![(\[]))"""
        ),
        ("pass", "pwd", "secret", "token", "key"),
        groups=("dq", "sq", "bare"),
        accept=_assigned_value_is_secret,
    ),
)


class Redactor:
    """Replaces secrets by ``[REDACTED:<kind>]``. Stateless and thread-safe; one instance serves everything."""

    def __init__(self, rules: Iterable[Rule] = RULES) -> None:
        self._rules = tuple(rules)

    def redact(self, text: str) -> Redacted:
        """``text`` with every secret value replaced; unchanged (and ``findings == 0``) when it holds none."""
        findings = 0
        kinds: list[str] = []
        for _ in range(_MAX_PASSES):
            found = 0
            lowered = text.lower()
            for rule in self._rules:
                if not any(hint in lowered for hint in rule.hints):
                    continue
                text, count = self._apply(rule, text)
                if count:
                    found += count
                    if rule.kind not in kinds:
                        kinds.append(rule.kind)
                    lowered = text.lower()
            findings += found
            if not found:
                break
        return Redacted(text=text, findings=findings, kinds=tuple(kinds))

    @staticmethod
    def _apply(rule: Rule, text: str) -> tuple[str, int]:
        count = 0

        def replace(match: re.Match[str]) -> str:
            nonlocal count
            whole = match.group(0)
            if not rule.groups:
                if whole.startswith(MARKER_PREFIX):
                    return whole
                count += 1
                return marker(rule.kind)
            for group in rule.groups:
                value = match.group(group)
                if value is None:
                    continue
                if value.startswith(MARKER_PREFIX) or not rule.accept(group, value):
                    return whole
                start, end = match.start(group) - match.start(), match.end(group) - match.start()
                count += 1
                return f"{whole[:start]}{marker(rule.kind)}{whole[end:]}"
            return whole

        return rule.pattern.sub(replace, text), count


DEFAULT_REDACTOR = Redactor()


def redact(text: str) -> Redacted:
    """:meth:`Redactor.redact` with the default rules."""
    return DEFAULT_REDACTOR.redact(text)


def scrub(value: Any, redactor: Redactor | None = None) -> Any:
    """A copy of the JSON-like ``value`` with every string redacted, dict keys included; dicts, lists and
    tuples keep their types, other values pass unchanged. Iterative (no recursion limit on deep values); a
    dict or list reached twice (shared, or a cycle) is copied once and shared in the copy the same way.
    """
    gate = redactor or DEFAULT_REDACTOR
    return scrub_with(value, lambda text: gate.redact(text).text)


def scrub_with(value: Any, redact_text: Callable[[str], str]) -> Any:
    """:func:`scrub` with ``redact_text`` applied to every string (e.g. one that also counts findings)."""
    if isinstance(value, str):
        return redact_text(value)
    if not isinstance(value, dict | list | tuple):
        return value
    root: list[Any] = [None]
    pending: list[tuple[Any, Any, Any]] = [(value, root, 0)]
    copies: dict[int, Any] = {}
    tuples: list[tuple[Any, Any, list[Any]]] = []
    while pending:
        source, parent, slot = pending.pop()
        if isinstance(source, str):
            parent[slot] = redact_text(source)
        elif isinstance(source, dict):
            if id(source) in copies:
                parent[slot] = copies[id(source)]
                continue
            mapping: dict[Any, Any] = {}
            copies[id(source)] = parent[slot] = mapping
            for key, item in source.items():
                new_key = redact_text(key) if isinstance(key, str) else key
                mapping[new_key] = None  # keeps the key order; filled when the item is popped
                pending.append((item, mapping, new_key))
        elif isinstance(source, list | tuple):
            if isinstance(source, list) and id(source) in copies:
                parent[slot] = copies[id(source)]
                continue
            items: list[Any] = [None] * len(source)
            parent[slot] = items
            if isinstance(source, tuple):
                tuples.append((parent, slot, items))
            else:
                copies[id(source)] = items
            pending.extend((item, items, index) for index, item in enumerate(source))
        else:
            parent[slot] = source
    # Children were created after their parents: freezing in reverse turns inner tuples first.
    for parent, slot, items in reversed(tuples):
        parent[slot] = tuple(items)
    return root[0]
