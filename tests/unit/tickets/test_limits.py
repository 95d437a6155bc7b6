"""Jira's field limits: summaries, bodies and labels are made to fit before anything is sent."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from service.tickets.limits import (
    CUT_NOTE,
    MAX_BODY,
    MAX_SUMMARY,
    cut_body,
    cut_summary,
    fingerprint_label,
    label,
)


def test_short_summary_is_kept_on_one_line() -> None:
    assert cut_summary("Unused import\nin  app/models.py ") == "Unused import in app/models.py"


def test_long_summary_is_cut_at_a_word_boundary() -> None:
    summary = " ".join(["complexity"] * 40)
    cut = cut_summary(summary)
    assert len(cut) <= MAX_SUMMARY
    assert cut.endswith("complexity…")


@given(st.text(max_size=600))
def test_any_summary_fits(summary: str) -> None:
    assert len(cut_summary(summary)) <= MAX_SUMMARY


def test_body_that_fits_is_unchanged_and_a_long_one_says_it_was_cut() -> None:
    assert cut_body("short") == "short"
    long_body = "\n".join(f"line {i} " + "x" * 80 for i in range(1000))
    cut = cut_body(long_body)
    assert len(cut) <= MAX_BODY
    assert cut.endswith(CUT_NOTE)
    assert cut[: -len(CUT_NOTE)].splitlines()[-1].startswith("line ")


LONG_BODIES = st.text(min_size=1, max_size=40).flatmap(
    lambda piece: st.integers(0, 300).map(lambda extra: piece * (MAX_BODY // len(piece) + extra))
)


@given(LONG_BODIES)
def test_any_body_fits(body: str) -> None:
    assert len(cut_body(body)) <= MAX_BODY


def test_labels_have_no_spaces_and_fingerprints_have_their_prefix() -> None:
    assert label(" needs  triage\t now ") == "needs-triage-now"
    assert fingerprint_label("0123456789abcdef0123") == "ts-fp-0123456789abcdef0123"
    with pytest.raises(ValueError, match="empty"):
        label("   ")
    with pytest.raises(ValueError, match="not a fingerprint"):
        fingerprint_label("has space")
