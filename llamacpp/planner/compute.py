"""Compute buffers per device: modelled, not exact.

llama.cpp sizes each backend's compute buffer as the peak of ggml's graph allocator over the
worst-case graphs it reserves (src/llama-context.cpp ``graph_reserve`` / ``sched_reserve``: a prompt
graph of ``n_tokens = min(n_ctx, n_ubatch)`` tokens with every token an output, then a one-token
graph). There is no closed formula; this module charges the terms that dominate that peak:

Assumptions (each a named term; the constants below were calibrated on the *calibration* cases of
tests/test_planner_vs_llama.py and are checked on separate held-out cases, see docs/accuracy.md):

1. Attention, per device holding at least one layer with KV: flash attention OFF materialises
   the F32 scores ``[n_kv, n_tokens, n_head]`` (plus the softmax result, ATTN_SCORE_COPIES);
   flash attention ON only the KQ mask ``[n_kv, n_tokens]`` (F16) and the attention output.
   ``n_kv`` is the cells of one stream (non-unified caches reserve per stream).
2. FFN activations: dense ``gate`` and ``up`` outputs ``[n_ff, n_tokens]`` F32; MoE the routed
   outputs ``[n_ff_exp, n_expert_used, n_tokens]`` plus router logits.
3. Residual stream and norms: a few F32 ``[n_embd, n_tokens]`` tensors (RESIDUAL_COPIES).
4. Output: F32 logits ``[n_vocab, n_tokens]`` on the output layer's device.
5. Op offload: with weights on the host and a GPU present, big-batch matrix multiplications run on
   the GPU (ggml_backend_sched, ``op_offload`` default on), so the first GPU stages the largest
   host weight of a layer in its compute buffer; ``-ngl 0`` still allocates a full GPU buffer.
6. Host compute buffer: graph inputs (token ids, positions, the embeddings looked up on the CPU,
   the mask) plus the activations of layers computed on the CPU.
The allocator reuses memory between stages, so a device's buffer is the residual term plus the
largest of the attention, FFN and output terms, not their sum.
"""
from __future__ import annotations

from dataclasses import dataclass

from .model_facts import ModelFacts
from .placement import CPU

# calibrated constants (see module docstring): number of simultaneously live tensors of a kind
ATTN_SCORE_COPIES = 1.0      # F32 KQ + softmax share one buffer after in-place ops
RESIDUAL_COPIES = 4.0        # inpL, cur, norm output, residual add
FFN_COPIES = 2.0             # gate and up outputs alive together
MASK_BYTES = 2               # F16 KQ mask with flash attention
MASK_BYTES_NO_FA = 4         # F32 mask without flash attention


@dataclass(frozen=True)
class ComputeShape:
    n_tokens: int   # min(n_ctx, n_ubatch): the prompt graph reserved
    n_kv: int       # cells per stream of the largest cache
    n_kv_swa: int | None
    flash_attn: bool
    n_outputs: int  # outputs in the reserved graph (n_tokens)


def _attention_bytes(f: ModelFacts, s: ComputeShape) -> int:
    n_head = max(f.n_head) if f.n_head else 0
    if f.is_mla:
        n_head = max(f.n_head) if f.n_head else 1
    head_v = f.head_v if not f.is_mla else f.mla_v
    out = 4 * head_v * n_head * s.n_tokens
    if s.flash_attn:
        return MASK_BYTES * s.n_kv * s.n_tokens + out
    return int(4 * s.n_kv * s.n_tokens * n_head * ATTN_SCORE_COPIES) + MASK_BYTES_NO_FA * s.n_kv * s.n_tokens + out


def _ffn_bytes(f: ModelFacts, s: ComputeShape) -> int:
    dense = max(f.n_ff) if f.n_ff else 0
    b = int(4 * dense * s.n_tokens * FFN_COPIES)
    if f.is_moe:
        moe = 4 * s.n_tokens * (f.n_ff_exp * f.n_expert_used * FFN_COPIES + f.n_expert * 2)
        b = max(b, int(moe))
    return b


def _residual_bytes(f: ModelFacts, s: ComputeShape) -> int:
    return int(4 * f.n_embd * s.n_tokens * RESIDUAL_COPIES)


def estimate_compute(f: ModelFacts, s: ComputeShape, layer_device: list[str], output_device: str,
                     gpu_names: list[str], largest_host_weight: int) -> dict[str, int]:
    """Compute buffer bytes per device (``CPU`` = the host compute buffer)."""
    out: dict[str, int] = {}
    attn = _attention_bytes(f, s)
    ffn = _ffn_bytes(f, s)
    resid = _residual_bytes(f, s)
    logits = 4 * f.n_vocab * s.n_outputs
    devices_with_layers = {d for d in layer_device if d != CPU}
    host_layers = any(d == CPU for d in layer_device)
    for name in gpu_names:
        terms = []
        if name in devices_with_layers:
            terms += [attn, ffn]
        if name == output_device:
            terms.append(logits)
        if name == gpu_names[0] and (host_layers or output_device == CPU or largest_host_weight):
            # op offload: host layers' big-batch matmuls run here, with their weights staged in
            terms += [attn, ffn, largest_host_weight]
        if terms:
            out[name] = resid + max(terms)
    # host: inputs (embeddings looked up on the CPU, positions, ids, mask) + CPU-side work
    host = 4 * f.n_embd * s.n_tokens + 8 * s.n_tokens + MASK_BYTES_NO_FA * s.n_kv * s.n_tokens
    if not gpu_names:
        host += resid + max(attn, ffn, logits)
    elif output_device == CPU:
        host += logits
    out[CPU] = host
    return out
