"""Compute buffers per device: modelled, not exact.

llama.cpp sizes each backend's compute buffer as the peak of ggml's graph allocator over the
worst-case graphs it reserves (src/llama-context.cpp ``graph_reserve`` / ``sched_reserve``: a prompt
graph of ``n_tokens = min(n_ctx, n_ubatch)`` tokens, every token an output). There is no closed
formula; this module charges the tensors that make that peak. Assumptions, each a named term:

1. KQ masks: one per attention kind the model has (full and sliding-window), ``[n_kv, n_tokens]``,
   F16 with flash attention and F32 without; ``n_kv`` = cells of one stream (a non-unified cache
   reserves per stream). They are graph inputs: built on the host (host compute buffer) and copied
   to every GPU that runs attention, and alive for the whole graph, so they add to the peak.
2. Residual stream: RESIDUAL_COPIES F32 ``[n_embd, n_tokens]`` tensors alive at the peak.
3. The peak stage, whichever is largest:
   - attention without flash attention: the F32 scores ``[n_kv, n_tokens, n_head]`` (the softmax
     runs in place, so one copy);
   - dense FFN: DENSE_FFN_COPIES F32 ``[n_ff, n_tokens]`` (gate, up, their product);
   - MoE FFN: per used expert MOE_FFN_COPIES ``[n_ff_exp]`` rows plus the ``[n_embd]`` expert output;
   - output (the output layer's device only): F32 logits ``[n_vocab, n_tokens]``.
4. Op offload (``op_offload`` on by default): when weights or whole layers stay on the host, the
   first GPU still runs the big-batch matrix multiplications and attention of host layers, staging
   the largest host weight, or one host layer's KV cells, in its compute buffer.
5. Vulkan with a quantized K cache and flash attention off: the scores ``K^T Q`` are computed on
   the host (the Vulkan backend does not take that matrix product with a quantized, non-contiguous K),
   so the host compute buffer also holds the attention scores (calibration case
   qwen3moe/q8-np2-nofa-k; CUDA keeps them on the GPU).
6. Host compute buffer: the masks and HOST_EMBD_COPIES F32 ``[n_embd, n_tokens]`` inputs
   (looked-up embeddings and their copies); with no GPU the whole graph runs there.
The structure was read off real llama-server b11434 logs (CUDA on an H100 and lavapipe); the
constants were then tuned only on the calibration cases of tests/planner_cases.py, and the
held-out cases (never tuned on) are reported separately in docs/accuracy.md.
"""
from __future__ import annotations

from dataclasses import dataclass

from .model_facts import ModelFacts
from .placement import CPU

RESIDUAL_COPIES = 4.0     # F32 [n_embd, n_tokens] tensors alive at the peak
DENSE_FFN_COPIES = 3.0    # gate, up, and their product
MOE_FFN_COPIES = 2.0      # per used expert: gate/up rows (fused activation)
HOST_EMBD_COPIES = 4.0    # host-side F32 [n_embd, n_tokens] inputs


@dataclass(frozen=True)
class ComputeShape:
    n_tokens: int              # min(n_ctx, n_ubatch): the prompt graph reserved
    n_kv: int                  # cells per stream of the full-attention cache
    n_kv_swa: int | None       # cells per stream of the sliding-window cache, if any
    flash_attn: bool
    n_outputs: int             # outputs in the reserved graph (n_tokens)


def _masks(f: ModelFacts, s: ComputeShape) -> int:
    per = 2 if s.flash_attn else 4
    kv_layers = [il for il in range(f.n_layer_all) if f.has_kv(il)]
    kinds = {bool(f.swa[il]) if f.swa else False for il in kv_layers}
    total = 0
    if False in kinds or not kinds:
        total += per * s.n_kv * s.n_tokens
    if True in kinds and s.n_kv_swa:
        total += per * s.n_kv_swa * s.n_tokens
    return total


def _stage(f: ModelFacts, s: ComputeShape) -> int:
    """The largest per-layer stage (attention scores or FFN activations), bytes."""
    n_head = max(f.n_head) if f.n_head else 0
    attn = 0 if s.flash_attn else 4 * s.n_kv * s.n_tokens * n_head
    dense_ff = [f.n_ff[il] for il in range(f.n_layer) if not f.dense_ffn or f.dense_ffn[il]]
    dense = int(4 * DENSE_FFN_COPIES * max(dense_ff, default=0) * s.n_tokens)
    moe = 0
    if f.is_moe:
        moe = int(4 * s.n_tokens * f.n_expert_used * (MOE_FFN_COPIES * f.n_ff_exp + f.n_embd))
    return max(attn, dense, moe)


def _residual(f: ModelFacts, s: ComputeShape) -> int:
    return int(4 * RESIDUAL_COPIES * f.n_embd * s.n_tokens)


def estimate_compute(f: ModelFacts, s: ComputeShape, layer_device: list[str], output_device: str,
                     gpu_names: list[str], largest_host_weight: int, host_layer_kv: int = 0,
                     host_attention_scores: bool = False) -> dict[str, int]:
    """Compute buffer bytes per device (``CPU`` = the host compute buffer).

    ``largest_host_weight``: the biggest weight tensor held on the host (excluding the token
    embeddings, which are only looked up, and routed experts, which are copied per use: no
    reserve was seen for them); ``host_layer_kv``: KV bytes of one stream of the
    largest host layer (staged on the GPU when its attention is offloaded).
    """
    masks = _masks(f, s)
    stage = _stage(f, s)
    resid = _residual(f, s)
    logits = 4 * f.n_vocab * s.n_outputs
    out: dict[str, int] = {}
    with_layers = {d for d in layer_device if d != CPU}
    host_work = any(d == CPU for d in layer_device) or largest_host_weight > 0
    for i, name in enumerate(gpu_names):
        runs_layers = name in with_layers or (i == 0 and host_work)
        peak = 0
        if runs_layers:
            peak = stage
            if i == 0 and host_work:
                # one host layer's K cells (converted for the GPU's attention) and its input
                staged_kv = host_layer_kv // 2 + 4 * f.n_embd * s.n_tokens if host_layer_kv else 0
                peak += max(largest_host_weight, staged_kv)
        if name == output_device:
            peak = max(peak, logits)
        if runs_layers or name == output_device:
            out[name] = (masks if runs_layers else 0) + resid + peak
    host = masks + int(4 * HOST_EMBD_COPIES * f.n_embd * s.n_tokens)
    if not gpu_names:
        host += resid + max(stage, logits)
    elif host_attention_scores and not s.flash_attn:
        host += 4 * s.n_kv * s.n_tokens * (max(f.n_head) if f.n_head else 0)
    out[CPU] = host
    return out
