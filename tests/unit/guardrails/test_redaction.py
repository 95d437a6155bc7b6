"""The redaction gate: each secret format is replaced by its marker, only the value goes, plain text stays as
it was, and (properties) redaction is idempotent and never lets a planted secret through."""

from __future__ import annotations

import string
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from service.guardrails.redaction import Redactor, marker, redact, scrub

# Well-known example values from the vendors' documentation (not live credentials).
AWS_KEY_ID = "AKIAIOSFODNN7EXAMPLE"
AWS_SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
JWT = (
    "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4gRG9lIn0"
    ".SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c"
)
PRIVATE_KEY = (
    "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAAAAAAABAAAAMwAAAAtzc2gtZW\n"
    "QyNTUxOQAAACBeY2hhbmdlbWVjaGFuZ2VtZWNoYW5nZW1lY2hhbmdlbWU=\n-----END OPENSSH PRIVATE KEY-----"
)


@pytest.mark.parametrize(
    ("text", "secret", "kind", "kept"),
    [
        (f"key id {AWS_KEY_ID} in the config", AWS_KEY_ID, "aws_access_key_id", "key id "),
        ("ASIAY34FZKBOKMUTVV7A is temporary", "ASIAY34FZKBOKMUTVV7A", "aws_access_key_id", " is temporary"),
        (f"aws_secret_access_key = {AWS_SECRET}", AWS_SECRET, "aws_secret_access_key", "aws_secret_access_key = "),
        (f'AWS_SECRET_KEY: "{AWS_SECRET}"', AWS_SECRET, "aws_secret_access_key", "AWS_SECRET_KEY"),
        (f"before\n{PRIVATE_KEY}\nafter", "b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQ", "private_key", "after"),
        ("-----BEGIN RSA PRIVATE KEY-----\nMIIEpAIBAAKCAQEA75", "MIIEpAIBAAKCAQEA75", "private_key", ""),
        ("token ghp_" + "A1b2" * 9, "ghp_" + "A1b2" * 9, "github_token", "token "),
        ("github_pat_11ABCDEFG0" + "x" * 40, "github_pat_11ABCDEFG0" + "x" * 40, "github_token", ""),
        ("GITLAB=glpat-" + "Zx9_" * 5, "glpat-" + "Zx9_" * 5, "gitlab_token", ""),
        ("xoxb-263594206564-2343594206574-FGqddMF8t08v8N7Oq4i57vs1", "FGqddMF8t08v8N7Oq4i57vs1", "slack_token", ""),
        (
            "https://hooks.slack.com/services/T0AAA0000/B0AAA0000/abcdEFGHijklMNOPqrstUVWX",
            "abcdEFGHijklMNOPqrstUVWX",
            "slack_webhook",
            "https://hooks.slack.com/services/",
        ),
        ("ATATT3xFfGF0" + "kT7_-q" * 30 + "=1A2B3C4D", "ATATT3xFfGF0" + "kT7_-q" * 30, "atlassian_token", ""),
        (f"cookie {JWT} end", JWT, "jwt", " end"),
        ("Authorization: Bearer abc.DEF-123_456~789", "abc.DEF-123_456~789", "authorization", "Authorization: Bearer "),
        ('-H "authorization: Basic dXNlcjpwYXNzd29yZA=="', "dXNlcjpwYXNzd29yZA==", "authorization", "Basic "),
        ("using Bearer 1234567890abcdefghijKLMN now", "1234567890abcdefghijKLMN", "bearer_token", " now"),
        ("postgresql://app:Sup3r%40Secret@db:5432/x", "Sup3r%40Secret", "url_password", "postgresql://app:"),
        ('password = "correct horse battery"', "correct horse battery", "assigned_secret", 'password = "'),
        ("db_password='s3cr3t!'", "s3cr3t!", "assigned_secret", "db_password='"),
        ('{"api_key": "k-12345"}', "k-12345", "assigned_secret", '{"api_key": "'),
        ("CLIENT_SECRET=abc123def", "abc123def", "assigned_secret", "CLIENT_SECRET="),
        ("jira_token: hunter22", "hunter22", "assigned_secret", "jira_token: "),
    ],
)
def test_each_format_is_redacted_value_only(text: str, secret: str, kind: str, kept: str) -> None:
    result = redact(text)
    assert secret not in result.text
    assert marker(kind) in result.text
    assert kind in result.kinds
    assert result.findings >= 1
    assert kept in result.text


@pytest.mark.parametrize(
    "text",
    [
        "",
        "A plain sentence about tokens, passwords and secrets.",
        "password: required",
        "token = self._token",
        "secret = settings.secret",
        "password = get_password()",
        'max_tokens = "2048" is not a secret name',
        "input_tokens: 12",
        "The bearer of bad news brought internationalization",
        "https://example.com/path?query=1",
        "def check(api_key: str) -> bool:",
        "AKIA is a prefix, not a key",
        "ssh user@host",
    ],
)
def test_text_without_secrets_is_unchanged(text: str) -> None:
    result = redact(text)
    assert result.text == text
    assert result.findings == 0
    assert result.kinds == ()


def test_counts_every_finding_and_lists_each_kind_once() -> None:
    result = redact(f"{AWS_KEY_ID} and AKIAJ5UVKUUSHIOBH2SA and {JWT}")
    assert result.findings == 3
    assert result.kinds == ("aws_access_key_id", "jwt")


