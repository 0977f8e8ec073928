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
   - output (the output layer's device only): F32 logits ``[n_vocab, n_outputs]``, where the
     reserved graph has one output per sequence (``reserved_outputs``).
4. Op offload (``op_offload`` on by default): when weights or whole layers stay on the host, the
   first GPU still runs the big-batch matrix multiplications and attention of host layers, staging
   the largest host weight, or one host layer's KV cells, in its compute buffer.
5. Vulkan with a quantized K cache and flash attention off: the scores ``K^T Q`` are computed on
   the host (the Vulkan backend does not take that matrix product with a quantized, non-contiguous K),
   so the host compute buffer also holds the attention scores (calibration case
   qwen3moe/q8-np2-nofa-k; CUDA keeps them on the GPU).
6. Host compute buffer: the masks and HOST_EMBD_COPIES F32 ``[n_embd, n_tokens]`` inputs
   (looked-up embeddings and their copies); with no GPU the whole graph runs there.
7. No GPU (CPU-only plan): the whole graph runs in the CPU backend's one buffer, where the
   looked-up inputs and the residual stream share memory: masks + CPU_ONLY_EMBD_COPIES F32
   ``[n_embd, n_tokens]`` + the largest stage (an expert stage holds its gate/up rows only) or
   the logits. Read off real CPU-only runs of build 11434 (Gemma 3 270M at 4096 tokens with and
   without flash attention and at 1024 x 256; the tiny llama and qwen3moe at 4096 tokens). The
   CPU-only cases of tests/test_planner_rpc_real.py were all seen while choosing the terms: none
   of them is held out.
8. Several devices: each device's buffer follows from what it holds and does
   (``_several_devices``), with pipeline-parallel copies where llama.cpp enables them. One
   device keeps terms 1-6 (calibrated on lavapipe and CUDA).
9. A Vulkan device refuses ops whose sources or result exceed its largest buffer (``supports_op``;
   ``max_alloc_mib`` where the rig knows it): without flash attention, scores larger than that are
   computed on the host (host buffer as in term 5, none on the GPU), and op offload stages no host
   weight above it. Seen on lavapipe (128 MiB) with the real Llama-3.1-8B shape
   (docs/accuracy-real-shapes.md); real Vulkan GPUs allow 2-4 GiB, which scores reach at long contexts.
   Then a host block's attention stays on the host (no KV staged on the GPU), and, on one device,
   the weight of a host block is staged apart from the GPU's own work: its matrix product is
   offloaded alone, with its input and output (a host weight of a GPU block, ``-ot ...=CPU``,
   is staged inside that block's work and adds to it, as term 4 says).
10. Host experts (``--cpu-moe``, ``--n-cpu-moe``, ``-ot exps=CPU``) on one device: the first GPU
   runs their matrix products for a prompt batch (op offload) and stages a whole expert tensor
   (llama.cpp copies only the used experts into it) beside the expert stage and its input and
   output; its buffer is at least that. Invisible on the tiny models (2 MiB expert tensors), 82-96
   MiB on the real Qwen3-30B-A3B shape (docs/accuracy-real-shapes.md); term 8 holds the same for
   several devices, read off the rpc-server runs.
11. No device offloads the host's big-batch work (rpc-server workers only: RPC does not take op
   offload): the host runs its own blocks (the one-backend figure of term 7) or its experts (their
   stage). Read off rpc-server runs of the real shapes (docs/accuracy-real-shapes.md).
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
CPU_ONLY_EMBD_COPIES = 5.0  # no GPU: F32 [n_embd, n_tokens] tensors alive at the peak (inputs and residuals)


@dataclass(frozen=True)
class ComputeShape:
    n_tokens: int              # min(n_ctx, n_ubatch): the prompt graph reserved
    n_kv: int                  # cells per stream of the full-attention cache
    n_kv_swa: int | None       # cells per stream of the sliding-window cache, if any
    flash_attn: bool
    n_outputs: int             # outputs in the reserved graph (min(n_tokens, n_seq_max))
    scores_on_host: bool = False  # the attention scores exceed a GPU's op limit: the host computes them (term 9)


def reserved_outputs(n_tokens: int, n_seq_max: int) -> int:
    """Rows of logits in the reserved prompt graph. llama-server caps a context's outputs at one
    per sequence (``n_outputs_max = n_seq_max``, printed as ``n_outputs_max``), and
    ``sched_reserve`` reserves ``min(n_tokens, n_outputs_max)`` outputs: the logits of a 262k-token
    vocabulary are then a few MiB, not ``n_vocab x n_ubatch`` floats."""
    return max(1, min(n_tokens, n_seq_max))


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


def _stage(f: ModelFacts, s: ComputeShape, cpu: bool = False) -> int:
    """The largest per-layer stage (attention scores or FFN activations), bytes. ``cpu``: the
    CPU backend's expert stage keeps the gate/up rows only (term 7)."""
    n_head = max(f.n_head) if f.n_head else 0
    attn = 0 if s.flash_attn or (s.scores_on_host and not cpu) else 4 * s.n_kv * s.n_tokens * n_head
    dense_ff = [f.n_ff[il] for il in range(f.n_layer) if not f.dense_ffn or f.dense_ffn[il]]
    dense = int(4 * DENSE_FFN_COPIES * max(dense_ff, default=0) * s.n_tokens)
    return max(attn, dense, _moe_stage(f, s, cpu))


def _moe_stage(f: ModelFacts, s: ComputeShape, cpu: bool = False) -> int:
    """The used experts' gate/up rows and (not on the CPU backend, term 7) their output rows."""
    if not f.is_moe:
        return 0
    return int(4 * s.n_tokens * f.n_expert_used * (MOE_FFN_COPIES * f.n_ff_exp + (0 if cpu else f.n_embd)))


def _residual(f: ModelFacts, s: ComputeShape) -> int:
    return int(4 * RESIDUAL_COPIES * f.n_embd * s.n_tokens)


def estimate_compute(f: ModelFacts, s: ComputeShape, layer_device: list[str], output_device: str,
                     gpu_names: list[str], largest_host_weight: int, host_layer_kv: int = 0,
                     host_attention_scores: bool = False, *, weight_devices: frozenset[str] = frozenset(),
                     offload_device: str | None = None, pipeline_copies: int = 1,
                     largest_host_expert: int = 0, remote_ffn_blocks: frozenset[int] = frozenset(),
                     host_block_weight: int = 0, gpu_block_host_weight: int = 0) -> dict[str, int]:
    """Compute buffer bytes per device (``CPU`` = the host compute buffer).

    ``largest_host_weight``: the biggest weight tensor held on the host (excluding the token
    embeddings, which are only looked up, and routed experts: ``largest_host_expert``, term 10);
    ``host_layer_kv``: KV bytes of one stream of the
    largest host layer (staged on the GPU when its attention is offloaded). One device splits
    ``largest_host_weight`` in two: ``gpu_block_host_weight``, the biggest host weight of a block
    that runs on the GPU (``-ot ...=CPU``: staged inside the block's work, so added to it), and
    ``host_block_weight``, the biggest weight of a block that runs on the host or of no block (its
    matrix product is offloaded alone: staged with its input and output, apart from the GPU's work).
    """
    masks = _masks(f, s)
    stage = _stage(f, s)
    resid = _residual(f, s)
    logits = 4 * f.n_vocab * s.n_outputs
    if len(gpu_names) > 1:
        return _several_devices(f, s, layer_device, output_device, gpu_names, largest_host_weight, host_layer_kv,
                                host_attention_scores, weight_devices, offload_device, pipeline_copies,
                                largest_host_expert, remote_ffn_blocks)
    out: dict[str, int] = {}
    with_layers = {d for d in layer_device if d != CPU}
    host_work = any(d == CPU for d in layer_device) or largest_host_weight > 0
    for name in gpu_names:
        runs_layers = name in with_layers or (name == offload_device and host_work)
        peak = 0
        if runs_layers:
            peak = stage
            if name == offload_device and host_work:
                # one host layer's K cells (converted for the GPU's attention) and its input, or a
                # host weight of a block running here (-ot ...=CPU), staged inside this device's work
                staged_kv = (host_layer_kv // 2 + 4 * f.n_embd * s.n_tokens
                             if host_layer_kv and not s.scores_on_host else 0)
                peak += max(gpu_block_host_weight, staged_kv)
                if host_block_weight:
                    # a host block's weight: its matrix product is offloaded alone (the block's
                    # other ops stay on the host), the staged weight with its input and output
                    alone = host_block_weight + 4 * (f.n_embd + max(f.n_ff or [0])) * s.n_tokens
                    peak = max(peak, alone - masks - resid)
        if name == output_device:
            peak = max(peak, logits)
        if runs_layers or name == output_device:
            out[name] = (masks if runs_layers else 0) + resid + peak
        if name == offload_device and largest_host_expert:
            # op offload of a host expert matmul: the whole expert tensor staged (only the used
            # experts are copied into it) with the expert stage and its input and output
            out[name] = max(out.get(name, 0), _moe_stage(f, s) + 2 * 4 * f.n_embd * s.n_tokens + largest_host_expert)
    if not gpu_names:
        # one backend, one allocator: inputs and residuals share the buffer (term 7)
        out[CPU] = masks + int(4 * CPU_ONLY_EMBD_COPIES * f.n_embd * s.n_tokens) + max(_stage(f, s, cpu=True), logits)
        return out
    host = masks + int(4 * HOST_EMBD_COPIES * f.n_embd * s.n_tokens)
    if (host_attention_scores or s.scores_on_host) and not s.flash_attn:
        host += 4 * s.n_kv * s.n_tokens * (max(f.n_head) if f.n_head else 0)
    out[CPU] = host if offload_device else _host_runs_its_work(f, s, host, layer_device, output_device,
                                                                  largest_host_expert)
    return out


def _host_runs_its_work(f: ModelFacts, s: ComputeShape, host: int, layer_device: list[str], output_device: str,
                        largest_host_expert: int) -> int:
    """Term 11: no device offloads the host's big-batch work (rpc-server workers only): the host
    runs its own blocks, with the one-backend figure of term 7 (its layers' stage, the logits when
    it holds the output), or, with only experts of its own, their stage beside the host buffer."""
    if any(d == CPU for d in layer_device[: f.n_layer]):
        logits = 4 * f.n_vocab * s.n_outputs if output_device == CPU else 0
        return max(host, _masks(f, s) + int(4 * CPU_ONLY_EMBD_COPIES * f.n_embd * s.n_tokens)
                   + max(_stage(f, s, cpu=True), logits))
    if largest_host_expert:
        return host + _moe_stage(f, s) + 4 * f.n_embd * s.n_tokens
    return host


def _mask_bytes(f: ModelFacts, s: ComputeShape, layers: list[int]) -> int:
    """The masks the attention of ``layers`` reads: one per kind (full, sliding-window) among them."""
    return _mask_size(s, {bool(f.swa[il]) if f.swa else False for il in layers if f.has_kv(il)})


def _mask_size(s: ComputeShape, kinds: set[bool] | frozenset[bool]) -> int:
    """Bytes of one mask per attention kind in ``kinds`` (True: sliding-window)."""
    per = 2 if s.flash_attn else 4
    return ((per * s.n_kv * s.n_tokens if False in kinds else 0)
            + (per * (s.n_kv_swa or s.n_kv) * s.n_tokens if True in kinds else 0))


def _suffix_kinds(f: ModelFacts, blocks: list[int]) -> list[frozenset[bool]]:
    """``out[k]``: the attention kinds of ``blocks[k:]`` (``out[len(blocks)]`` is empty), built from
    the end in one pass: a device's peak looks at every suffix of its blocks, and a model of a few
    hundred blocks would otherwise ask each block's kind once per suffix."""
    out = [frozenset()] * (len(blocks) + 1)
    for k in range(len(blocks) - 1, -1, -1):
        il = blocks[k]
        out[k] = out[k + 1] | {bool(f.swa[il]) if f.swa else False} if f.has_kv(il) else out[k + 1]
    return out


def _ffn_stage(f: ModelFacts, s: ComputeShape) -> int:
    """The FFN's largest activations: dense gate/up/product, or the used experts' gate/up rows."""
    dense_ff = [f.n_ff[il] for il in range(f.n_layer) if not f.dense_ffn or f.dense_ffn[il]]
    dense = int(4 * DENSE_FFN_COPIES * max(dense_ff, default=0) * s.n_tokens)
    moe = int(4 * s.n_tokens * f.n_expert_used * MOE_FFN_COPIES * f.n_ff_exp) if f.is_moe else 0
    return max(dense, moe)


def _scores(f: ModelFacts, s: ComputeShape, il: int) -> int:
    """Attention scores of layer ``il`` without flash attention: F32 ``[n_kv, n_tokens, n_head]``."""
    if s.flash_attn or s.scores_on_host:
        return 0
    n_kv = s.n_kv_swa if f.swa and f.swa[il] and s.n_kv_swa else s.n_kv
    return 4 * n_kv * s.n_tokens * (f.n_head[il] if f.n_head else 0)


def _several_devices(f: ModelFacts, s: ComputeShape, layer_device: list[str], output_device: str,
                     gpu_names: list[str], largest_host_weight: int, host_layer_kv: int,
                     host_attention_scores: bool, weight_devices: frozenset[str], offload_device: str | None,
                     pipeline_copies: int, largest_host_expert: int,
                     remote_ffn_blocks: frozenset[int]) -> dict[str, int]:
    """Term 8: each device's buffer from what it holds and does (several devices). Within a
    device's part of the graph the allocator frees a tensor after its last use, so the buffer is
    the peak over the device's blocks of two phases:

    - attention of block b: the masks of the kinds b and the later blocks there use (a mask dies
      after the last attention reading it; a sliding-window model's full-attention mask lives only
      where its full-attention layers are), the residual stream, the scores without flash attention;
    - FFN of block b: the masks still needed by later blocks there, the FFN stage and its input and
      output (an expert stage: the used experts' gate/up rows). The last block of the model runs
      its FFN on the output rows only, so a device with only that block needs little more than its
      attention phase. A block whose FFN weights sit elsewhere (``-ot``, ``--n-cpu-moe``) adds the
      copies of that FFN's input and output;
    - no block, only weights put there by ``-ot``: the FFN stage with its input and output;
    - only the output layer: the logits;
    - the device doing the host's big-batch work (op offload: the first device whose backend
      offloads ops; RPC does not) when blocks or weights stay on the host: the one-device figure
      of the host blocks plus the staged host weight or KV (or the largest host expert tensor),
      even with no block of its own;
    - pipeline parallelism (``pipeline_copies`` > 1): the scheduler keeps every graph input in
      that many copies: on the first device its masks and the residual stream, on the others their
      masks and one input, on the host the masks and two inputs.
    Read off real runs with two rpc-server workers and lavapipe (tests/test_planner_rpc_real.py
    MULTI_CASES, build 11434): the phases and pipeline copies on the tiny llama, the per-kind masks
    on gemma3, the expert stage and the remote-FFN copies on qwen3moe. Its HELD_OUT_CASES were
    added afterwards and never tuned on."""
    embd = 4 * f.n_embd * s.n_tokens
    resid = _residual(f, s)
    stage = _ffn_stage(f, s)
    logits = 4 * f.n_vocab * s.n_outputs
    host_blocks = [il for il, d in enumerate(layer_device) if d == CPU and il < f.n_layer]
    extra = max(pipeline_copies - 1, 0)
    out: dict[str, int] = {}
    first_with_layers = next((d for d in layer_device if d != CPU), None)
    for name in gpu_names:
        blocks = [il for il, d in enumerate(layer_device) if d == name and il < f.n_layer]
        peak = 0
        suffix = _suffix_kinds(f, blocks)
        for k, il in enumerate(blocks):
            peak = max(peak, _mask_size(s, suffix[k]) + resid + _scores(f, s, il))
            if il != f.n_layer - 1:
                peak = max(peak, _mask_size(s, suffix[k + 1]) + stage + 2 * embd)
        if any(il in remote_ffn_blocks for il in blocks):
            peak += 2 * embd
        if not blocks and name in weight_devices:
            peak = stage + 2 * embd
        if name == offload_device and (host_blocks or largest_host_weight or largest_host_expert):
            staged_kv = host_layer_kv // 2 + embd if host_layer_kv else 0
            if host_blocks or largest_host_weight:
                work = (_mask_bytes(f, s, host_blocks or list(range(f.n_layer))) + resid
                        + max(stage, max((_scores(f, s, il) for il in host_blocks), default=0))
                        + max(largest_host_weight, staged_kv))
            else:
                work = stage + 2 * embd + largest_host_expert
            peak = max(peak, work)
        if name == output_device:
            peak = max(peak, logits)
        if extra and blocks:
            peak += extra * (_mask_size(s, suffix[0]) + (resid if name == first_with_layers else embd))
        if peak:
            out[name] = peak
    host = _masks(f, s) + int(4 * HOST_EMBD_COPIES * f.n_embd * s.n_tokens)
    if extra:
        host += extra * (_masks(f, s) + 2 * embd)
    if (host_attention_scores or s.scores_on_host) and not s.flash_attn:
        host += 4 * s.n_kv * s.n_tokens * (max(f.n_head) if f.n_head else 0)
    out[CPU] = host if offload_device else _host_runs_its_work(f, s, host, layer_device, output_device,
                                                                  largest_host_expert)
    return out
