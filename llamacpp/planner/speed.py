"""Generation speed estimate: memory traffic per token over bandwidth, plus graph-split costs.

Token generation is memory-bound: each device reads, for every generated token, the weights it
holds that the token uses (all of a dense model's matrices; for routed experts only
``n_expert_used / n_expert`` of them; one row of the token embeddings, i.e. nothing) and the KV
cells of its layers up to the current depth. Devices work one after the other (layer split is a
pipeline, not parallel, for one sequence), so times add up. Each graph split (a change of device
along the graph) costs a synchronisation and a copy of the activations: SPLIT_COST_S per split.
Achieved bandwidth is a fraction of the nominal one (BANDWIDTH_EFFICIENCY).

These are estimates for choosing among placements; the test phase measures the real speed.
"""
from __future__ import annotations

from dataclasses import dataclass

from llamacpp.gguf_model import TensorInfo

from .model_facts import ModelFacts
from .placement import CPU, Placement
from .tensors import classify

SPLIT_COST_S = 60e-6          # per graph split per token (sync + activation copy), GPU<->host
BANDWIDTH_EFFICIENCY = 0.75   # fraction of nominal bandwidth a decode step achieves
DEFAULT_GPU_GBS = {"CUDA": 500.0, "ROCm": 500.0, "Vulkan": 300.0, "Metal": 200.0, "RPC": 100.0}
DEFAULT_CPU_GBS = 50.0


@dataclass
class SpeedEstimate:
    tokens_per_s: float | None
    seconds_by_device: dict[str, float]
    n_splits: int
    assumed: list[str]


def count_splits(tensors: list[TensorInfo], placement: Placement) -> int:
    """Device changes along the tensors in graph order (token embedding -> blocks -> output)."""
    order: list[str] = []
    for t in tensors:
        dev = placement.tensor_device.get(t.name)
        if dev is None:
            continue
        role = classify(t.name)
        if role.part == "norm":
            continue  # norms run where their input is
        if not order or order[-1] != dev:
            order.append(dev)
    return max(len(order) - 1, 0)


def estimate_speed(tensors: list[TensorInfo], facts: ModelFacts, placement: Placement,
                   kv_by_device: dict[str, int], *, depth_tokens: int, kv_cells: int,
                   bandwidth_gbs: dict[str, float | None], backends: dict[str, str],
                   splits: int | None = None) -> SpeedEstimate:
    """Seconds per generated token per device and the tokens/s they add up to.

    ``kv_by_device`` is the KV bytes at ``kv_cells`` cells; a token at ``depth_tokens`` reads the
    filled fraction of it. ``bandwidth_gbs`` None means unknown: a per-backend default is assumed
    and listed in ``assumed``.
    """
    read: dict[str, float] = {}
    expert_frac = facts.n_expert_used / facts.n_expert if facts.n_expert else 1.0
    for t in tensors:
        dev = placement.tensor_device.get(t.name)
        if dev is None:
            continue
        role = classify(t.name)
        if role.kind == "input":
            continue  # one embedding row per token
        frac = expert_frac if role.part == "ffn_exps" else 1.0
        read[dev] = read.get(dev, 0.0) + t.n_bytes * frac
    if placement.tied_output_device is not None:
        emb = next((t for t in tensors if t.name == "token_embd.weight"), None)
        if emb is not None:
            read[placement.tied_output_device] = read.get(placement.tied_output_device, 0.0) + emb.n_bytes
    fill = min(1.0, depth_tokens / kv_cells) if kv_cells else 0.0
    for dev, b in kv_by_device.items():
        read[dev] = read.get(dev, 0.0) + b * fill
    assumed: list[str] = []
    seconds: dict[str, float] = {}
    for dev, b in read.items():
        if b <= 0:
            continue
        bw = bandwidth_gbs.get(dev)
        if not bw:
            backend = backends.get(dev, "CPU")
            bw = DEFAULT_CPU_GBS if dev == CPU else DEFAULT_GPU_GBS.get(backend, 300.0)
            assumed.append(f"{dev}: memory bandwidth unknown, assumed {bw:g} GB/s")
        seconds[dev] = b / (bw * 1e9 * BANDWIDTH_EFFICIENCY)
    n_splits = count_splits(tensors, placement) if splits is None else splits
    total = sum(seconds.values()) + n_splits * SPLIT_COST_S
    return SpeedEstimate(1.0 / total if total > 0 else None, seconds, n_splits, assumed)
