"""Render docs/gpu-strategy-guide.md from the strategies module's own data, so the guide cannot
drift from the code (tests/test_planner_docs.py checks the committed file is this rendering)."""
from __future__ import annotations

from . import compute, overhead, speed
from .strategies import ORDER, STRATEGIES


def _cell(text: str) -> str:
    """A Markdown table cell: pipes inside regexes escaped so the table keeps its columns."""
    return text.replace("|", "\\|")


def render_strategy_guide() -> str:
    rows = "\n".join(f"| {letter} | {name} | {when} | {_cell(how)} |" for letter, name, when, how in STRATEGIES)
    cuda = overhead.BACKEND_OVERHEAD_MIB["CUDA"]
    return f"""# GPU strategy guide

Generated from `llamacpp/planner/strategies.py` by `llamacpp.planner.strategy_guide.render_strategy_guide`;
do not edit by hand (a test checks this file is current).

`onboard plan MODEL.gguf` (and the profile phase) predicts what llama.cpp will allocate on every
device and chooses where the model goes. With any placement flag (`--ngl`, `--tensor-split`,
`--override-tensor`, `--n-cpu-moe`, `--cpu-moe`) it does not choose: it predicts that placement
exactly as llama.cpp applies it with `--fit off` (strategy `given`).

## The strategies

| letter | name | candidate when | what it sets |
| --- | --- | --- | --- |
{rows}

With several GPUs, C, D and L are combined with B's layer split and reported as `B+C`, `B+D`, `B+L`.

## How one is chosen

{ORDER}.

1. No GPU: `CPU`.
2. Every candidate is searched for the smallest change that fits: A and B need no search; C and D
   move the FFN part (routed experts for C, dense FFN matrices for D) of the first N layers, with the
   smallest N that fits; L lowers `-ngl` by the smallest number of layers that fits. Several GPUs:
   the layer split starts from each device's free memory, moves layers off a device that overflows,
   then moves layers to the faster device while everything still fits and the estimate improves.
3. "Fits" means: weights + KV + compute + runtime overhead (+ the host output buffer on the CPU)
   + the device's margin <= the device's usable memory, on every device including the host.
4. Among the plans that fit, the highest estimated tokens/s wins. Typical outcomes: A when the model
   fits one GPU; B when it needs several; C for a MoE that does not fit (attention and KV stay on the
   GPU, only routed experts stream from RAM); D or L for a dense model that does not fit (D keeps
   the whole KV cache on the GPU and usually wins at long context; L wins when the KV is small).
5. Nothing fits: the plan that overflows least is returned with `fits: false` and a warning.

## What is charged where

- Weights: exact tensor bytes under llama.cpp's placement rules (`-ngl` counts the output layer
  first, `-ts` proportions with upper_bound, `-ot` first match, token embeddings on the host).
- KV cache: per layer on the layer's device; sliding-window layers hold only their window; MLA
  stores the K latent only; recurrent layers hold a fixed state per slot.
- Compute buffers: modelled (llamacpp/planner/compute.py); the attention term is
  `4 * n_kv * n_ubatch * n_head` bytes with flash attention off and only a `2 * n_kv * n_ubatch`
  mask with it on, so flash attention is assumed on (llama.cpp's auto default).
- Runtime overhead outside llama.cpp's buffers: CUDA {cuda:g} MiB per GPU; lavapipe 0.
- Speed: per generated token, the bytes each device reads over its bandwidth divided by the share of it
  reached (fitted per device class, falling as bandwidth rises), plus per-block, per-MoE-block (per device
  class), MoE-on-host and per-split costs, fitted on public measurements (docs/accuracy.md); prompt speed
  from matrix FLOPs per device class, per-block and per-MoE-block costs per micro-batch, and the host-held
  weights copied per micro-batch; unknown bandwidths are assumed and listed in the plan's warnings.
  Strategies are ranked by this estimate; the plan lists the alternatives it beat.
- Residual-stream copies in compute buffers: {compute.RESIDUAL_COPIES:g}; dense FFN activation copies: {compute.DENSE_FFN_COPIES:g}; MoE per used expert: {compute.MOE_FFN_COPIES:g}; host input copies: {compute.HOST_EMBD_COPIES:g}.
"""
