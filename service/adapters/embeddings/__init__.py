"""Embedder adapters and the one function that picks one from settings.

``build_embedder`` checks the settings at once (a bad model name fails at start-up) but loads nothing: the model,
the boto3 client or the HTTP client is made on the first embedding call, so ``serve`` starts fast and commands
that never embed never pay for the model.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from service.errors import ConfigurationError
from service.ports.embedder import Embedder, Matrix
from service.settings import Settings

if TYPE_CHECKING:
    import httpx

    from service.adapters.embeddings.bedrock import BedrockRuntime

LOCAL_MODELS = {"all-MiniLM-L6-v2": "onnx", "all-MiniLM-L6-v2-int8": "onnx-int8"}
# int8 by default: on 2 cores it embeds 71.8 chunks/s against 40.3 for fp32 (torch: 33.4), with docstring ->
# function MRR@10 0.676 against 0.679 (docs/benchmarks/embeddings.json). all-MiniLM-L6-v2 gives the torch
# model's exact vectors.
DEFAULT_LOCAL_MODEL = "all-MiniLM-L6-v2-int8"
LOCAL_DIMENSIONS = 384


class LazyEmbedder:
    """An :class:`Embedder` that builds the real one on first use (thread-safe, at most once).

    ``model_id`` and ``dimensions``, when known from settings, are answered without loading.
    """

    def __init__(
        self, load: Callable[[], Embedder], *, model_id: str | None = None, dimensions: int | None = None
    ) -> None:
        self._load = load
        self._model_id = model_id
        self._dimensions = dimensions
        self._inner: Embedder | None = None
        self._lock = threading.Lock()

    @property
    def loaded(self) -> bool:
        """True once the real embedder has been built."""
        return self._inner is not None

    def _get(self) -> Embedder:
        if self._inner is None:
            with self._lock:
                if self._inner is None:
                    self._inner = self._load()
        return self._inner

    @property
    def model_id(self) -> str:
        return self._model_id if self._model_id is not None else self._get().model_id

    @property
    def dimensions(self) -> int:
        return self._dimensions if self._dimensions is not None else self._get().dimensions

    def embed_documents(self, texts: Sequence[str]) -> Matrix:
        return self._get().embed_documents(texts)

    def embed_query(self, text: str) -> Matrix:
        return self._get().embed_query(text)


def _bedrock_client(region: str | None) -> BedrockRuntime:
    """A ``bedrock-runtime`` client (imported here: boto3 costs start-up time that only Bedrock users pay)."""
    import boto3
    from botocore.config import Config

    # Our adapter retries throttling itself, with jitter; botocore's own retries would multiply the attempts.
    config = Config(retries={"total_max_attempts": 1, "mode": "standard"}, read_timeout=60, connect_timeout=10)
    client: BedrockRuntime = boto3.client("bedrock-runtime", region_name=region, config=config)
    return client


def build_embedder(
    settings: Settings,
    *,
    bedrock_client: BedrockRuntime | None = None,
    http_client: httpx.Client | None = None,
) -> Embedder:
    """The embedder ``settings.embeddings`` asks for, not yet loaded (see :class:`LazyEmbedder`).

    ``bedrock_client`` (a boto3 ``bedrock-runtime`` client) and ``http_client`` replace the ones made from
    settings. Raises :class:`ConfigurationError` for an unknown model or a missing required setting.
    """
    conf = settings.embeddings
    if conf.provider == "local":
        name = conf.model or DEFAULT_LOCAL_MODEL
        if name not in LOCAL_MODELS:
            raise ConfigurationError(
                f"unknown local embedding model {name!r}", hint=f"use one of {', '.join(LOCAL_MODELS)}"
            )
        if conf.dimensions not in (None, LOCAL_DIMENSIONS):
            raise ConfigurationError(
                f"{name} gives {LOCAL_DIMENSIONS} dimensions, not {conf.dimensions}",
                hint="leave TICKETSMITH_EMBEDDINGS__DIMENSIONS unset for the local model",
            )
        runtime = LOCAL_MODELS[name]

        def load_local() -> Embedder:
            from service.adapters.embeddings.local import LocalMiniLMEmbedder

            return LocalMiniLMEmbedder(
                cache_dir=settings.data_dir / "models",
                runtime="onnx-int8" if runtime == "onnx-int8" else "onnx",
                threads=conf.threads,
                batch_size=conf.batch_size,
            )

        return LazyEmbedder(load_local, model_id=f"local:{name}", dimensions=LOCAL_DIMENSIONS)

    if conf.provider == "bedrock":
        from service.adapters.embeddings.bedrock import TITAN_V2, BedrockEmbedder, resolve_model

        model = conf.model or TITAN_V2
        model_id, dimensions = resolve_model(model, conf.dimensions)

        def load_bedrock() -> Embedder:
            client = bedrock_client or _bedrock_client(conf.region)
            return BedrockEmbedder(client, model=model, dimensions=conf.dimensions)

        return LazyEmbedder(load_bedrock, model_id=model_id, dimensions=dimensions)

    from service.adapters.embeddings.openai_compat import OpenAICompatibleEmbedder

    if not conf.base_url or not conf.model:
        raise ConfigurationError(
            "the openai embedding provider needs a base URL and a model",
            hint="set TICKETSMITH_EMBEDDINGS__BASE_URL (e.g. https://api.openai.com/v1) and "
            "TICKETSMITH_EMBEDDINGS__MODEL",
        )
    base_url, model_name = conf.base_url, conf.model

    def load_openai() -> Embedder:
        return OpenAICompatibleEmbedder(
            base_url=base_url,
            model=model_name,
            api_key=conf.api_key,
            dimensions=conf.dimensions,
            batch_size=conf.batch_size,
            http_client=http_client,
        )

    known_id = f"openai:{model_name}:{conf.dimensions}" if conf.dimensions else None
    return LazyEmbedder(load_openai, model_id=known_id, dimensions=conf.dimensions)
