"""Fingerprints that survive line shifts and unrelated edits.

A fingerprint is built from the rule, the file path, the enclosing symbol and the finding's code with its
whitespace normalised, plus the finding's rank among identical ones in the same symbol (so two identical
findings in one function stay distinct). Line numbers are left out on purpose: code moving down a file, or an
edit elsewhere in it, does not change what the finding is.
"""

from __future__ import annotations

import hashlib
import re
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import replace

from service.domain.findings import Finding

_SPACE = re.compile(r"\s+")
FINGERPRINT_HEX_DIGITS = 20  # 80 bits: collisions are not a concern at any realistic number of findings


def normalise_code(code: str) -> str:
    """``code`` with each line's whitespace collapsed and blank lines dropped."""
    lines = (_SPACE.sub(" ", line).strip() for line in code.splitlines())
    return "\n".join(line for line in lines if line)


def fingerprint(*, rule_id: str, path: str, symbol: str, code: str, occurrence: int) -> str:
    """The fingerprint of one finding; ``occurrence`` counts identical earlier findings (0 for the first)."""
    material = "\x1f".join([rule_id, path, symbol, normalise_code(code), str(occurrence)])
    return hashlib.sha256(material.encode("utf-8")).hexdigest()[:FINGERPRINT_HEX_DIGITS]


def with_fingerprints(findings: Iterable[Finding]) -> list[Finding]:
    """The findings, in file and line order, each with its fingerprint filled in."""
    ordered = sorted(findings, key=lambda f: (f.path, f.start_line, f.end_line, f.rule_id, f.message))
    seen: defaultdict[tuple[str, str, str, str], int] = defaultdict(int)
    result = []
    for finding in ordered:
        key = (finding.rule_id, finding.path, finding.symbol, normalise_code(finding.snippet))
        occurrence = seen[key]
        seen[key] += 1
        result.append(
            replace(
                finding,
                fingerprint=fingerprint(
                    rule_id=finding.rule_id,
                    path=finding.path,
                    symbol=finding.symbol,
                    code=finding.snippet,
                    occurrence=occurrence,
                ),
            )
        )
    return result
