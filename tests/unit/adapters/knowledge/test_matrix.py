"""The int8 pre-scan of the dense matrix: its error bound holds and top-k equals a plain float32 scan."""

from __future__ import annotations

import dataclasses

import numpy as np
import numpy.typing as npt
import pytest

from service.adapters.knowledge.matrix import (
    QUANTISED_MIN_ROWS,
    IntegerScan,
    ModelVectors,
    RowSet,
    Snapshot,
    quantise,
)
from service.domain.knowledge import ChunkFilters

DIMENSIONS = 384


def unit_rows(rng: np.random.Generator, n: int) -> npt.NDArray[np.float32]:
    rows = rng.standard_normal((n, DIMENSIONS)).astype(np.float32)
    return (rows / np.linalg.norm(rows, axis=1, keepdims=True)).astype(np.float32)


def index_of(rows: npt.NDArray[np.float32], copies: int = 1) -> tuple[ModelVectors, RowSet]:
    """A model holding ``rows``; each row used by ``copies`` chunks (copies tie exactly)."""
    vectors = ModelVectors(DIMENSIONS)
    vectors.append(((i + 1, f"h{i}", row.tobytes()) for i, row in enumerate(rows)), up_to=len(rows))
    records = [
        (c * len(rows) + i, f"h{i}", "python" if i % 3 else "go", "function", f"pkg{i % 7}/m{i}.py")
        for c in range(copies)
        for i in range(len(rows))
    ]
    return vectors, RowSet.build((1,), vectors, records)


def plain(view: Snapshot) -> Snapshot:
    return dataclasses.replace(view, scan=None)


def assert_same(got: list[tuple[int, float]], want: list[tuple[int, float]]) -> None:
    """Same keys in the same order; scores equal up to float32 rounding (BLAS sums a gathered row its own way)."""
    assert [key for key, _ in got] == [key for key, _ in want]
    assert np.allclose([s for _, s in got], [s for _, s in want], rtol=0, atol=1e-6)


def test_quantise_error_is_within_half_a_scale_step() -> None:
    rows = unit_rows(np.random.default_rng(0), 200)
    rows[3] = 0
    codes, scales, l1 = quantise(rows)
    decoded = scales[:, None] * (codes.astype(np.float32) - 128)
    assert np.all(np.abs(rows - decoded) <= scales[:, None] / 2 + 1e-7)
    assert scales[3] == 0
    assert np.all(codes[3] == 128)
    assert np.allclose(l1, np.abs(rows).sum(axis=1))


def test_small_models_scan_in_float32_only() -> None:
    vectors, _ = index_of(unit_rows(np.random.default_rng(1), 100))
    assert vectors.view().scan is None


@pytest.mark.parametrize(
    "filters",
    [None, ChunkFilters(language="python"), ChunkFilters(path_glob="pkg3/*"), ChunkFilters(kind="class")],
)
def test_int8_prescan_gives_the_float32_top_k(filters: ChunkFilters | None) -> None:
    rng = np.random.default_rng(2)
    rows = unit_rows(rng, QUANTISED_MIN_ROWS + 500)
    vectors, row_set = index_of(rows, copies=2)  # every score tied twice: ties must break the same way
    view = vectors.view()
    assert view.scan is not None
    queries = [rows[5], *unit_rows(rng, 5), (rows[9] + rows[10]) / np.linalg.norm(rows[9] + rows[10])]
    for query in queries:
        query = np.asarray(query, dtype=np.float32)
        for k in (1, 10, 50):
            assert_same(row_set.top_k(view, query, k, filters), row_set.top_k(plain(view), query, k, filters))


def test_int8_prescan_on_near_duplicate_vectors() -> None:
    # Scores closer together than the int8 step: the bound must keep every row that could make the top k.
    rng = np.random.default_rng(3)
    base = unit_rows(rng, 1)[0]
    rows = base + 1e-3 * rng.standard_normal((QUANTISED_MIN_ROWS, DIMENSIONS)).astype(np.float32)
    rows = (rows / np.linalg.norm(rows, axis=1, keepdims=True)).astype(np.float32)
    vectors, row_set = index_of(rows)
    view = vectors.view()
    best = row_set.top_k(view, base, 20, None)
    assert_same(best, row_set.top_k(plain(view), base, 20, None))
    assert len(best) == 20


def test_zero_query_and_k_above_the_candidates_fall_back_to_float32() -> None:
    rows = unit_rows(np.random.default_rng(4), QUANTISED_MIN_ROWS)
    vectors, row_set = index_of(rows)
    view = vectors.view()
    zero = np.zeros(DIMENSIONS, dtype=np.float32)
    assert_same(row_set.top_k(view, zero, 5, None), row_set.top_k(plain(view), zero, 5, None))
    go = ChunkFilters(language="go")
    k = QUANTISED_MIN_ROWS // 3 + 10
    assert_same(row_set.top_k(view, rows[0], k, go), row_set.top_k(plain(view), rows[0], k, go))


def test_rows_appended_after_a_view_do_not_change_it() -> None:
    rng = np.random.default_rng(5)
    vectors, _ = index_of(unit_rows(rng, QUANTISED_MIN_ROWS))
    view = vectors.view()
    codes = view.codes.copy()
    extra = unit_rows(rng, QUANTISED_MIN_ROWS)
    vectors.append(((QUANTISED_MIN_ROWS + i + 1, f"x{i}", r.tobytes()) for i, r in enumerate(extra)), up_to=10**6)
    assert np.array_equal(view.codes, codes)
    later = vectors.view()
    assert later.codes.shape[0] == 2 * QUANTISED_MIN_ROWS
    assert np.array_equal(later.codes[QUANTISED_MIN_ROWS:], quantise(extra)[0])


@pytest.mark.parametrize("parts", [1, 2, 3])
def test_integer_scan_in_row_blocks_gives_the_exact_integer_dots(parts: int) -> None:
    rng = np.random.default_rng(6)
    codes = rng.integers(0, 256, (3 * 16384 + 17, DIMENSIONS), dtype=np.uint8)
    query = rng.integers(-127, 128, DIMENSIONS).astype(np.int8)
    want = (codes.astype(np.int64) - 128) @ query.astype(np.int64)
    assert np.array_equal(IntegerScan(DIMENSIONS, parts=parts).run(codes, query), want)
