"""Embeddings from any OpenAI-compatible ``POST {base_url}/embeddings`` endpoint (OpenAI, vLLM, Ollama, LiteLLM, ...).

Request ``{"model", "input": [str, ...], "encoding_format": "float", "dimensions"?}``; response ``{"object": "list",
"data": [{"object": "embedding", "index", "embedding": [float, ...]}], "model", "usage"}`` -- the OpenAI API
reference, "Create embeddings" (``CreateEmbeddingResponse``). ``data`` is put back in order by ``index``.

429 and 5xx answers and dropped connections are retried with jittered back-off; a ``Retry-After`` header (seconds or
an HTTP date) or ``retry-after-ms`` is honoured. Other failures become :class:`UpstreamFailed` with a hint.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

import httpx
import numpy as np
from pydantic import SecretStr

from service.adapters.embeddings.retry import Backoff
from service.adapters.embeddings.vectors import as_float32, first_row, l2_normalise
from service.errors import ConfigurationError, UpstreamFailed
from service.ports.embedder import Matrix

log = logging.getLogger(__name__)

RETRYABLE_STATUS = frozenset({408, 409, 429, 500, 502, 503, 504})
# OpenAI refuses empty strings and inputs over 8,192 tokens; a character cap keeps us under the token one.
MAX_CHARS = 24_000
_HINTS = {
    401: "check TICKETSMITH_EMBEDDINGS__API_KEY",
    403: "the API key may not use this model",
    404: "check TICKETSMITH_EMBEDDINGS__BASE_URL (it should end in /v1) and TICKETSMITH_EMBEDDINGS__MODEL",
    400: "check TICKETSMITH_EMBEDDINGS__MODEL and TICKETSMITH_EMBEDDINGS__DIMENSIONS",
}


def retry_after_seconds(headers: httpx.Headers, *, now: datetime | None = None) -> float | None:
    """The server's requested delay from ``retry-after-ms`` or ``Retry-After`` (seconds or HTTP date), if any."""
    if (ms := headers.get("retry-after-ms")) is not None:
        try:
            return max(0.0, float(ms) / 1000.0)
        except ValueError:
            pass
    value = headers.get("retry-after")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


class OpenAICompatibleEmbedder:
    """:class:`service.ports.embedder.Embedder` over an OpenAI-compatible embeddings endpoint; thread-safe.

    ``base_url`` is the API root such as ``https://api.openai.com/v1`` or ``http://127.0.0.1:11434/v1``. With
    ``dimensions`` unset the endpoint's own size is used (asked once with a probe text on first need) and no
    ``dimensions`` field is sent, since many compatible servers refuse it. ``http_client`` may be injected
    (its own base URL and headers are left alone; we send absolute URLs).
    """

    def __init__(
        self,
        *,
        base_url: str,
        model: str,
        api_key: SecretStr | None = None,
        dimensions: int | None = None,
        batch_size: int = 64,
        timeout_seconds: float = 60.0,
        http_client: httpx.Client | None = None,
        backoff: Backoff | None = None,
    ) -> None:
        if not base_url:
            raise ConfigurationError(
                "the OpenAI-compatible embedder needs a base URL",
                hint="set TICKETSMITH_EMBEDDINGS__BASE_URL, e.g. https://api.openai.com/v1",
            )
        if not model:
            raise ConfigurationError(
                "the OpenAI-compatible embedder needs a model name", hint="set TICKETSMITH_EMBEDDINGS__MODEL"
            )
        self._url = base_url.rstrip("/") + "/embeddings"
        self._model = model
        self._headers = {"Authorization": f"Bearer {api_key.get_secret_value()}"} if api_key else {}
        self._requested_dimensions = dimensions
        self._dimensions = dimensions
        self._batch_size = max(1, batch_size)
        self._client = http_client or httpx.Client(timeout=timeout_seconds)
        self._owns_client = http_client is None
        self._backoff = backoff or Backoff()
        self._lock = threading.Lock()

    @property
    def model_id(self) -> str:
        return f"openai:{self._model}:{self.dimensions}"

    @property
    def dimensions(self) -> int:
        if self._dimensions is None:
            with self._lock:
                if self._dimensions is None:
                    self._dimensions = len(self._post(["dimension probe"])[0])
        return self._dimensions

    def close(self) -> None:
        """Close the HTTP client if this embedder made it."""
        if self._owns_client:
            self._client.close()

    def embed_documents(self, texts: Sequence[str]) -> Matrix:
        if not texts:
            return np.zeros((0, self.dimensions), dtype=np.float32)
        rows: list[list[float]] = []
        for start in range(0, len(texts), self._batch_size):
            rows.extend(self._post(texts[start : start + self._batch_size]))
        matrix = as_float32(rows)
        if matrix.ndim != 2 or matrix.shape[1] != self.dimensions:
            raise UpstreamFailed(
                f"{self._url} returned vectors of {matrix.shape[-1]} dimensions, expected {self.dimensions}",
                hint="the endpoint's model changed: set TICKETSMITH_EMBEDDINGS__DIMENSIONS or re-index",
            )
        return l2_normalise(matrix)

    def embed_query(self, text: str) -> Matrix:
        return first_row(self.embed_documents([text]))

    def _post(self, texts: Sequence[str]) -> list[list[float]]:
        body: dict[str, Any] = {
            "model": self._model,
            "input": [t[:MAX_CHARS] or " " for t in texts],
            "encoding_format": "float",
        }
        if self._requested_dimensions is not None:
            body["dimensions"] = self._requested_dimensions
        for attempt in range(1, self._backoff.attempts + 1):
            try:
                response = self._client.post(self._url, json=body, headers=self._headers)
            except httpx.TransportError as error:
                if attempt == self._backoff.attempts:
                    raise UpstreamFailed(
                        f"embedding endpoint {self._url} unreachable after {attempt} attempts: {error}",
                        hint="check TICKETSMITH_EMBEDDINGS__BASE_URL and that the server is up",
                    ) from error
                log.warning("embedding retry url=%s error=%s attempt=%d", self._url, error, attempt)
                self._backoff.wait(attempt)
                continue
            if response.status_code == 200:
                return self._vectors(response, len(texts))
            if response.status_code not in RETRYABLE_STATUS or attempt == self._backoff.attempts:
                raise UpstreamFailed(
                    f"embedding endpoint {self._url} answered {response.status_code}: {response.text[:300]}",
                    hint=_HINTS.get(response.status_code, "retry later; if it persists check the embedding server"),
                    details={"status": response.status_code, "attempts": attempt},
                )
            log.warning("embedding retry url=%s status=%d attempt=%d", self._url, response.status_code, attempt)
            self._backoff.wait(attempt, retry_after_seconds(response.headers))
        raise AssertionError("unreachable")  # pragma: no cover

    def _vectors(self, response: httpx.Response, expected: int) -> list[list[float]]:
        try:
            data = response.json()["data"]
            ordered = sorted(data, key=lambda item: int(item["index"]))
            vectors = [list(item["embedding"]) for item in ordered]
        except (ValueError, KeyError, TypeError) as error:
            raise UpstreamFailed(
                f"embedding endpoint {self._url} answered in an unexpected shape: {error}",
                hint="the endpoint must follow the OpenAI /v1/embeddings response format",
            ) from error
        if len(vectors) != expected:
            raise UpstreamFailed(f"embedding endpoint {self._url} returned {len(vectors)} vectors for {expected} texts")
        return vectors
