"""The hashing fake: deterministic, and near for texts that share words or identifier parts."""

from __future__ import annotations

import numpy as np
import pytest

from service.adapters.embeddings.fake import HashingEmbedder, tokens


def test_identifiers_are_split_on_case_and_underscores() -> None:
    assert tokens("getUserById parse_HTTP2") == [
        "getuserbyid",
        "get",
        "user",
        "by",
        "id",
        "parse",
        "http2",
        "http",
        "2",
    ]


def test_shared_words_are_nearer_than_unrelated_text() -> None:
    embedder = HashingEmbedder(256)
    query = embedder.embed_query("parse the config file")
    near, far = embedder.embed_documents(["def parse_config_file(path): ...", "render a chart of sales"])
    assert float(query @ near) > 0.4
    assert float(query @ near) > float(query @ far) + 0.3


def test_same_text_same_vector_across_instances() -> None:
    a = HashingEmbedder(32).embed_documents(["x y z"])
    b = HashingEmbedder(32).embed_documents(["x y z"])
    np.testing.assert_array_equal(a, b)
    assert HashingEmbedder(32).model_id == "fake:hash-32"


def test_text_without_tokens_is_still_a_unit_vector() -> None:
    vector = HashingEmbedder(8).embed_query("  !!! ")
    assert float(np.linalg.norm(vector)) == pytest.approx(1.0)


def test_too_few_dimensions_are_refused() -> None:
    with pytest.raises(ValueError, match="at least 2"):
        HashingEmbedder(1)
