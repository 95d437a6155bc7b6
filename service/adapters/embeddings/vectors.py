"""Small numpy helpers every embedding adapter shares."""

from __future__ import annotations

import numpy as np

from service.ports.embedder import Matrix


def as_float32(array: object) -> Matrix:
    """``array`` as a float32 ndarray (no copy when it already is one)."""
    result: Matrix = np.asarray(array, dtype=np.float32)
    return result


def l2_normalise(vectors: Matrix) -> Matrix:
    """Rows divided by their Euclidean norm (as ``torch.nn.functional.normalize``: norms clamped at 1e-12)."""
    norms = np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
    return as_float32(vectors / norms)


def first_row(matrix: Matrix) -> Matrix:
    """Row 0 of a matrix, as a vector of shape ``(columns,)``."""
    row: Matrix = matrix[0]
    return row
