"""A BERT encoder's weights read from safetensors, and its forward pass in numpy.

The forward pass is the one of Hugging Face ``BertModel`` (absolute positions, post-LayerNorm blocks, exact erf
GELU), followed by sentence-transformers' mean pooling over the attention mask. It is the readable reference the
ONNX graph in :mod:`bert_onnx` is built from and tested against; it also runs where onnxruntime does not.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt
from safetensors.numpy import load_file

from service.adapters.embeddings.vectors import as_float32

Floats = npt.NDArray[np.float32]
Ints = npt.NDArray[np.int64]

# A padded key position gets this added to its attention score: exp() of it is exactly 0 in float32.
MASKED_SCORE = -1e9


@dataclass(frozen=True, slots=True)
class BertConfig:
    """The few fields of a Hugging Face ``config.json`` the forward pass needs."""

    hidden_size: int
    num_heads: int
    num_layers: int
    intermediate_size: int
    max_positions: int
    layer_norm_eps: float

    @classmethod
    def from_file(cls, path: Path) -> BertConfig:
        raw = json.loads(path.read_text(encoding="utf-8"))
        if raw.get("model_type") != "bert" or raw.get("hidden_act") != "gelu":
            raise ValueError(f"{path}: not a BERT model with exact GELU")
        if raw.get("position_embedding_type", "absolute") != "absolute":
            raise ValueError(f"{path}: only absolute position embeddings are supported")
        return cls(
            hidden_size=int(raw["hidden_size"]),
            num_heads=int(raw["num_attention_heads"]),
            num_layers=int(raw["num_hidden_layers"]),
            intermediate_size=int(raw["intermediate_size"]),
            max_positions=int(raw["max_position_embeddings"]),
            layer_norm_eps=float(raw["layer_norm_eps"]),
        )


@dataclass(frozen=True, slots=True)
class BertLayer:
    """One encoder block. Linear weights are stored input-major (``x @ w``), i.e. transposed from PyTorch."""

    qkv_w: Floats  # (hidden, 3 * hidden): query, key, value side by side
    qkv_b: Floats
    out_w: Floats
    out_b: Floats
    ln1_g: Floats
    ln1_b: Floats
    up_w: Floats
    up_b: Floats
    down_w: Floats
    down_b: Floats
    ln2_g: Floats
    ln2_b: Floats


@dataclass(frozen=True, slots=True)
class BertWeights:
    """Every tensor of the encoder. ``position_type`` is position plus token-type-0 embeddings (one table)."""

    config: BertConfig
    word: Floats
    position_type: Floats
    ln_g: Floats
    ln_b: Floats
    layers: tuple[BertLayer, ...]

    @classmethod
    def load(cls, model_dir: Path) -> BertWeights:
        """Read ``config.json`` and ``model.safetensors`` (keys with or without the ``bert.`` prefix)."""
        config = BertConfig.from_file(model_dir / "config.json")
        raw = load_file(str(model_dir / "model.safetensors"))
        tensors = {key.removeprefix("bert."): value.astype(np.float32) for key, value in raw.items()}

        def t(name: str) -> Floats:
            return tensors[name]

        def linear(prefix: str) -> tuple[Floats, Floats]:
            return np.ascontiguousarray(t(f"{prefix}.weight").T), t(f"{prefix}.bias")

        layers = []
        for i in range(config.num_layers):
            p = f"encoder.layer.{i}"
            q_w, q_b = linear(f"{p}.attention.self.query")
            k_w, k_b = linear(f"{p}.attention.self.key")
            v_w, v_b = linear(f"{p}.attention.self.value")
            out_w, out_b = linear(f"{p}.attention.output.dense")
            up_w, up_b = linear(f"{p}.intermediate.dense")
            down_w, down_b = linear(f"{p}.output.dense")
            layers.append(
                BertLayer(
                    qkv_w=np.concatenate([q_w, k_w, v_w], axis=1),
                    qkv_b=np.concatenate([q_b, k_b, v_b]),
                    out_w=out_w,
                    out_b=out_b,
                    ln1_g=t(f"{p}.attention.output.LayerNorm.weight"),
                    ln1_b=t(f"{p}.attention.output.LayerNorm.bias"),
                    up_w=up_w,
                    up_b=up_b,
                    down_w=down_w,
                    down_b=down_b,
                    ln2_g=t(f"{p}.output.LayerNorm.weight"),
                    ln2_b=t(f"{p}.output.LayerNorm.bias"),
                )
            )
        return cls(
            config=config,
            word=t("embeddings.word_embeddings.weight"),
            position_type=t("embeddings.position_embeddings.weight") + t("embeddings.token_type_embeddings.weight")[0],
            ln_g=t("embeddings.LayerNorm.weight"),
            ln_b=t("embeddings.LayerNorm.bias"),
            layers=tuple(layers),
        )


def _layer_norm(x: Floats, g: Floats, b: Floats, eps: float) -> Floats:
    mean = x.mean(axis=-1, keepdims=True)
    var = ((x - mean) ** 2).mean(axis=-1, keepdims=True)
    return as_float32((x - mean) / np.sqrt(var + eps) * g + b)


def _erf(x: Floats) -> Floats:
    # Abramowitz & Stegun 7.1.26: absolute error below 1.5e-7, under float32 resolution; numpy has no erf.
    sign = np.sign(x)
    # erf(4) is 1 in float32; the clip keeps exp(-a*a) out of the denormal range, where x86 maths is ~50x slower.
    a = np.minimum(np.abs(x), np.float32(4.0))
    t = 1.0 / (1.0 + 0.3275911 * a)
    poly = t * (0.254829592 + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027 + t * 1.061405429))))
    return as_float32(sign * (1.0 - poly * np.exp(-a * a)))


def _gelu(x: Floats) -> Floats:
    return as_float32(0.5 * x * (1.0 + _erf(x / np.float32(math.sqrt(2.0)))))


def _softmax(x: Floats) -> Floats:
    # exp(-80) is still a normal float32 (and negligible against the row's maximum, exp(0) = 1); see _erf.
    e = np.exp(np.maximum(x - x.max(axis=-1, keepdims=True), np.float32(-80.0)))
    return as_float32(e / e.sum(axis=-1, keepdims=True))


class NumpyBert:
    """The encoder plus mean pooling in plain numpy: ``run(ids, mask)`` -> ``(batch, hidden)`` float32."""

    def __init__(self, weights: BertWeights) -> None:
        self._w = weights

    def run(self, input_ids: Ints, attention_mask: Ints) -> Floats:
        w, cfg = self._w, self._w.config
        batch, length = input_ids.shape
        hidden, heads = cfg.hidden_size, cfg.num_heads
        head_dim = hidden // heads
        eps = cfg.layer_norm_eps
        # Hidden states stay 2-D (batch * length, hidden) so every linear layer is one BLAS call.
        x = _layer_norm((w.word[input_ids] + w.position_type[:length]).reshape(-1, hidden), w.ln_g, w.ln_b, eps)
        mask = attention_mask.astype(np.float32)
        bias = ((1.0 - mask) * MASKED_SCORE)[:, None, None, :].astype(np.float32)
        scale = np.float32(1.0 / math.sqrt(head_dim))
        for layer in w.layers:
            qkv = (x @ layer.qkv_w + layer.qkv_b).reshape(batch, length, 3, heads, head_dim)
            # Contiguous copies: numpy's stacked matmul only reaches BLAS for contiguous operands (20x faster).
            q = np.ascontiguousarray(qkv[:, :, 0].transpose(0, 2, 1, 3))
            k_t = np.ascontiguousarray(qkv[:, :, 1].transpose(0, 2, 3, 1))
            v = np.ascontiguousarray(qkv[:, :, 2].transpose(0, 2, 1, 3))
            probs = _softmax((q @ k_t) * scale + bias)
            context = (probs @ v).transpose(0, 2, 1, 3).reshape(-1, hidden)
            x = _layer_norm(context @ layer.out_w + layer.out_b + x, layer.ln1_g, layer.ln1_b, eps)
            up = _gelu(x @ layer.up_w + layer.up_b)
            x = _layer_norm(up @ layer.down_w + layer.down_b + x, layer.ln2_g, layer.ln2_b, eps)
        summed = (x.reshape(batch, length, hidden) * mask[:, :, None]).sum(axis=1)
        counts = np.maximum(mask.sum(axis=1, keepdims=True), 1e-9)
        return as_float32(summed / counts)
