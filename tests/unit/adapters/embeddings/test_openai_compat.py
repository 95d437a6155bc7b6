"""The OpenAI-compatible embedder over real HTTP, against the loopback server in ``tests/embedding_server.py``."""

from __future__ import annotations

import socket
from datetime import UTC, datetime

import httpx
import numpy as np
import pytest
from pydantic import SecretStr

from service.adapters.embeddings.fake import HashingEmbedder
from service.adapters.embeddings.openai_compat import OpenAICompatibleEmbedder, retry_after_seconds
from service.adapters.embeddings.retry import Backoff
from service.errors import ConfigurationError, UpstreamFailed
from tests.embedding_server import EmbeddingServer


class Sleeps:
    def __init__(self) -> None:
        self.calls: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.calls.append(seconds)


def make(server: EmbeddingServer, **overrides: object) -> OpenAICompatibleEmbedder:
    options: dict[str, object] = {"base_url": server.base_url, "model": "text-embedding-3-small"}
    options.update(overrides)
    return OpenAICompatibleEmbedder(**options)  # type: ignore[arg-type]


def test_batches_keep_order_and_vectors_are_normalised(embedding_server: EmbeddingServer) -> None:
    texts = [f"function number {i} parses tokens" for i in range(7)]
    embedder = make(embedding_server, dimensions=48, batch_size=3, api_key=SecretStr("sk-test-123"))
    out = embedder.embed_documents(texts)
    assert [len(r["body"]["input"]) for r in embedding_server.requests] == [3, 3, 1]
    np.testing.assert_allclose(out, HashingEmbedder(48).embed_documents(texts), atol=1e-6)
    first = embedding_server.requests[0]
    assert first["headers"]["Authorization"] == "Bearer sk-test-123"
    assert first["body"] == {
        "model": "text-embedding-3-small",
        "input": texts[:3],
        "encoding_format": "float",
        "dimensions": 48,
    }
    assert embedder.model_id == "openai:text-embedding-3-small:48"


def test_dimensions_unset_are_probed_once_and_never_sent(embedding_server: EmbeddingServer) -> None:
    embedder = make(embedding_server)
    assert embedder.dimensions == embedding_server.dimensions
    assert embedder.embed_query("hello").shape == (embedding_server.dimensions,)
    assert len(embedding_server.requests) == 2
    assert all("dimensions" not in r["body"] for r in embedding_server.requests)
    assert "Authorization" not in embedding_server.requests[0]["headers"]


def test_empty_strings_are_sent_as_a_space(embedding_server: EmbeddingServer) -> None:
    out = make(embedding_server, dimensions=16).embed_documents(["", "x"])
    assert embedding_server.requests[0]["body"]["input"] == [" ", "x"]
    np.testing.assert_allclose(np.linalg.norm(out, axis=1), 1.0, rtol=1e-6)


def test_429_and_503_are_retried_honouring_retry_after(embedding_server: EmbeddingServer) -> None:
    embedding_server.fail_next(429, {"Retry-After": "3"})
    embedding_server.fail_next(503, {"retry-after-ms": "1500"})
    sleeps = Sleeps()
    embedder = make(embedding_server, dimensions=16, backoff=Backoff(sleep=sleeps, rng=lambda: 0.0))
    assert embedder.embed_documents(["a", "b"]).shape == (2, 16)
    assert sleeps.calls == [3.0, 1.5]
    assert len(embedding_server.requests) == 3


def test_retries_give_up_with_upstream_failed(embedding_server: EmbeddingServer) -> None:
    for _ in range(3):
        embedding_server.fail_next(500)
    embedder = make(embedding_server, dimensions=16, backoff=Backoff(attempts=3, sleep=Sleeps()))
    with pytest.raises(UpstreamFailed) as raised:
        embedder.embed_query("a")
    assert raised.value.details == {"status": 500, "attempts": 3}


def test_401_is_not_retried_and_names_the_setting(embedding_server: EmbeddingServer) -> None:
    embedding_server.fail_next(401)
    sleeps = Sleeps()
    with pytest.raises(UpstreamFailed) as raised:
        make(embedding_server, dimensions=16, backoff=Backoff(sleep=sleeps)).embed_query("a")
    assert raised.value.hint == "check TICKETSMITH_EMBEDDINGS__API_KEY"
    assert sleeps.calls == []


def test_a_wrong_base_url_is_explained(embedding_server: EmbeddingServer) -> None:
    embedder = make(embedding_server, base_url=embedding_server.base_url.removesuffix("/v1"), dimensions=16)
    with pytest.raises(UpstreamFailed) as raised:
        embedder.embed_query("a")
    assert raised.value.hint is not None
    assert "/v1" in raised.value.hint


def test_an_unreachable_server_is_upstream_failed() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    sleeps = Sleeps()
    embedder = OpenAICompatibleEmbedder(
        base_url=f"http://127.0.0.1:{port}/v1", model="m", dimensions=8, backoff=Backoff(attempts=2, sleep=sleeps)
    )
    with pytest.raises(UpstreamFailed, match="unreachable"):
        embedder.embed_query("a")
    assert len(sleeps.calls) == 1
    embedder.close()


def test_an_injected_client_is_used_and_left_open(embedding_server: EmbeddingServer) -> None:
    with httpx.Client() as client:
        embedder = make(embedding_server, dimensions=8, http_client=client)
        embedder.embed_query("a")
        embedder.close()
        assert not client.is_closed


def test_missing_settings_are_configuration_errors() -> None:
    with pytest.raises(ConfigurationError):
        OpenAICompatibleEmbedder(base_url="", model="m")
    with pytest.raises(ConfigurationError):
        OpenAICompatibleEmbedder(base_url="http://127.0.0.1:1/v1", model="")


def test_retry_after_forms() -> None:
    now = datetime(2026, 1, 1, 12, 0, 0, tzinfo=UTC)
    assert retry_after_seconds(httpx.Headers({"Retry-After": "7"})) == 7.0
    assert retry_after_seconds(httpx.Headers({"Retry-After": "Thu, 01 Jan 2026 12:00:05 GMT"}), now=now) == 5.0
    assert retry_after_seconds(httpx.Headers({"retry-after-ms": "250"})) == 0.25
    assert retry_after_seconds(httpx.Headers({"Retry-After": "soon"})) is None
    assert retry_after_seconds(httpx.Headers()) is None
