"""The suggest comment: what it says with and without a model, when a diff is dropped or too long to post, and
its ADF valid against Atlassian's schema."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft4Validator

from service.orchestrator.steps.suggest_comment import chosen, fingerprint, render_comment
from service.tickets.adf import markdown_to_adf

SCHEMA = Path(__file__).resolve().parents[2] / ".schemas" / "adf-full.json"
DIFF = "--- a/m.py\n+++ b/m.py\n@@ -1,1 +1,1 @@\n-a = b == None\n+a = b is None\n"


def checkpoint(*, model: dict[str, Any] | None, mechanical_diff: str = DIFF, applies: bool = True) -> dict[str, Any]:
    verify: dict[str, Any] = {"mechanical": {"applies": applies, "reason": "ok", "files": ["m.py"]}}
    if model and model.get("diff"):
        verify["model"] = {"applies": applies, "reason": "git apply --check failed: error: patch failed", "files": []}
    return {
        "read_ticket": {"key": "OPS-7", "summary": "s", "description": "d"},
        "retrieve": {
            "repository": "shop",
            "commit": "c" * 40,
            "remote": None,
            "citations": [{"path": "m.py", "start_line": 1, "end_line": 3, "symbol": "f", "link": "m.py@cccc:1-3"}],
        },
        "propose": {
            "model_id": "m1" if model else None,
            "model": model,
            "mechanical": {
                "diff": mechanical_diff,
                "findings": [
                    {
                        "rule_id": "ruff.F401",
                        "path": "m.py",
                        "line": 1,
                        "message": "`os` imported but unused",
                        "fix": "Remove unused import",
                        "applicability": "safe",
                    }
                ],
                "unavailable": None,
            },
        },
        "verify": verify,
    }


@pytest.fixture(scope="module")
def validator() -> Draft4Validator:
    if not SCHEMA.exists():
        reason = f"{SCHEMA} is missing: run `make test-schemas`"
        if os.environ.get("CI") == "true":
            pytest.fail(reason)
        pytest.skip(reason)
    return Draft4Validator(json.loads(SCHEMA.read_text()))


def test_without_a_model_it_says_so_and_offers_the_mechanical_fix(validator: Draft4Validator) -> None:
    state = checkpoint(model=None)
    body = render_comment(state, run_id="r1", marker="ts-suggest-x")
    assert "no model was used" in body
    assert f"```diff\n{DIFF}```" in body
    assert "`m.py@cccc:1-3` (f)" in body  # no web remote: path@commit:lines
    assert "ts-suggest-x" in body
    assert not list(validator.iter_errors(markdown_to_adf(body)))


def test_a_dropped_model_diff_is_named_with_the_reason_and_never_shown(validator: Draft4Validator) -> None:
    wrong = "--- a/m.py\n+++ b/m.py\n@@ -9,1 +9,1 @@\n-nope\n+never\n"
    state = checkpoint(model={"diff": wrong, "explanation": "trust me", "dropped": None}, applies=False)
    assert chosen(state).kind == "none"
    body = render_comment(state, run_id="r1", marker="ts-suggest-x")
    assert "The diff m1 proposed is not posted: git apply --check failed" in body
    assert "never" not in body
    assert "```diff" not in body
    assert not list(validator.iter_errors(markdown_to_adf(body)))


def test_a_diff_too_long_for_a_comment_is_left_in_the_run() -> None:
    long = "--- a/m.py\n+++ b/m.py\n@@ -1,1 +1,1 @@\n-" + "x" * 30_000 + "\n+y\n"
    body = render_comment(checkpoint(model=None, mechanical_diff=long), run_id="r9", marker="ts-suggest-x")
    assert "```diff" not in body
    assert "ticketsmith runs show r9 --json" in body
    assert len(body) < 5_000


def test_the_fingerprint_follows_what_is_proposed() -> None:
    same = fingerprint(checkpoint(model=None))
    assert same == fingerprint(checkpoint(model=None))
    assert same != fingerprint(checkpoint(model=None, mechanical_diff=DIFF.replace("is None", "is  None")))