def test_scrub_redacts_every_string_and_keeps_shapes() -> None:
    value = {
        "input": {"query": f"find {AWS_KEY_ID}", "limit": 5, "flags": (True, None, f"token={'x1' * 5}")},
        "list": [[f"Bearer {'ab12' * 6}"], 1.5],
        AWS_KEY_ID: "a key as a key",
    }
    scrubbed = scrub(value)
    assert scrubbed == {
        "input": {
            "query": f"find {marker('aws_access_key_id')}",
            "limit": 5,
            "flags": (True, None, f"token={marker('assigned_secret')}"),
        },
        "list": [[f"Bearer {marker('bearer_token')}"], 1.5],
        marker("aws_access_key_id"): "a key as a key",
    }
    assert value["input"]["query"] == f"find {AWS_KEY_ID}"  # type: ignore[index]  # the input is not changed


def test_scrub_handles_deep_and_cyclic_values() -> None:
    deep: object = AWS_KEY_ID
    for _ in range(50_000):
        deep = [deep]
    out = scrub(deep)
    for _ in range(50_000):
        assert isinstance(out, list)
        out = out[0]
    assert out == marker("aws_access_key_id")
    cyclic: dict[str, object] = {"k": AWS_KEY_ID}
    cyclic["self"] = cyclic
    copy = scrub(cyclic)
    assert copy["k"] == marker("aws_access_key_id")
    assert copy["self"] is copy


def test_scrub_passes_scalars() -> None:
    assert scrub(3) == 3
    assert scrub(None) is None
    assert scrub(AWS_KEY_ID) == marker("aws_access_key_id")


# --- properties -------------------------------------------------------------------------------------------

PROSE = st.text(alphabet=string.ascii_lowercase + " .,!?\n", max_size=200)
ALNUM = string.ascii_letters + string.digits


@st.composite
def planted(draw: st.DrawFn) -> tuple[str, str]:
    """(text in which a secret is planted, the secret's value)."""
    upper = string.ascii_uppercase + string.digits
    value = draw(st.text(alphabet=ALNUM, min_size=8, max_size=40).filter(lambda v: any(c.isdigit() for c in v)))
    choice = draw(st.integers(min_value=0, max_value=8))
    if choice == 0:
        secret = draw(st.sampled_from(["AKIA", "ASIA"])) + draw(st.text(alphabet=upper, min_size=16, max_size=16))
        return secret, secret
    if choice == 1:
        secret = "ghp_" + draw(st.text(alphabet=ALNUM, min_size=36, max_size=40))
        return secret, secret
    if choice == 2:
        body = draw(st.text(alphabet=ALNUM + "+/=\n", min_size=1, max_size=200))
        return f"-----BEGIN PRIVATE KEY-----\n{body}\n-----END PRIVATE KEY-----", "-----BEGIN"
    if choice == 3:
        name = draw(st.sampled_from(["password", "API_KEY", "db_secret", "auth_token", "Passwd"]))
        quote = draw(st.sampled_from(['"', "'", ""]))
        sep = draw(st.sampled_from(["=", " = ", ": ", ":="]))
        return f"{name}{sep}{quote}{value}{quote}", value
    if choice == 4:
        return f"https://user:{value}@example.com/", value
    if choice == 5:
        return f"Authorization: Bearer {value}", value
    if choice == 6:
        secret = "xoxp-" + draw(st.text(alphabet=string.digits, min_size=6, max_size=12)) + "-" + value.lower()
        return secret, secret
    if choice == 7:
        secret = "ATATT3" + draw(st.text(alphabet=ALNUM + "_-", min_size=20, max_size=60))
        return secret, secret
    secret = f"eyJ{value}abcdefgh.eyJ{value}abcdefgh.{value}"
    return secret, secret


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=300))
def test_redact_is_idempotent(text: str) -> None:
    once = redact(text)
    twice = redact(once.text)
    assert twice.text == once.text
    assert twice.findings == 0


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=300))
def test_redact_without_findings_changes_nothing(text: str) -> None:
    result = redact(text)
    if result.findings == 0:
        assert result.text == text


@settings(max_examples=200, deadline=None)
@given(PROSE)
def test_prose_is_never_changed(text: str) -> None:
    result = redact(text)
    assert result.text == text
    assert result.findings == 0


@settings(max_examples=500, deadline=None)
@given(PROSE, planted(), PROSE)
def test_a_planted_secret_never_leaves(before: str, secret: tuple[str, str], after: str) -> None:
    planted_text, value = secret
    result = redact(f"{before}\n{planted_text}\n{after}")
    assert value not in result.text
    assert result.findings >= 1
    assert redact(result.text).text == result.text


@settings(max_examples=100, deadline=None)
@given(
    st.recursive(
        st.text(max_size=40) | st.integers(),
        lambda inner: st.lists(inner) | st.dictionaries(st.text(max_size=10), inner),
        max_leaves=20,
    )
)
def test_scrub_is_idempotent(value: object) -> None:
    once = scrub(value)
    assert scrub(once) == once


def test_a_custom_rule_set_is_honoured() -> None:
    assert Redactor(rules=()).redact(AWS_KEY_ID).text == AWS_KEY_ID


@pytest.mark.parametrize(
    "text",
    [
        "eyJ" * 60_000,
        "eyJaaaaaaaaaaa.eyJ" * 20_000,
        'password="' * 20_000,
        ('password="' + "a" * 990) * 200,
        "a://" + "b:" * 100_000,
        ("http://u:" + "p" * 200) * 1000,
        "-----BEGIN PRIVATE KEY-----" * 5000,
        "authorization: bearer " * 10_000,
        "AKIA" * 50_000,
        "token=" + "a" * 200_000,
    ],
    ids=lambda text: text[:12],
)
def test_pathological_input_stays_fast(text: str) -> None:
    # Each took well under 0.5 s when written; a quadratic pattern takes minutes on these.
    started = time.perf_counter()
    redact(text)
    assert time.perf_counter() - started < 5
