"""Test doubles for the knowledge-base tests: an embedder that counts what it is asked to embed."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

import numpy as np

from service.ports.embedder import Matrix
from service.settings import KnowledgeBaseSettings


class CountingEmbedder:
    """Deterministic vectors from a hash of the text; remembers every text it embedded."""

    def __init__(self, dimensions: int = 16, model_id: str = "test:counting") -> None:
        self._dimensions = dimensions
        self._model_id = model_id
        self.calls: list[list[str]] = []

    @property
    def model_id(self) -> str:
        return self._model_id

    @property
    def dimensions(self) -> int:
        return self._dimensions

    @property
    def texts(self) -> list[str]:
        return [text for call in self.calls for text in call]

    def _vector(self, text: str) -> Matrix:
        seed = int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "big")
        row = np.random.default_rng(seed).standard_normal(self._dimensions).astype(np.float32)
        return np.asarray(row / np.linalg.norm(row), dtype=np.float32)

    def embed_documents(self, texts: Sequence[str]) -> Matrix:
        self.calls.append(list(texts))
        return np.stack([self._vector(t) for t in texts]) if texts else np.zeros((0, self._dimensions), np.float32)

    def embed_query(self, text: str) -> Matrix:
        return self._vector(text)


# The default fusion leans on the dense side, tuned for the real model; the hashing fake embedder ranks too crudely
# for that, so tests that search with it fuse with equal-weight RRF.
FAKE_EMBEDDER_FUSION = KnowledgeBaseSettings(fusion="rrf", lexical_weight=1.0, dense_weight=1.0)
