"""Exact dense search over flat float32 matrices held in memory.

:class:`ModelVectors` holds every vector of one model, by embedding key, and only ever grows (vectors are
appended as they are stored; content embedded once stays embedded). :class:`RowSet` is one repository's view of
it: which row each chunk uses, with the metadata filters need. A repository change rebuilds only the row set
(no vectors are read again), so the first search after an incremental sync stays cheap.

A large scan is memory-bound, so each vector is also kept as int8 codes (one scale per row): the codes are scored
first (a quarter of the bytes, onnxruntime's u8s8 integer kernel), every score gets a proven error bound, and only
the rows whose bound reaches the k-th best lower bound are scored again in float32. The result is the same as a
float32 scan; only the bytes read differ.
"""

from __future__ import annotations

import fnmatch
import itertools
import os
import re
import threading
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TypeVar

import numpy as np
import numpy.typing as npt
import onnxruntime as ort
from onnx import TensorProto, helper

from service.domain.knowledge import ChunkFilters
from service.ports.chunk_index import Vector

# Path-glob masks are kept per row set; a handful of distinct globs is the usual case.
_MAX_GLOB_MASKS = 32
_T = TypeVar("_T", bound=np.generic)
# Below this many rows a float32 scan is already fast; the int8 pre-scan pays off above it.
QUANTISED_MIN_ROWS = 8192
_QUANTISE_ROWS = 4096
_MAX_SCAN_PARTS = 2
_MIN_PART_ROWS = 16384  # smaller blocks are not worth a thread hand-off
_CODE_OFFSET = 128  # codes are int8 values stored as uint8 + 128 (onnxruntime's fast kernel is u8 x s8)
# Slack added to every error bound: covers float32 rounding in the final scores (<= 384 * 2**-24 for unit vectors).
_BOUND_SLACK = 1e-4


def quantise(
    block: npt.NDArray[np.float32],
) -> tuple[npt.NDArray[np.uint8], npt.NDArray[np.float32], npt.NDArray[np.float32]]:
    """Each row as int8 codes (``round(v / scale)`` with ``scale = max|v| / 127``, stored + 128), its scale and L1 norm.

    ``|v - scale * code| <= scale / 2`` per component; an all-zero row gets scale 0 and codes of zero.
    """
    scales = np.zeros(len(block), dtype=np.float32)
    l1 = np.zeros(len(block), dtype=np.float32)
    codes = np.empty(block.shape, dtype=np.uint8)
    for start in range(0, len(block), _QUANTISE_ROWS):  # in slices: float temporaries of a whole model are large
        part = block[start : start + _QUANTISE_ROWS]
        magnitudes = np.abs(part)
        part_scales = (magnitudes.max(axis=1) / 127).astype(np.float32)
        l1[start : start + len(part)] = magnitudes.sum(axis=1)
        safe = np.where(part_scales > 0, part_scales, np.float32(1))
        codes[start : start + len(part)] = np.clip(np.rint(part / safe[:, None]), -127, 127) + _CODE_OFFSET
        scales[start : start + len(part)] = part_scales
    return codes, scales, l1


class IntegerScan:
    """``codes (n x d, uint8 - 128) @ query (d, int8)`` exactly in int32, by onnxruntime.

    A large scan is cut into ``parts`` row blocks run at once (the caller's thread and a pool; onnxruntime releases
    the GIL and one session may run concurrently): measured on 2 cores at 138k rows, 5.9 -> 1.6-3.2 ms p50.
    """

    def __init__(self, dimensions: int, *, parts: int | None = None) -> None:
        self._parts = max(1, parts if parts is not None else min(_MAX_SCAN_PARTS, os.cpu_count() or 1))
        self._pool = ThreadPoolExecutor(self._parts - 1, "int8-scan") if self._parts > 1 else None
        # MatMulInteger: https://onnx.ai/onnx/operators/onnx__MatMulInteger.html (scalar a_zero_point).
        graph = helper.make_graph(
            [helper.make_node("MatMulInteger", ["codes", "query", "offset"], ["dots"])],
            "int8_scan",
            [
                helper.make_tensor_value_info("codes", TensorProto.UINT8, ["rows", dimensions]),
                helper.make_tensor_value_info("query", TensorProto.INT8, [dimensions, 1]),
            ],
            [helper.make_tensor_value_info("dots", TensorProto.INT32, ["rows", 1])],
            initializer=[helper.make_tensor("offset", TensorProto.UINT8, [], [_CODE_OFFSET])],
        )
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
        model.ir_version = 9
        options = ort.SessionOptions()
        options.intra_op_num_threads = 1  # measured: onnxruntime's own second thread slows a scan; blocks do not
        options.inter_op_num_threads = 1
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        self._session = ort.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])

    def run(self, codes: npt.NDArray[np.uint8], query: npt.NDArray[np.int8]) -> npt.NDArray[np.int32]:
        column = query.reshape(-1, 1)
        if self._pool is None or len(codes) < self._parts * _MIN_PART_ROWS:
            return self._run(codes, column)
        bounds = np.linspace(0, len(codes), self._parts + 1).astype(int)
        futures = [self._pool.submit(self._run, codes[a:b], column) for a, b in itertools.pairwise(bounds[1:])]
        first = self._run(codes[: bounds[1]], column)
        return np.concatenate([first, *(future.result() for future in futures)])

    def _run(self, codes: npt.NDArray[np.uint8], column: npt.NDArray[np.int8]) -> npt.NDArray[np.int32]:
        (dots,) = self._session.run(["dots"], {"codes": codes, "query": column})
        return np.asarray(dots, dtype=np.int32).reshape(-1)


