"""Search terms for lexical retrieval: words and identifiers split the way programmers read them.

The same function splits indexed chunks and queries, in every index backend, so a query for ``http response``
finds ``getHTTPResponse`` and ``http_response`` alike. Every term is lower-case letters and digits only (no
underscore, no punctuation), so any full-text engine's tokenizer keeps it whole.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable

# A run of identifier characters (Unicode letters, digits, underscore).
_WORD = re.compile(r"\w+")
# Pieces of an ASCII identifier: an acronym before a capitalised word (HTTP|Response), an acronym at the end,
# a (capitalised) lower-case word, or a run of digits.
_PIECE = re.compile(r"[A-Z]+(?=[A-Z][a-z])|[A-Z]+(?![a-z])|[A-Z]?[a-z]+|[0-9]+")
# Non-ASCII identifiers are only split on underscores and letter/digit boundaries: case rules differ by script.
_UNICODE_PIECE = re.compile(r"[^\W\d_]+|\d+")

# Only English function words that carry no meaning in a query or in code comments; programming words
# (``if``, ``for``, ``self``, ``none``) stay, since users search for them.
STOP_WORDS = frozenset({"a", "an", "and", "are", "as", "at", "be", "by", "of", "on", "or", "the", "to", "was"})

MIN_TERM_LENGTH = 2
MAX_TERM_LENGTH = 64


def _pieces(word: str) -> list[str]:
    pieces: list[str] = []
    for part in word.split("_"):
        if not part:
            continue
        pattern = _PIECE if part.isascii() else _UNICODE_PIECE
        pieces.extend(pattern.findall(part))
    return pieces


def _lower(piece: str) -> str:
    if piece.isascii():
        return piece.lower()
    # Lower-casing can add combining marks (U+0130 gives "i" and U+0307), which no tokenizer keeps in a word.
    return "".join(ch for ch in piece.lower() if ch.isalnum())


def _keep(term: str) -> bool:
    return MIN_TERM_LENGTH <= len(term) <= MAX_TERM_LENGTH and term not in STOP_WORDS


@functools.lru_cache(maxsize=1 << 17)
def _word_terms(word: str) -> tuple[str, ...]:
    # Identifiers repeat a great deal in code, so each distinct word is split once (the cache is thread-safe).
    pieces = [_lower(piece) for piece in _pieces(word)]
    if not pieces:
        return ()
    whole = "".join(pieces)
    terms = [whole] if _keep(whole) else []
    if len(pieces) > 1:
        terms.extend(piece for piece in pieces if _keep(piece))
    return tuple(terms)


def search_terms(text: str) -> list[str]:
    """Every search term of ``text``, in order, repeated as often as it occurs (term frequency counts).

    Each identifier gives its whole lower-cased form without underscores, then, when it has more than one
    piece, each snake_case / camelCase / PascalCase / acronym / digit piece: ``getHTTPResponse`` gives
    ``gethttpresponse, get, http, response``; ``parse_url2`` gives ``parseurl2, parse, url, 2`` less the
    one-character ``2``. Terms shorter than two or longer than 64 characters and :data:`STOP_WORDS` are dropped.
    """
    terms: list[str] = []
    for word in _WORD.findall(text):
        terms.extend(_word_terms(word))
    return terms


class _JoinedTerms(dict[str, str]):
    """word → its terms joined by spaces, filled on first look-up (a plain dict hit costs no Python call)."""

    def __missing__(self, word: str) -> str:
        if len(self) >= _JOINED_LIMIT:  # bounded: a corpus of unique tokens must not grow it without end
            self.clear()
        if word.isascii() and word.isalpha() and word.islower():  # most words of code and prose: one piece
            joined = self[word] = word if _keep(word) else ""
        else:
            joined = self[word] = " ".join(_word_terms(word))
        return joined


_JOINED_LIMIT = 1 << 18
_joined = _JoinedTerms()
# In ASCII text the words of _WORD are exactly the runs of [A-Za-z0-9_]; mapping every other character to a space
# and splitting on whitespace finds the same words, several times faster than the regular expression.
_ASCII_SEPARATORS = {code: " " for code in range(128) if not (chr(code).isalnum() or chr(code) == "_")}


def search_text(text: str) -> str:
    """``" ".join(search_terms(text))``, computed faster: what a full-text engine indexes for a document.

    Thread-safe: a concurrent look-up at worst computes a word's terms twice.
    """
    words = text.translate(_ASCII_SEPARATORS).split() if text.isascii() else _WORD.findall(text)
    return " ".join(filter(None, map(_joined.__getitem__, words)))


def unique_terms(terms: Iterable[str]) -> list[str]:
    """``terms`` without repeats, first occurrence kept: the query side, where repeating a word adds nothing."""
    return list(dict.fromkeys(terms))


def query_terms(query: str) -> list[str]:
    """The distinct search terms of a user's query, in order (see :func:`search_terms`)."""
    return unique_terms(search_terms(query))
