"""Jira's field limits, applied before anything is sent: a refused create is a lost ticket.

Summary: at most 255 characters (Jira answers 400 "Summary must be less than 255 characters", see
tests/fixtures/jira/error_400_field_too_long.json). Description and comments: at most 32,767 characters.
Labels: no whitespace (Jira splits on it), at most 255 characters.
"""

from __future__ import annotations

import re

MAX_SUMMARY = 255
MAX_BODY = 32_767
MAX_LABEL = 255
ELLIPSIS = "…"
CUT_NOTE = "\n\n_(cut to fit Jira's 32,767-character limit; the full text is in the Ticketsmith run)_"
FINGERPRINT_LABEL_PREFIX = "ts-fp-"
_SPACE = re.compile(r"\s+")


def cut_summary(summary: str) -> str:
    """One line, at most 255 characters, cut at a word boundary with an ellipsis when it was longer."""
    line = _SPACE.sub(" ", summary).strip()
    if len(line) <= MAX_SUMMARY:
        return line
    room = MAX_SUMMARY - len(ELLIPSIS)
    cut = line[: room + 1].rsplit(" ", 1)[0] if " " in line[: room + 1] else line[:room]
    return cut[:room].rstrip(" ,.;:-") + ELLIPSIS


def cut_body(body: str) -> str:
    """``body`` unchanged when it fits, else cut at a line (or word) boundary and followed by a note saying so."""
    if len(body) <= MAX_BODY:
        return body
    room = MAX_BODY - len(CUT_NOTE)
    head = body[:room]
    for boundary in ("\n", " "):
        at = head.rfind(boundary)
        if at > room // 2:
            head = head[:at]
            break
    return head.rstrip() + CUT_NOTE


def label(text: str) -> str:
    """A Jira label from ``text``: whitespace becomes '-', at most 255 characters. Raises ValueError when empty."""
    cleaned = _SPACE.sub("-", text.strip())[:MAX_LABEL]
    if not cleaned:
        raise ValueError("a label cannot be empty")
    return cleaned


def fingerprint_label(fingerprint: str) -> str:
    """The label that carries a finding's fingerprint on its ticket, so a lost ledger can be rebuilt by JQL."""
    if not re.fullmatch(r"[0-9a-f]{8,64}", fingerprint):
        raise ValueError(f"not a fingerprint: {fingerprint!r}")
    return f"{FINGERPRINT_LABEL_PREFIX}{fingerprint}"