@dataclass(frozen=True)
class Snapshot:
    """The filled rows of a :class:`ModelVectors` at one moment: float32 vectors, their int8 codes and scales."""

    floats: npt.NDArray[np.float32]
    codes: npt.NDArray[np.uint8]
    scales: npt.NDArray[np.float32]
    l1: npt.NDArray[np.float32]
    scan: IntegerScan | None = None


class ModelVectors:
    """The unit vectors of one model, appended in the order they were stored (``seq``). Thread-safe."""

    def __init__(self, dimensions: int) -> None:
        self.dimensions = dimensions
        self.last_seq = 0
        self._rows = np.zeros((0, dimensions), dtype=np.float32)
        self._codes = np.zeros((0, dimensions), dtype=np.uint8)
        self._scales = np.zeros(0, dtype=np.float32)
        self._l1 = np.zeros(0, dtype=np.float32)
        self._scan: IntegerScan | None = None
        self._count = 0
        self._index: dict[str, int] = {}
        self._lock = threading.Lock()

    def append(self, records: Iterable[tuple[int, str, bytes]], *, up_to: int) -> None:
        """Add ``(seq, embedding key, float32 bytes)`` records, all those with ``last_seq < seq <= up_to``."""
        with self._lock:
            fresh = [(seq, h, blob) for seq, h, blob in records if h not in self._index]
            self.last_seq = max(self.last_seq, up_to)
            if not fresh:
                return
            needed = self._count + len(fresh)
            if needed > self._rows.shape[0]:  # grow by doubling; readers keep the array they took
                size = max(needed, 2 * self._rows.shape[0])
                self._rows = _grown(self._rows, size, self._count)
                self._codes = _grown(self._codes, size, self._count)
                self._scales = _grown(self._scales, size, self._count)
                self._l1 = _grown(self._l1, size, self._count)
            block = np.frombuffer(b"".join(blob for _, _, blob in fresh), dtype=np.float32)
            block = block.reshape(len(fresh), self.dimensions)
            self._rows[self._count : needed] = block
            codes, scales, l1 = quantise(block)
            self._codes[self._count : needed] = codes
            self._scales[self._count : needed] = scales
            self._l1[self._count : needed] = l1
            for offset, (_, key, _) in enumerate(fresh):
                self._index[key] = self._count + offset
            self._count = needed

    def rows_for(self, keys: Iterable[str]) -> npt.NDArray[np.int64]:
        """The row of each embedding key, or -1 where the key has no vector."""
        with self._lock:
            index = self._index
            return np.fromiter((index.get(h, -1) for h in keys), dtype=np.int64)

    def snapshot(self) -> npt.NDArray[np.float32]:
        """The filled rows; later appends never change them."""
        with self._lock:
            return self._rows[: self._count]

    def view(self) -> Snapshot:
        """The filled rows with their int8 codes; later appends never change them."""
        with self._lock:
            n = self._count
            if n >= QUANTISED_MIN_ROWS and self._scan is None:
                self._scan = IntegerScan(self.dimensions)
            return Snapshot(self._rows[:n], self._codes[:n], self._scales[:n], self._l1[:n], self._scan)


def _grown(array: npt.NDArray[_T], size: int, count: int) -> npt.NDArray[_T]:
    """A zeroed array of ``size`` rows holding the first ``count`` rows of ``array`` (readers keep the old one)."""
    grown = np.zeros((size, *array.shape[1:]), dtype=array.dtype)
    grown[:count] = array[:count]
    return grown


