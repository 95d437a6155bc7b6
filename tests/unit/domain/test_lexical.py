"""Search terms: identifiers split on case, underscores and digits, whole identifier kept."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from service.domain.lexical import query_terms, search_terms, search_text


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("getHTTPResponse", ["gethttpresponse", "get", "http", "response"]),
        ("XMLHttpRequest", ["xmlhttprequest", "xml", "http", "request"]),
        ("snake_case_name", ["snakecasename", "snake", "case", "name"]),
        ("HTTPServer", ["httpserver", "http", "server"]),
        ("sha256sum", ["sha256sum", "sha", "256", "sum"]),
        ("parse_url2", ["parseurl2", "parse", "url"]),
        ("__init__", ["init"]),
        ("ABC", ["abc"]),
        ("IOError", ["ioerror", "io", "error"]),
        ("self.foo_bar(a, b)  # the http", ["self", "foobar", "foo", "bar", "http"]),
        ("café_Über", ["caféüber", "café", "über"]),
        ("", []),
        ("x = y + 1", []),
    ],
)
def test_identifiers_split_like_a_programmer_reads_them(text: str, expected: list[str]) -> None:
    assert search_terms(text) == expected


def test_term_frequency_is_kept_for_documents_and_dropped_for_queries() -> None:
    assert search_terms("retry retry_count") == ["retry", "retrycount", "retry", "count"]
    assert query_terms("retry retry_count") == ["retry", "retrycount", "count"]


def test_query_and_document_spellings_meet() -> None:
    document = set(search_terms("def get_http_response(self): return self.getHTTPResponse()"))
    assert set(query_terms("HTTP response")) <= document


@given(st.text())
def test_terms_are_lower_case_word_characters_of_two_or_more(text: str) -> None:
    for term in search_terms(text):
        assert 2 <= len(term) <= 64
        assert term == term.lower()
        assert term.isalnum(), term


def test_lower_casing_that_adds_combining_marks_still_gives_word_characters() -> None:
    assert search_terms("İstanbul") == ["istanbul"]


@given(st.text() | st.text(alphabet=st.characters(max_codepoint=127)))
def test_search_text_is_the_terms_joined_by_spaces(text: str) -> None:
    assert search_text(text) == " ".join(search_terms(text))


def test_search_text_of_code_and_of_non_ascii_text() -> None:
    code = "def get_http_response(self):\n\treturn self.getHTTPResponse()  # x=1\x1c\x7f"
    assert search_text(code) == " ".join(search_terms(code))
    assert search_text("café_Über İstanbul") == "caféüber café über istanbul"
