"""Port: turns text into vectors for dense retrieval."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

import numpy as np
import numpy.typing as npt

Matrix = npt.NDArray[np.float32]


class Embedder(Protocol):
    """An embedding model. ``model_id`` names model and settings (vectors from different ids never mix)."""

    @property
    def model_id(self) -> str:
        """A stable name such as ``local:all-MiniLM-L6-v2`` or ``bedrock:amazon.titan-embed-text-v2:0:1024``."""
        ...

    @property
    def dimensions(self) -> int:
        """Length of every vector this model returns."""
        ...

    def embed_documents(self, texts: Sequence[str]) -> Matrix:
        """One unit-length float32 row per text, in order. Texts longer than the model takes are truncated.

        Raises :class:`service.errors.HandlerFailed` (or a subclass) when a remote model fails after retries.
        """
        ...

    def embed_query(self, text: str) -> Matrix:
        """A single unit-length float32 vector (shape ``(dimensions,)``) for a search query."""
        ...
