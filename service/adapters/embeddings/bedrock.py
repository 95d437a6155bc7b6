"""Embeddings from Amazon Bedrock (``InvokeModel`` on an injected boto3 ``bedrock-runtime`` client).

Two model families, each with its own request and response body (the body is an opaque blob to botocore):

* Amazon Titan Text Embeddings V2 (``amazon.titan-embed-text-v2:0``), one text per call. Request
  ``{"inputText", "dimensions": 1024|512|256, "normalize"}``, response ``{"embedding": [...],
  "inputTextTokenCount", "embeddingsByType"}`` -- docs.aws.amazon.com/bedrock/latest/userguide/
  model-parameters-titan-embed-text.html ("V2 Request", "V2 Response"). Input limit 50,000 characters.
* Cohere Embed v3 (``cohere.embed-english-v3``, ``cohere.embed-multilingual-v3``), up to 96 texts per call of up
  to 2,048 characters each. Request ``{"texts", "input_type": "search_document"|"search_query", "truncate":
  "NONE"|"START"|"END"}``, response ``{"embeddings": [[...]], "id", "response_type": "embeddings_floats",
  "texts"}`` (or ``{"embeddings": {"float": [[...]]}}`` when ``embedding_types`` is sent) --
  docs.aws.amazon.com/bedrock/latest/userguide/model-parameters-embed.html ("Request and Response").

Throttling and transient server errors are retried with jittered back-off; everything else becomes
:class:`UpstreamFailed` with a hint. The client should be built with botocore's own retries off (the factory does
that) so the two retry loops do not multiply.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Protocol

import numpy as np
from botocore.exceptions import BotoCoreError, ClientError, ConnectionError, NoCredentialsError, ReadTimeoutError

from service.adapters.embeddings.retry import Backoff
from service.adapters.embeddings.vectors import first_row, l2_normalise
from service.errors import ConfigurationError, UpstreamFailed
from service.ports.embedder import Matrix

log = logging.getLogger(__name__)

TITAN_V2 = "amazon.titan-embed-text-v2:0"
TITAN_DIMENSIONS = (1024, 512, 256)
TITAN_MAX_CHARS = 50_000
COHERE_MAX_TEXTS = 96
COHERE_MAX_CHARS = 2_048
COHERE_DIMENSIONS = 1024
# Bedrock runtime error codes worth another try (botocore bedrock-runtime service model, InvokeModel errors).
RETRYABLE_CODES = frozenset(
    {
        "ThrottlingException",
        "ServiceUnavailableException",
        "ServiceUnavailable",
        "InternalServerException",
        "ModelNotReadyException",
        "ModelTimeoutException",
    }
)
_HINTS = {
    "AccessDeniedException": "grant bedrock:InvokeModel on this model and enable model access in the Bedrock console",
    "ResourceNotFoundException": "check the model id and that the model is offered in this region",
    "ValidationException": "check the model id and the embedding dimensions setting",
    "UnrecognizedClientException": "check the AWS credentials",
}


class BedrockRuntime(Protocol):
    """The one method of a boto3 ``bedrock-runtime`` client we call."""

    def invoke_model(self, **kwargs: Any) -> Mapping[str, Any]: ...


def _family(model: str) -> str:
    # Also matches cross-region inference profiles such as ``us.cohere.embed-english-v3``.
    if "amazon.titan-embed-text-v2" in model:
        return "titan"
    if "cohere.embed-english-v3" in model or "cohere.embed-multilingual-v3" in model:
        return "cohere"
    raise ConfigurationError(
        f"unsupported Bedrock embedding model {model!r}",
        hint=f"use {TITAN_V2}, cohere.embed-english-v3 or cohere.embed-multilingual-v3",
    )


def resolve_model(model: str, dimensions: int | None) -> tuple[str, int]:
    """``(model_id, dimensions)`` for a Bedrock model and requested size; :class:`ConfigurationError` if invalid."""
    if _family(model) == "titan":
        size = dimensions or TITAN_DIMENSIONS[0]
        if size not in TITAN_DIMENSIONS:
            raise ConfigurationError(
                f"Titan Text Embeddings V2 gives 1024, 512 or 256 dimensions, not {size}",
                hint="set TICKETSMITH_EMBEDDINGS__DIMENSIONS to 1024, 512 or 256",
            )
        return f"bedrock:{model}:{size}", size
    if dimensions not in (None, COHERE_DIMENSIONS):
        raise ConfigurationError(
            f"Cohere Embed v3 gives {COHERE_DIMENSIONS} dimensions, not {dimensions}",
            hint="leave TICKETSMITH_EMBEDDINGS__DIMENSIONS unset for Cohere",
        )
    return f"bedrock:{model}", COHERE_DIMENSIONS


def _unit_rows(rows: Sequence[Sequence[float]], dimensions: int, model: str) -> Matrix:
    matrix = np.asarray(rows, dtype=np.float32).reshape(len(rows), -1)
    if matrix.shape[1] != dimensions:
        raise UpstreamFailed(f"Bedrock {model} returned {matrix.shape[1]} dimensions, expected {dimensions}")
    return l2_normalise(matrix)


class BedrockEmbedder:
    """:class:`service.ports.embedder.Embedder` over Bedrock Titan Text Embeddings V2 or Cohere Embed v3.

    ``dimensions`` applies to Titan only (1024, 512 or 256; Cohere v3 is always 1024). Titan takes one text per
    call, so ``concurrency`` calls run at once (boto3 clients are thread-safe). Texts over a model's character
    limit are cut at it; Cohere is also asked to truncate the end of texts over its token limit.
    """

    def __init__(
        self,
        client: BedrockRuntime,
        *,
        model: str = TITAN_V2,
        dimensions: int | None = None,
        concurrency: int = 4,
        backoff: Backoff | None = None,
    ) -> None:
        self._client = client
        self._model = model
        self._family = _family(model)
        self._model_id, self._dimensions = resolve_model(model, dimensions)
        self._concurrency = max(1, concurrency)
        self._backoff = backoff or Backoff()

    @property
    def model_id(self) -> str:
        return self._model_id

    @property
    def dimensions(self) -> int:
        return self._dimensions

    def embed_documents(self, texts: Sequence[str]) -> Matrix:
        return self._embed(texts, input_type="search_document")

    def embed_query(self, text: str) -> Matrix:
        return first_row(self._embed([text], input_type="search_query"))

    def _embed(self, texts: Sequence[str], *, input_type: str) -> Matrix:
        if not texts:
            return np.zeros((0, self._dimensions), dtype=np.float32)
        if self._family == "titan":
            if len(texts) == 1:
                rows = [self._titan(texts[0])]
            else:
                with ThreadPoolExecutor(max_workers=min(self._concurrency, len(texts))) as pool:
                    rows = list(pool.map(self._titan, texts))
        else:
            rows = []
            for start in range(0, len(texts), COHERE_MAX_TEXTS):
                rows.extend(self._cohere(texts[start : start + COHERE_MAX_TEXTS], input_type))
        return _unit_rows(rows, self._dimensions, self._model)

    def _titan(self, text: str) -> list[float]:
        body = {"inputText": text[:TITAN_MAX_CHARS], "dimensions": self._dimensions, "normalize": True}
        answer = self._invoke(body)
        embedding = answer.get("embedding")
        if not isinstance(embedding, list):
            raise UpstreamFailed(f"Bedrock {self._model} answered without an 'embedding' list")
        return embedding

    def _cohere(self, texts: Sequence[str], input_type: str) -> list[list[float]]:
        body = {"texts": [t[:COHERE_MAX_CHARS] for t in texts], "input_type": input_type, "truncate": "END"}
        answer = self._invoke(body)
        embeddings = answer.get("embeddings")
        if isinstance(embeddings, dict):
            embeddings = embeddings.get("float")
        if not isinstance(embeddings, list) or len(embeddings) != len(texts):
            raise UpstreamFailed(f"Bedrock {self._model} answered without one embedding per text")
        return embeddings

    def _invoke(self, body: Mapping[str, Any]) -> Mapping[str, Any]:
        payload = json.dumps(body).encode("utf-8")
        for attempt in range(1, self._backoff.attempts + 1):
            try:
                response = self._client.invoke_model(
                    modelId=self._model, body=payload, contentType="application/json", accept="application/json"
                )
                decoded = json.loads(response["body"].read())
                if not isinstance(decoded, dict):
                    raise UpstreamFailed(f"Bedrock {self._model} answered with a non-object body")
                return decoded
            except ClientError as error:
                code = str(error.response.get("Error", {}).get("Code", ""))
                if code not in RETRYABLE_CODES or attempt == self._backoff.attempts:
                    raise self._failed(code, str(error), attempt) from error
                log.warning("bedrock embedding retry model=%s code=%s attempt=%d", self._model, code, attempt)
            except NoCredentialsError as error:
                raise UpstreamFailed(
                    "no AWS credentials for Bedrock", hint="configure AWS credentials (profile, env or role)"
                ) from error
            except (ConnectionError, ReadTimeoutError) as error:
                if attempt == self._backoff.attempts:
                    raise self._failed("Unreachable", str(error), attempt) from error
                log.warning("bedrock embedding retry model=%s error=%s attempt=%d", self._model, error, attempt)
            except BotoCoreError as error:
                raise self._failed(type(error).__name__, str(error), attempt) from error
            except (ValueError, KeyError) as error:
                raise UpstreamFailed(f"Bedrock {self._model} answered with an unreadable body: {error}") from error
            self._backoff.wait(attempt)
        raise AssertionError("unreachable")  # pragma: no cover

    def _failed(self, code: str, message: str, attempts: int) -> UpstreamFailed:
        hint = _HINTS.get(code, "retry later; if it persists check the Bedrock service health and quotas")
        if attempts > 1:
            hint = f"{hint} (gave up after {attempts} attempts)"
        return UpstreamFailed(
            f"Bedrock embedding with {self._model} failed: {code or 'error'}: {message}",
            hint=hint,
            details={"model": self._model, "code": code, "attempts": attempts},
        )
