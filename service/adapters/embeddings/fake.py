"""A deterministic, dependency-free embedder for tests: feature hashing of words and identifier parts.

Each text becomes a bag of lower-cased tokens (words, plus the parts of ``camelCase`` and ``snake_case``
identifiers), each hashed (blake2b, so the same on every run and machine) to a signed bucket of a ``dimensions``
vector, then L2-normalised. Texts that share words are near; texts that share none are orthogonal up to hash
collisions. A text with no tokens maps to a fixed unit vector so every row stays unit length.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence

import numpy as np

from service.ports.embedder import Matrix

_WORD = re.compile(r"[^\W_]+", re.UNICODE)
_PARTS = re.compile(r"[A-Z]+(?![a-z])|[A-Z]?[a-z]+|\d+")


def tokens(text: str) -> list[str]:
    """Lower-cased words and, for identifiers, their case-split parts (``getUserById`` -> get, user, by, id)."""
    out: list[str] = []
    for word in _WORD.findall(text):
        lower = word.lower()
        out.append(lower)
        parts = [p.lower() for p in _PARTS.findall(word)]
        if len(parts) > 1:
            out.extend(parts)
    return out


class HashingEmbedder:
    """:class:`service.ports.embedder.Embedder` by feature hashing; fast, deterministic, thread-safe."""

    def __init__(self, dimensions: int = 64) -> None:
        if dimensions < 2:
            raise ValueError("dimensions must be at least 2")
        self._dimensions = dimensions

    @property
    def model_id(self) -> str:
        return f"fake:hash-{self._dimensions}"

    @property
    def dimensions(self) -> int:
        return self._dimensions

    def _vector(self, text: str) -> Matrix:
        vector = np.zeros(self._dimensions, dtype=np.float32)
        for token in tokens(text):
            digest = int.from_bytes(hashlib.blake2b(token.encode("utf-8"), digest_size=8).digest(), "little")
            vector[digest % self._dimensions] += 1.0 if (digest >> 63) & 1 else -1.0
        norm = float(np.linalg.norm(vector))
        if norm == 0.0:
            vector[0] = 1.0
            return vector
        return vector / np.float32(norm)

    def embed_documents(self, texts: Sequence[str]) -> Matrix:
        out = np.zeros((len(texts), self._dimensions), dtype=np.float32)
        for i, text in enumerate(texts):
            out[i] = self._vector(text)
        return out

    def embed_query(self, text: str) -> Matrix:
        return self._vector(text)
