"""KV cache (and recurrent state) bytes per device, following llama.cpp's allocation rules.

Sources (build 11434):
- ``src/llama-context.cpp`` (constructor): ``n_ctx = PAD256(n_ctx)``; unified cache: one stream of
  ``n_ctx`` cells; otherwise ``n_seq_max`` streams of ``n_ctx_seq = PAD256(n_ctx / n_seq_max)``.
- ``src/llama-kv-cache.cpp`` (constructor): per layer that has KV, K = ``[n_embd_k_gqa(il),
  kv_size, n_stream]`` of type_k and V = ``[n_embd_v_gqa, kv_size, n_stream]`` of type_v; without
  flash attention V is stored transposed and padded to the widest layer (``n_embd_v_gqa_max``);
  MLA models store K only (``has_v = !is_mla``, since the V-less cache PR #19067); the buffer lives
  on the device of the layer (``model.dev_layer(il)``) or the CPU with ``--no-kv-offload``.
- ``src/llama-kv-cache-iswa.cpp``: sliding-window layers get
  ``PAD256(min(n_ctx_seq, n_swa * (unified ? n_seq_max : 1) + n_ubatch))`` cells per stream
  (``--swa-full``: ``n_ctx_seq``); the other layers ``n_ctx_seq``.
- ``src/llama-memory-recurrent.cpp``: recurrent layers hold F32 ``n_embd_r + n_embd_s`` elements per
  sequence slot, ``max(1, n_seq_max)`` slots, on the layer's device.
Row sizes use ggml's block sizes from ``gguf.GGML_QUANT_SIZES`` (q8_0: 34 bytes per 32 values).
"""
from __future__ import annotations

from dataclasses import dataclass, field

from gguf import GGML_QUANT_SIZES, GGMLQuantizationType

from onboard.llamacpp.errors import BadInput

from .model_facts import ModelFacts
from .placement import CPU
from .versions import mla_v_less

# the cache types llama-server accepts for -ctk / -ctv (common/arg.cpp kv_cache_types)
CACHE_TYPES: dict[str, GGMLQuantizationType] = {
    "f32": GGMLQuantizationType.F32, "f16": GGMLQuantizationType.F16, "bf16": GGMLQuantizationType.BF16,
    "q8_0": GGMLQuantizationType.Q8_0, "q4_0": GGMLQuantizationType.Q4_0, "q4_1": GGMLQuantizationType.Q4_1,
    "iq4_nl": GGMLQuantizationType.IQ4_NL, "q5_0": GGMLQuantizationType.Q5_0, "q5_1": GGMLQuantizationType.Q5_1,
}


def pad(n: int, to: int = 256) -> int:
    """GGML_PAD: round ``n`` up to a multiple of ``to``."""
    return -(-n // to) * to


def cache_type(name: str, field_name: str) -> GGMLQuantizationType:
    try:
        return CACHE_TYPES[name.lower()]
    except KeyError:
        raise BadInput(f"unknown cache type {name!r}", field=field_name,
                       fix=f"use one of: {', '.join(CACHE_TYPES)}") from None


def is_quantized(t: GGMLQuantizationType) -> bool:
    return t not in (GGMLQuantizationType.F32, GGMLQuantizationType.F16, GGMLQuantizationType.BF16)


def block_size(t: GGMLQuantizationType) -> int:
    """Values per block of cache type ``t`` (1 for the float types)."""
    return GGML_QUANT_SIZES[t][0]


def row_size(t: GGMLQuantizationType, n: int) -> int:
    """ggml_row_size: bytes of ``n`` values of type ``t`` (``n`` a multiple of the block size)."""
    block, size = GGML_QUANT_SIZES[t]
    if n % block:
        raise BadInput(f"{t.name} cache needs a row length divisible by {block}, this model has {n}",
                       field="--cache-type-k/--cache-type-v", fix="use f16 or q8_0 with a compatible model")
    return n // block * size


@dataclass(frozen=True)
class ContextShape:
    """The resolved context as llama.cpp sizes it: total cells, streams, cells per stream."""

    n_ctx: int
    n_seq_max: int
    unified: bool
    n_ctx_seq: int
    n_stream: int
    n_ubatch: int

    @classmethod
    def resolve(cls, ctx: int, n_seq_max: int, unified: bool, n_ubatch: int) -> "ContextShape":
        n_ctx = pad(max(ctx, 1))
        if unified:
            return cls(n_ctx, n_seq_max, True, n_ctx, 1, n_ubatch)
        seq = pad(max(n_ctx // n_seq_max, 1))
        return cls(seq * n_seq_max, n_seq_max, False, seq, n_seq_max, n_ubatch)


@dataclass
class KVEstimate:
    """KV/recurrent bytes per device and the per-layer detail behind them."""

    kv_by_device: dict[str, int]
    rs_by_device: dict[str, int]
    cells_full: int
    cells_swa: int | None
    n_stream: int
    per_layer: list[tuple[int, str, int]] = field(default_factory=list)  # (layer, device, bytes)

    def total(self, device: str) -> int:
        return self.kv_by_device.get(device, 0) + self.rs_by_device.get(device, 0)


def estimate_kv(facts: ModelFacts, layer_device: list[str], shape: ContextShape, *,
                type_k: GGMLQuantizationType, type_v: GGMLQuantizationType, flash_attn: bool,
                offload_kqv: bool = True, swa_full: bool = False, build: int | None = None) -> KVEstimate:
    """Bytes of KV cache per device for every layer that owns cells (module docstring)."""
    cells_swa = None
    if facts.n_swa and any(facts.swa):
        cells_swa = shape.n_ctx_seq if swa_full else pad(min(
            shape.n_ctx_seq, facts.n_swa * (shape.n_seq_max if shape.unified else 1) + shape.n_ubatch))
    v_less = facts.is_mla and mla_v_less(build)
    kv_layers = [il for il in range(facts.n_layer_all) if facts.has_kv(il)]
    v_max = max((facts.n_embd_v_gqa(il) for il in kv_layers), default=0)
    kv: dict[str, int] = {}
    rs: dict[str, int] = {}
    per_layer = []
    for il in kv_layers:
        dev = layer_device[il] if offload_kqv else CPU
        cells = cells_swa if (cells_swa is not None and facts.swa[il]) else shape.n_ctx_seq
        k = row_size(type_k, facts.n_embd_k_gqa(il)) * cells * shape.n_stream
        v = 0
        if not v_less:
            width = facts.n_embd_v_gqa(il) if flash_attn else v_max
            v = row_size(type_v, width) * cells * shape.n_stream
        kv[dev] = kv.get(dev, 0) + k + v
        per_layer.append((il, dev, k + v))
    if facts.n_embd_r or facts.n_embd_s:
        slots = max(1, shape.n_seq_max)
        for il in range(facts.n_layer):
            if facts.recurrent[il]:
                dev = layer_device[il] if offload_kqv else CPU
                rs[dev] = rs.get(dev, 0) + (facts.n_embd_r + facts.n_embd_s) * 4 * slots
    return KVEstimate(kv, rs, shape.n_ctx_seq, cells_swa, shape.n_stream, per_layer)
