"""The Bedrock embedder against a real boto3 client whose answers come from botocore's Stubber.

The Stubber validates our ``invoke_model`` parameters against botocore's own bedrock-runtime model; the body is a
blob to botocore, so :class:`JsonBody` checks its JSON too.
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from typing import Any

import boto3
import numpy as np
import pytest
from botocore.response import StreamingBody
from botocore.stub import Stubber

from service.adapters.embeddings.bedrock import BedrockEmbedder
from service.adapters.embeddings.retry import Backoff
from service.errors import ConfigurationError, UpstreamFailed

TITAN = "amazon.titan-embed-text-v2:0"
COHERE = "cohere.embed-english-v3"


class JsonBody:
    """Equal to a request body (bytes) whose JSON decodes to ``expected``; records what it saw."""

    def __init__(self, expected: dict[str, Any]) -> None:
        self.expected = expected
        self.seen: Any = None

    def __eq__(self, other: object) -> bool:
        self.seen = json.loads(other) if isinstance(other, bytes | str) else other
        return bool(self.seen == self.expected)

    def __repr__(self) -> str:
        return f"JsonBody({self.expected!r}, seen={self.seen!r})"


def streaming(payload: dict[str, Any]) -> dict[str, Any]:
    data = json.dumps(payload).encode()
    return {"body": StreamingBody(io.BytesIO(data), len(data)), "contentType": "application/json"}


def expected_call(model: str, body: dict[str, Any]) -> dict[str, Any]:
    return {"modelId": model, "body": JsonBody(body), "contentType": "application/json", "accept": "application/json"}


class Sleeps:
    def __init__(self) -> None:
        self.calls: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.calls.append(seconds)


@pytest.fixture
def client() -> Iterator[tuple[Any, Stubber]]:
    real = boto3.client(
        "bedrock-runtime", region_name="us-east-1", aws_access_key_id="testing", aws_secret_access_key="testing"
    )
    with Stubber(real) as stubber:
        yield real, stubber
        stubber.assert_no_pending_responses()


def vector(seed: int, size: int) -> list[float]:
    return [float(x) for x in np.random.default_rng(seed).normal(size=size)]


def test_titan_sends_the_documented_body_and_normalises(client: tuple[Any, Stubber]) -> None:
    real, stubber = client
    for i, text in enumerate(["def f(): pass", "second"]):
        stubber.add_response(
            "invoke_model",
            streaming({"embedding": vector(i, 256), "inputTextTokenCount": 3, "embeddingsByType": {}}),
            expected_call(TITAN, {"inputText": text, "dimensions": 256, "normalize": True}),
        )
    embedder = BedrockEmbedder(real, model=TITAN, dimensions=256, concurrency=1)
    out = embedder.embed_documents(["def f(): pass", "second"])
    assert out.shape == (2, 256)
    assert out.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(out, axis=1), 1.0, rtol=1e-6)
    expected_first = np.array(vector(0, 256), dtype=np.float32)
    np.testing.assert_allclose(out[0], expected_first / np.linalg.norm(expected_first), rtol=1e-5)
    assert embedder.model_id == "bedrock:amazon.titan-embed-text-v2:0:256"


def test_titan_cuts_texts_at_its_character_limit(client: tuple[Any, Stubber]) -> None:
    real, stubber = client
    stubber.add_response(
        "invoke_model",
        streaming({"embedding": vector(1, 1024), "inputTextTokenCount": 9}),
        expected_call(TITAN, {"inputText": "x" * 50_000, "dimensions": 1024, "normalize": True}),
    )
    assert BedrockEmbedder(real).embed_query("x" * 60_000).shape == (1024,)


def test_cohere_batches_96_texts_per_call_with_input_types(client: tuple[Any, Stubber]) -> None:
    real, stubber = client
    texts = [f"text {i}" for i in range(100)]
    for batch in (texts[:96], texts[96:]):
        stubber.add_response(
            "invoke_model",
            streaming(
                {
                    "id": "abc",
                    "response_type": "embeddings_floats",
                    "texts": batch,
                    "embeddings": [vector(int(t.split()[1]), 1024) for t in batch],
                }
            ),
            expected_call(COHERE, {"texts": batch, "input_type": "search_document", "truncate": "END"}),
        )
    stubber.add_response(
        "invoke_model",
        streaming({"id": "q", "embeddings": {"float": [vector(7, 1024)]}, "texts": ["query"]}),
        expected_call(COHERE, {"texts": ["query"], "input_type": "search_query", "truncate": "END"}),
    )
    embedder = BedrockEmbedder(real, model=COHERE)
    out = embedder.embed_documents(texts)
    assert out.shape == (100, 1024)
    row_99 = np.array(vector(99, 1024), dtype=np.float32)
    np.testing.assert_allclose(out[99], row_99 / np.linalg.norm(row_99), rtol=1e-5)
    assert embedder.embed_query("query").shape == (1024,)
    assert embedder.model_id == "bedrock:cohere.embed-english-v3"


def test_throttling_is_retried_with_backoff(client: tuple[Any, Stubber]) -> None:
    real, stubber = client
    body = {"inputText": "hi", "dimensions": 1024, "normalize": True}
    stubber.add_client_error("invoke_model", "ThrottlingException", "Too many requests", 429)
    stubber.add_client_error("invoke_model", "ServiceUnavailableException", "busy", 503)
    stubber.add_response("invoke_model", streaming({"embedding": vector(3, 1024)}), expected_call(TITAN, body))
    sleeps = Sleeps()
    embedder = BedrockEmbedder(real, backoff=Backoff(attempts=4, base_seconds=1.0, sleep=sleeps, rng=lambda: 0.5))
    assert embedder.embed_query("hi").shape == (1024,)
    assert sleeps.calls == [1.0, 2.0]  # 0.5 * 1 * 2**1, then 0.5 * 1 * 2**2


def test_throttling_past_the_last_attempt_is_upstream_failed(client: tuple[Any, Stubber]) -> None:
    real, stubber = client
    for _ in range(3):
        stubber.add_client_error("invoke_model", "ThrottlingException", "Too many requests", 429)
    embedder = BedrockEmbedder(real, backoff=Backoff(attempts=3, sleep=Sleeps()))
    with pytest.raises(UpstreamFailed) as raised:
        embedder.embed_documents(["a"])
    assert "ThrottlingException" in raised.value.message
    assert raised.value.hint is not None
    assert "3 attempts" in raised.value.hint
    assert raised.value.details["attempts"] == 3


def test_access_denied_is_not_retried_and_says_what_to_fix(client: tuple[Any, Stubber]) -> None:
    real, stubber = client
    stubber.add_client_error("invoke_model", "AccessDeniedException", "no access", 403)
    sleeps = Sleeps()
    with pytest.raises(UpstreamFailed) as raised:
        BedrockEmbedder(real, backoff=Backoff(sleep=sleeps)).embed_query("a")
    assert raised.value.hint is not None
    assert "bedrock:InvokeModel" in raised.value.hint
    assert sleeps.calls == []


def test_a_response_of_the_wrong_size_is_upstream_failed(client: tuple[Any, Stubber]) -> None:
    real, stubber = client
    stubber.add_response("invoke_model", streaming({"embedding": vector(1, 512)}))
    with pytest.raises(UpstreamFailed, match="512 dimensions"):
        BedrockEmbedder(real).embed_query("a")


def test_empty_input_makes_no_call(client: tuple[Any, Stubber]) -> None:
    real, _ = client
    assert BedrockEmbedder(real, model=COHERE).embed_documents([]).shape == (0, 1024)


@pytest.mark.parametrize(
    ("model", "dimensions"),
    [("amazon.titan-embed-text-v1", None), (TITAN, 384), (COHERE, 512), ("meta.llama3-8b-instruct-v1:0", None)],
)
def test_unsupported_models_and_sizes_are_configuration_errors(
    client: tuple[Any, Stubber], model: str, dimensions: int | None
) -> None:
    real, _ = client
    with pytest.raises(ConfigurationError) as raised:
        BedrockEmbedder(real, model=model, dimensions=dimensions)
    assert raised.value.hint
