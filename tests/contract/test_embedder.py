"""One suite for the Embedder port, run against every adapter.

local and local-int8: the real MiniLM graphs; fake: the hashing embedder; bedrock-titan and bedrock-cohere: a
real boto3 client answered in-process (tests/bedrock_runtime.py); openai: real HTTP to a loopback server
(tests/embedding_server.py).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from service.adapters.embeddings.bedrock import BedrockEmbedder
from service.adapters.embeddings.fake import HashingEmbedder
from service.adapters.embeddings.local import LocalMiniLMEmbedder
from service.adapters.embeddings.openai_compat import OpenAICompatibleEmbedder
from service.ports.embedder import Embedder
from tests.bedrock_runtime import local_bedrock_runtime
from tests.embedding_server import EmbeddingServer

TEXTS = [
    "def parse_config(path: str) -> dict:\n    return json.loads(Path(path).read_text())",
    "How do I read the configuration file?",
    "",
    "Café naïve façade — 机器学习 🚀",
    "class RetryPolicy:\n    attempts = 5",
]


@pytest.fixture(scope="session")
def local_embedder(tmp_path_factory: pytest.TempPathFactory) -> LocalMiniLMEmbedder:
    return LocalMiniLMEmbedder(cache_dir=tmp_path_factory.mktemp("models"), threads=2)


@pytest.fixture(scope="session")
def local_int8_embedder(tmp_path_factory: pytest.TempPathFactory) -> LocalMiniLMEmbedder:
    return LocalMiniLMEmbedder(cache_dir=tmp_path_factory.mktemp("models-int8"), runtime="onnx-int8", threads=2)


@pytest.fixture(params=["local", "local-int8", "fake", "bedrock-titan", "bedrock-cohere", "openai"])
def embedder(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Embedder]:
    if request.param == "local":
        yield request.getfixturevalue("local_embedder")
    elif request.param == "local-int8":
        yield request.getfixturevalue("local_int8_embedder")
    elif request.param == "fake":
        yield HashingEmbedder(64)
    elif request.param == "bedrock-titan":
        yield BedrockEmbedder(local_bedrock_runtime(), dimensions=256)
    elif request.param == "bedrock-cohere":
        yield BedrockEmbedder(local_bedrock_runtime(), model="cohere.embed-multilingual-v3")
    else:
        server: EmbeddingServer = request.getfixturevalue("embedding_server")
        http = OpenAICompatibleEmbedder(base_url=server.base_url, model="contract-model", batch_size=2)
        yield http
        http.close()


def test_identity(embedder: Embedder) -> None:
    assert isinstance(embedder.model_id, str)
    assert ":" in embedder.model_id
    assert embedder.model_id == embedder.model_id
    assert embedder.dimensions >= 2


def test_documents_are_unit_float32_rows_in_order(embedder: Embedder) -> None:
    out = embedder.embed_documents(TEXTS)
    assert out.shape == (len(TEXTS), embedder.dimensions)
    assert out.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(out, axis=1), 1.0, rtol=1e-5)
    # Row i is text i: each row is (nearly) the text embedded alone, and nearer to it than to any other text.
    # Not exact for every model: int8 quantises activations per batch (cosine 0.97 seen for the empty text).
    singles = np.stack([embedder.embed_documents([t])[0] for t in TEXTS])
    similarity = out @ singles.T
    assert (similarity.argmax(axis=1) == np.arange(len(TEXTS))).all()
    assert similarity.diagonal().min() > 0.95


def test_empty_list_gives_an_empty_matrix(embedder: Embedder) -> None:
    out = embedder.embed_documents([])
    assert out.shape == (0, embedder.dimensions)
    assert out.dtype == np.float32


def test_query_is_one_unit_vector(embedder: Embedder) -> None:
    vector = embedder.embed_query("read the configuration file")
    assert vector.shape == (embedder.dimensions,)
    assert vector.dtype == np.float32
    assert float(np.linalg.norm(vector)) == pytest.approx(1.0, rel=1e-5)


def test_deterministic(embedder: Embedder) -> None:
    np.testing.assert_array_equal(embedder.embed_documents(TEXTS[:2]), embedder.embed_documents(TEXTS[:2]))


def test_related_texts_are_nearer(embedder: Embedder) -> None:
    query = embedder.embed_query("parse config path")
    docs = embedder.embed_documents(["def parse_config(path): ...", "the weather in Lisbon is sunny today"])
    assert float(query @ docs[0]) > float(query @ docs[1])
