"""build_embedder: settings to adapter, checked at once, loaded on first use; the container's embedder."""

from __future__ import annotations

import io
import json
from pathlib import Path

import boto3
import pytest
from botocore.response import StreamingBody
from botocore.stub import Stubber

from service.adapters.embeddings import LazyEmbedder, build_embedder
from service.adapters.embeddings.fake import HashingEmbedder
from service.container import build_container
from service.errors import ConfigurationError
from service.settings import EmbeddingSettings
from tests.conftest import make_settings
from tests.embedding_server import EmbeddingServer


def test_local_default_is_not_loaded_until_used(tmp_path: Path) -> None:
    embedder = build_embedder(make_settings(tmp_path))
    assert isinstance(embedder, LazyEmbedder)
    assert embedder.model_id == "local:all-MiniLM-L6-v2-int8"
    assert embedder.dimensions == 384
    assert not embedder.loaded
    assert not (tmp_path / "data" / "models").exists()


def test_exact_fp32_is_a_separate_model(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, embeddings=EmbeddingSettings(model="all-MiniLM-L6-v2"))
    assert build_embedder(settings).model_id == "local:all-MiniLM-L6-v2"


@pytest.mark.parametrize(
    "conf",
    [
        EmbeddingSettings(model="bge-small"),
        EmbeddingSettings(dimensions=768),
        EmbeddingSettings(provider="bedrock", model="amazon.titan-embed-text-v2:0", dimensions=100),
        EmbeddingSettings(provider="bedrock", model="anthropic.claude-v2"),
        EmbeddingSettings(provider="openai", model="text-embedding-3-small"),
        EmbeddingSettings(provider="openai", base_url="http://127.0.0.1:9/v1"),
    ],
)
def test_bad_settings_fail_at_build_time(tmp_path: Path, conf: EmbeddingSettings) -> None:
    with pytest.raises(ConfigurationError) as raised:
        build_embedder(make_settings(tmp_path, embeddings=conf))
    assert raised.value.hint


def test_bedrock_uses_the_injected_client_on_first_embed(tmp_path: Path) -> None:
    client = boto3.client("bedrock-runtime", region_name="us-east-1", aws_access_key_id="t", aws_secret_access_key="t")
    settings = make_settings(tmp_path, embeddings=EmbeddingSettings(provider="bedrock", dimensions=512))
    embedder = build_embedder(settings, bedrock_client=client)
    assert embedder.model_id == "bedrock:amazon.titan-embed-text-v2:0:512"
    assert embedder.dimensions == 512
    data = json.dumps({"embedding": [0.5] * 512}).encode()
    with Stubber(client) as stubber:
        response = {"body": StreamingBody(io.BytesIO(data), len(data)), "contentType": "application/json"}
        stubber.add_response("invoke_model", response)
        assert embedder.embed_query("x").shape == (512,)


def test_openai_with_the_injected_http_client(tmp_path: Path, embedding_server: EmbeddingServer) -> None:
    import httpx

    conf = EmbeddingSettings(provider="openai", base_url=embedding_server.base_url, model="nomic-embed-text")
    with httpx.Client() as client:
        embedder = build_embedder(make_settings(tmp_path, embeddings=conf), http_client=client)
        assert embedder.model_id == f"openai:nomic-embed-text:{embedding_server.dimensions}"
        assert embedder.embed_documents(["a", "b"]).shape == (2, embedding_server.dimensions)


def test_the_container_builds_a_lazy_embedder_or_takes_one(tmp_path: Path) -> None:
    container = build_container(make_settings(tmp_path), in_memory=True)
    try:
        assert isinstance(container.embedder, LazyEmbedder)
        assert not container.embedder.loaded
    finally:
        container.close()
    fake = HashingEmbedder(16)
    container = build_container(make_settings(tmp_path), in_memory=True, embedder=fake)
    try:
        assert container.embedder is fake
    finally:
        container.close()


def test_environment_names(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TICKETSMITH_EMBEDDINGS__PROVIDER", "openai")
    monkeypatch.setenv("TICKETSMITH_EMBEDDINGS__BASE_URL", "http://127.0.0.1:11434/v1")
    monkeypatch.setenv("TICKETSMITH_EMBEDDINGS__MODEL", "nomic-embed-text")
    monkeypatch.setenv("TICKETSMITH_EMBEDDINGS__API_KEY", "secret-token-value")
    monkeypatch.setenv("TICKETSMITH_EMBEDDINGS__DIMENSIONS", "768")
    settings = make_settings(tmp_path)
    assert settings.embeddings.provider == "openai"
    assert settings.embeddings.dimensions == 768
    assert "secret-token-value" not in repr(settings)
    assert build_embedder(settings).model_id == "openai:nomic-embed-text:768"
