"""The same encoder as :class:`bert.NumpyBert`, as an ONNX graph built from the weights and run by onnxruntime.

The graph uses standard ONNX ops only (opset 20: ``LayerNormalization``, ``Gelu``); onnxruntime fuses them into
its optimised CPU kernels when the session is created (its contrib ``Attention``/``SkipLayerNormalization`` ops
measured only ~4% faster, not worth tying the graph to one runtime). It is built once per weights file and cached
on disk under a name carrying the weights' sha256 and the builder's version, so a changed model never reuses a
stale graph. An int8 variant is made from it by onnxruntime's dynamic quantisation (weights int8 per channel,
activations quantised per batch).
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper, numpy_helper

from service.adapters.embeddings.bert import MASKED_SCORE, BertWeights, Floats, Ints

log = logging.getLogger(__name__)

OPSET = 20
IR_VERSION = 9
# Part of every cached file name: bump it when build_model or the quantisation recipe changes.
GRAPH_VERSION = 1
Precision = Literal["fp32", "int8"]


class _Graph:
    """Accumulates nodes and initializers with unique names."""

    def __init__(self) -> None:
        self.nodes: list[onnx.NodeProto] = []
        self.initializers: list[onnx.TensorProto] = []
        self._n = 0

    def const(self, name: str, value: npt.NDArray[Any]) -> str:
        self.initializers.append(numpy_helper.from_array(value, name))
        return name

    def op(self, op_type: str, *inputs: str, name: str | None = None, **attrs: Any) -> str:
        self._n += 1
        out = name or f"{op_type.lower()}_{self._n}"
        self.nodes.append(helper.make_node(op_type, list(inputs), [out], name=out, **attrs))
        return out


def build_model(weights: BertWeights) -> onnx.ModelProto:
    """Inputs ``input_ids`` and ``attention_mask`` (int64, batch x length); output ``pooled`` (batch x hidden).

    ``pooled`` is the mean of the last hidden states over unmasked positions (not yet L2-normalised).
    """
    cfg = weights.config
    heads, head_dim = cfg.num_heads, cfg.hidden_size // cfg.num_heads
    eps = cfg.layer_norm_eps
    g = _Graph()
    f32 = np.float32
    i64 = np.int64

    zero = g.const("zero", np.array([0], dtype=i64))
    one = g.const("one", np.array([1], dtype=i64))
    length = g.op("Gather", g.op("Shape", "input_ids"), g.const("dim1", np.array([1], dtype=i64)), axis=0)
    positions = g.op("Slice", g.const("position_type", weights.position_type), zero, length, zero, one)
    x = g.op("Add", g.op("Gather", g.const("word", weights.word), "input_ids", axis=0), positions)
    x = g.op("LayerNormalization", x, g.const("emb_ln_g", weights.ln_g), g.const("emb_ln_b", weights.ln_b), epsilon=eps)

    mask = g.op("Cast", "attention_mask", to=TensorProto.FLOAT)
    # (mask - 1) * 1e9: 0 for real tokens, MASKED_SCORE for padding; shaped (batch, 1, 1, length).
    bias = g.op(
        "Mul",
        g.op("Sub", mask, g.const("f_one", np.array(1.0, dtype=f32))),
        g.const("big", np.array(-MASKED_SCORE, dtype=f32)),
    )
    bias = g.op("Unsqueeze", bias, g.const("axes12", np.array([1, 2], dtype=i64)))
    split_heads = g.const("split_heads", np.array([0, 0, heads, head_dim], dtype=i64))
    merge_heads = g.const("merge_heads", np.array([0, 0, cfg.hidden_size], dtype=i64))
    thirds = g.const("thirds", np.array([cfg.hidden_size] * 3, dtype=i64))
    # The 1/sqrt(head_dim) score scale is folded into the query weights and bias.
    scale = np.concatenate(
        [np.full(cfg.hidden_size, 1.0 / math.sqrt(head_dim), dtype=f32), np.ones(2 * cfg.hidden_size, dtype=f32)]
    )

    for i, layer in enumerate(weights.layers):
        qkv = g.op(
            "Add",
            g.op("MatMul", x, g.const(f"l{i}_qkv_w", (layer.qkv_w * scale).astype(f32)), name=f"l{i}_qkv"),
            g.const(f"l{i}_qkv_b", (layer.qkv_b * scale).astype(f32)),
        )
        q_out, k_out, v_out = f"l{i}_q", f"l{i}_k", f"l{i}_v"
        g.nodes.append(helper.make_node("Split", [qkv, thirds], [q_out, k_out, v_out], name=f"l{i}_split", axis=-1))
        q = g.op("Transpose", g.op("Reshape", q_out, split_heads), perm=[0, 2, 1, 3])
        k = g.op("Transpose", g.op("Reshape", k_out, split_heads), perm=[0, 2, 3, 1])
        v = g.op("Transpose", g.op("Reshape", v_out, split_heads), perm=[0, 2, 1, 3])
        probs = g.op("Softmax", g.op("Add", g.op("MatMul", q, k), bias), axis=-1)
        context = g.op("Reshape", g.op("Transpose", g.op("MatMul", probs, v), perm=[0, 2, 1, 3]), merge_heads)
        attended = g.op(
            "Add",
            g.op("MatMul", context, g.const(f"l{i}_out_w", layer.out_w), name=f"l{i}_out"),
            g.const(f"l{i}_out_b", layer.out_b),
        )
        x = g.op(
            "LayerNormalization",
            g.op("Add", attended, x),
            g.const(f"l{i}_ln1_g", layer.ln1_g),
            g.const(f"l{i}_ln1_b", layer.ln1_b),
            epsilon=eps,
        )
        up = g.op(
            "Add",
            g.op("MatMul", x, g.const(f"l{i}_up_w", layer.up_w), name=f"l{i}_up"),
            g.const(f"l{i}_up_b", layer.up_b),
        )
        down = g.op(
            "Add",
            g.op("MatMul", g.op("Gelu", up), g.const(f"l{i}_down_w", layer.down_w), name=f"l{i}_down"),
            g.const(f"l{i}_down_b", layer.down_b),
        )
        x = g.op(
            "LayerNormalization",
            g.op("Add", down, x),
            g.const(f"l{i}_ln2_g", layer.ln2_g),
            g.const(f"l{i}_ln2_b", layer.ln2_b),
            epsilon=eps,
        )

    mask3 = g.op("Unsqueeze", mask, g.const("axis2", np.array([2], dtype=i64)))
    summed = g.op("ReduceSum", g.op("Mul", x, mask3), one, keepdims=0)
    counts = g.op("Max", g.op("ReduceSum", mask, one, keepdims=1), g.const("tiny", np.array(1e-9, dtype=f32)))
    g.nodes.append(helper.make_node("Div", [summed, counts], ["pooled"], name="pooled"))

    graph = helper.make_graph(
        g.nodes,
        "bert_mean_pooled",
        [
            helper.make_tensor_value_info("input_ids", TensorProto.INT64, ["batch", "length"]),
            helper.make_tensor_value_info("attention_mask", TensorProto.INT64, ["batch", "length"]),
        ],
        [helper.make_tensor_value_info("pooled", TensorProto.FLOAT, ["batch", cfg.hidden_size])],
        initializer=g.initializers,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)], producer_name="ticketsmith")
    model.ir_version = IR_VERSION
    onnx.checker.check_model(model)
    return model


def _write_atomically(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def cached_model(
    load_weights: Callable[[], BertWeights], *, cache_dir: Path, weights_sha: str, precision: Precision
) -> Path:
    """The path of the graph for these weights at ``precision``, building (and quantising) it on first use.

    ``load_weights`` is called only when the float32 graph has to be built (a cached start reads no weights).
    """
    stem = f"bert-{weights_sha[:16]}-g{GRAPH_VERSION}"
    fp32 = cache_dir / f"{stem}-fp32.onnx"
    if not fp32.exists():
        log.info("building onnx graph path=%s", fp32)
        _write_atomically(fp32, build_model(load_weights()).SerializeToString())
    if precision == "fp32":
        return fp32
    int8 = cache_dir / f"{stem}-int8.onnx"
    if not int8.exists():
        from onnxruntime.quantization import QuantType, quantize_dynamic

        log.info("quantising onnx graph path=%s", int8)
        with tempfile.TemporaryDirectory(dir=cache_dir) as scratch:
            out = Path(scratch) / int8.name
            # Per-channel int8 weights for every MatMul; Gather (the embedding table) stays float32. Measured by
            # bench/embeddings.py on 500 stdlib docstring -> function pairs: MRR@10 0.676 against 0.679 for fp32,
            # at 1.7x the chunks per CPU-second (leaving the FFN down-projections in float32 was no more accurate
            # and slower).
            with _quiet_root_warnings():
                quantize_dynamic(
                    fp32, out, weight_type=QuantType.QInt8, per_channel=True, op_types_to_quantize=["MatMul"]
                )
            _write_atomically(int8, out.read_bytes())
    return int8


@contextlib.contextmanager
def _quiet_root_warnings() -> Iterator[None]:
    """Hold back onnxruntime's advice to pre-process before quantising (logged on the root logger, once per
    build): the graph is built here, a user cannot act on it."""
    root = logging.getLogger()

    def drop(record: logging.LogRecord) -> bool:
        return not (record.name == "root" and "pre-processing before quantization" in record.getMessage())

    root.addFilter(drop)
    try:
        yield
    finally:
        root.removeFilter(drop)


class OnnxBert:
    """An onnxruntime session over a cached graph: ``run(ids, mask)`` -> ``(batch, hidden)`` float32."""

    def __init__(self, model_path: Path, *, threads: int) -> None:
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        # Idle pool threads sleep instead of spinning: on a shared or busy machine spinning burns the cores the
        # other threads need (measured 20% more throughput without it with the load above the core count).
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        self._session = ort.InferenceSession(str(model_path), options, providers=["CPUExecutionProvider"])

    def run(self, input_ids: Ints, attention_mask: Ints) -> Floats:
        (pooled,) = self._session.run(["pooled"], {"input_ids": input_ids, "attention_mask": attention_mask})
        return np.asarray(pooled, dtype=np.float32)