@dataclass
class RowSet:
    """One repository's embedded chunks for one model: chunk key, vector row, language, kind and path of each.

    ``version`` says which state of the index this was built from; the owner rebuilds when it changes.
    """

    version: tuple[int, ...]
    keys: npt.NDArray[np.int64]
    rows: npt.NDArray[np.int64]
    languages: npt.NDArray[np.str_]
    kinds: npt.NDArray[np.str_]
    paths: list[str]
    _glob_masks: dict[str, npt.NDArray[np.bool_]] = field(default_factory=dict)

    @classmethod
    def build(
        cls, version: tuple[int, ...], vectors: ModelVectors, records: list[tuple[int, str, str, str, str]]
    ) -> RowSet:
        """From ``(chunk key, embedding key, language, kind, path)`` of every chunk; those with no vector are left
        out."""
        rows = vectors.rows_for(r[1] for r in records)
        keep = np.flatnonzero(rows >= 0)
        kept = [records[i] for i in keep]
        return cls(
            version=version,
            keys=np.fromiter((r[0] for r in kept), dtype=np.int64, count=len(kept)),
            rows=rows[keep],
            languages=np.array([r[2] for r in kept], dtype=np.str_),
            kinds=np.array([r[3] for r in kept], dtype=np.str_),
            paths=[r[4] for r in kept],
        )

    def _mask(self, filters: ChunkFilters | None) -> npt.NDArray[np.bool_] | None:
        if filters is None or (filters.language is None and filters.kind is None and filters.path_glob is None):
            return None
        mask = np.ones(len(self.paths), dtype=np.bool_)
        if filters.language is not None:
            mask &= self.languages == filters.language
        if filters.kind is not None:
            mask &= self.kinds == filters.kind
        if filters.path_glob is not None:
            glob_mask = self._glob_masks.get(filters.path_glob)
            if glob_mask is None:
                match = re.compile(fnmatch.translate(filters.path_glob)).match  # what fnmatchcase uses
                glob_mask = np.fromiter((match(p) is not None for p in self.paths), np.bool_, len(self.paths))
                if len(self._glob_masks) >= _MAX_GLOB_MASKS:
                    self._glob_masks.clear()
                self._glob_masks[filters.path_glob] = glob_mask
            mask &= glob_mask
        return mask

    def top_k(self, vectors: Snapshot, query: Vector, k: int, filters: ChunkFilters | None) -> list[tuple[int, float]]:
        """The ``k`` best ``(key, cosine)`` among rows passing ``filters``, best first (exact, no index).

        The same as scoring every candidate in float32; with an integer scan in ``vectors`` only the rows that
        could be among the ``k`` best (by the error bound of their int8 score) are scored in float32.
        """
        matrix = vectors.floats
        if len(self.paths) == 0 or query.shape[0] != matrix.shape[1]:
            return []
        mask = self._mask(filters)
        candidates = np.flatnonzero(mask) if mask is not None else np.arange(len(self.paths))
        if len(candidates) == 0:
            return []
        rows = self.rows[candidates]
        # A zero (or NaN) query has no int8 codes: score it in float32.
        if vectors.scan is not None and k < len(candidates) and float(np.abs(query).max()) > 0:
            shortlist = _shortlist(vectors, vectors.scan, rows, query, k)
            candidates, rows = candidates[shortlist], rows[shortlist]
            scores = _gathered_scores(matrix, rows, query)
        else:
            # One pass over the whole matrix is cheaper than gathering most of it; gather when few rows are ours.
            scores = (
                (matrix @ query)[rows] if 2 * len(rows) >= matrix.shape[0] else _gathered_scores(matrix, rows, query)
            )
        if k < len(candidates):  # every row tied with the k-th, then ties by position: the same on both paths
            best = np.flatnonzero(scores >= np.partition(scores, len(scores) - k)[len(scores) - k])
        else:
            best = np.arange(len(candidates))
        best = best[np.argsort(-scores[best], kind="stable")][:k]
        return [(int(self.keys[candidates[i]]), float(scores[i])) for i in best]


def _gathered_scores(
    matrix: npt.NDArray[np.float32], rows: npt.NDArray[np.int64], query: Vector
) -> npt.NDArray[np.float32]:
    """``matrix[rows] @ query``, each distinct row scored once, so chunks sharing a vector tie exactly."""
    unique, inverse = np.unique(rows, return_inverse=True)
    scores: npt.NDArray[np.float32] = (matrix[unique] @ query)[inverse]
    return scores


def _shortlist(
    vectors: Snapshot, scan: IntegerScan, rows: npt.NDArray[np.int64], query: Vector, k: int
) -> npt.NDArray[np.int64]:
    """Positions in ``rows`` whose float32 score could be among the ``k`` best (at least ``k`` of them, sorted).

    With ``q = b p + d`` (query codes ``p``, ``|d| <= b/2``) and ``m = a r + e`` (``|e| <= a/2``):
    ``q.m - a b (p.r) = b p.e + d.m``, so ``|error| <= a/2 * b * |p|_1 + b/2 * |m|_1``. A row is kept when its
    upper bound reaches the k-th largest lower bound.
    """
    b = np.float32(np.abs(query).max() / 127)
    codes = np.clip(np.rint(query / b), -127, 127).astype(np.int8)
    # float32 is enough here: its rounding (~1e-7 on scores of at most 1) is far inside _BOUND_SLACK.
    per_scale = np.float32(b * np.abs(codes.astype(np.int32)).sum() / 2)
    if 2 * len(rows) >= vectors.codes.shape[0]:  # score every row, then take ours
        dots = scan.run(vectors.codes, codes)
        scales, l1 = vectors.scales, vectors.l1
    else:
        dots = scan.run(vectors.codes[rows], codes)
        scales, l1 = vectors.scales[rows], vectors.l1[rows]
    estimate = dots * (scales * b)
    error = scales * per_scale + l1 * (b / 2) + np.float32(_BOUND_SLACK)
    if len(estimate) != len(rows):
        estimate, error = estimate[rows], error[rows]
    lower = estimate - error
    threshold = np.partition(lower, len(lower) - k)[len(lower) - k]
    return np.flatnonzero(estimate + error >= threshold)
