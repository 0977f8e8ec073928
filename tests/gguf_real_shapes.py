"""Real models' tensor tables (names, shapes, types) as llama-quantize writes them at Q4_K_M.

Why: the planner's proof on a GPU needs real model shapes, and real weights cannot be downloaded
(nor need to be: a GGUF with the real header whose data is all zero, extended to its full size as
a sparse file, loads with the real buffers and reads the same bytes per token). The shapes are the
models' published configurations; the type of every tensor follows llama.cpp's default Q4_K_M
recipe (``llama_tensor_get_type_impl`` in src/llama-quant.cpp, build 11434) for models without
imatrix-specific choices, so the file size comes out within a fraction of a percent of the
published Q4_K_M files (``PUBLISHED_Q4_K_M_BYTES``, checked by tests/test_real_shapes.py).

The three are the kinds the owner's repository serves (models.conf: a dense 8B class, Qwen3-32B,
Qwen3-Coder-30B-A3B): a llama dense model, a Qwen3 dense model and a Qwen3 MoE.
"""
from __future__ import annotations

import re
from dataclasses import replace
from typing import Any

from gguf import GGMLQuantizationType

from tests.gguf_factory import ModelSpec, TensorSpec, model_spec

Q4_K, Q6_K, Q8_0, F32 = (GGMLQuantizationType.Q4_K, GGMLQuantizationType.Q6_K, GGMLQuantizationType.Q8_0,
                         GGMLQuantizationType.F32)

# the configurations (config.json of each model, in the factory's names)
REAL_MODELS: dict[str, dict[str, Any]] = {
    "llama-3.1-8b": dict(arch="llama", name="Meta-Llama-3.1-8B-Instruct (shapes only)", n_layer=32, n_embd=4096,
                         n_head=32, n_head_kv=8, head_dim=128, n_ff=14336, n_vocab=128256, n_ctx_train=131072),
    "qwen3-32b": dict(arch="qwen3", name="Qwen3-32B (shapes only)", n_layer=64, n_embd=5120, n_head=64,
                      n_head_kv=8, head_dim=128, n_ff=25600, n_vocab=151936, n_ctx_train=40960),
    "qwen3-coder-30b-a3b": dict(arch="qwen3moe", name="Qwen3-Coder-30B-A3B-Instruct (shapes only)", n_layer=48,
                                n_embd=2048, n_head=32, n_head_kv=4, head_dim=128, n_ff=6144, n_expert=128,
                                n_expert_used=8, n_ff_exp=768, n_vocab=151936, n_ctx_train=262144),
}
# sizes of the published Q4_K_M files (bytes as the hub lists them, rounded to its GB): the type
# recipe below is right when the written file lands within 1.5% of them
PUBLISHED_Q4_K_M_BYTES: dict[str, float] = {
    "llama-3.1-8b": 4.92e9,          # bartowski/Meta-Llama-3.1-8B-Instruct-GGUF
    "qwen3-32b": 19.8e9,             # Qwen/Qwen3-32B-GGUF
    "qwen3-coder-30b-a3b": 18.6e9,   # unsloth/Qwen3-Coder-30B-A3B-Instruct-GGUF
}
# a K-quant needs rows of whole 256-blocks; llama-quantize falls back to these otherwise
_FALLBACK = {Q4_K: GGMLQuantizationType.Q5_0, Q6_K: Q8_0}
_LAYER = re.compile(r"^blk\.(\d+)\.")


def use_more_bits(i_layer: int, n_layers: int) -> bool:
    """llama-quantize's choice of the layers that get a larger type (the first and last eighth, and
    every third between)."""
    return i_layer < n_layers // 8 or i_layer >= 7 * n_layers // 8 or (i_layer - n_layers // 8) % 3 == 2


def q4_k_m_type(t: TensorSpec, n_layer: int, tied: bool = False) -> GGMLQuantizationType:
    """The type llama-quantize gives tensor ``t`` for Q4_K_M (no imatrix, no per-tensor overrides,
    models with neither 8 experts nor the 70B shape, not Falcon: the three here)."""
    if len(t.shape) == 1 or t.name.endswith("ffn_gate_inp.weight"):
        return F32  # norms and biases stay F32; the router is never quantized
    if t.name == "output.weight" or (tied and t.name == "token_embd.weight"):
        return Q6_K if t.shape[0] % 256 == 0 else Q8_0
    layer = _LAYER.match(t.name)
    new = Q4_K
    if layer and (".attn_v." in t.name or ".ffn_down" in t.name) and use_more_bits(int(layer.group(1)), n_layer):
        new = Q6_K
    return new if t.shape[0] % 256 == 0 else _FALLBACK[new]


def real_spec(key: str) -> ModelSpec:
    """The model's metadata and tensor table with the Q4_K_M types (no data: cheap)."""
    dims = dict(REAL_MODELS[key])
    spec = model_spec(dims.pop("arch"), default_type="Q4_K", file_type=15, big_vocab=True, **dims)  # 15: Q4_K_M
    n_layer = REAL_MODELS[key]["n_layer"]
    tensors = [replace(t, ggml_type=q4_k_m_type(t, n_layer)) for t in spec.tensors]
    return ModelSpec(spec.arch, spec.metadata, tensors)
