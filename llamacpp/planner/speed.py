"""Generation and prompt speed estimates that meet public llama.cpp measurements.

Token generation is memory-bound, but not only: a decode step also pays fixed costs that do not
shrink with faster memory. The model adds up, per generated token (devices work one after the
other; a layer split is a pipeline, not parallel, for one sequence):

- a fixed per-token cost (graph build, synchronisation, sampling): ``per_token``;
- per device, the bytes the token reads (weights it uses: all of a dense matrix, for routed experts
  ``n_expert_used / n_expert`` of them, one row of the token embedding, i.e. nothing; plus the KV
  cells filled so far) over the nominal bandwidth, times ``per_byte:<class>`` (the inverse of the
  reached share of bandwidth; Metal shares its memory with the CPU and reaches less);
- per block on a device, a launch/synchronisation cost ``per_layer:<class>``: with it the reached
  share of peak bandwidth falls as bandwidth rises, as measured (an H100 is not twice a 4090);
- per MoE block, the routing cost (top-k selection, many small expert matmuls): ``moe_layer:gpu``
  where the experts run on a GPU, ``moe_layer:CPU`` where they run on the host;
- per graph split (a change of device along the graph: synchronisation and a copy of the
  activations), ``per_split``.

The host reads at most ``threads * HOST_THREAD_GBS`` (a few threads cannot saturate RAM). Each term
is a feature times a constant, so the constants are fitted by linear least squares on relative
error (``benchmarks/fit_speed.py`` on the calibration rows of
``llamacpp/planner/data/speed_measurements.json``; held-out rows are never fitted on, and
docs/accuracy.md reports them).

Prompt processing (``pp``) is compute-bound: matrix FLOPs per device over a throughput taken as
``pp_flops_per_byte:<class>`` times the device's bandwidth (a proxy for its size), plus, where
weights live on the host, their copy to the GPU for every micro-batch (llama.cpp offloads large
host matmuls to the GPU) over the link (``link_gbs``, PCIe 4.0 x16 assumed).

These are estimates for choosing among placements; the test phase measures the real speed, and a
rig's own measured/predicted ratio (calibration) corrects later plans.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from typing import Iterable, Mapping

from llamacpp.gguf_model import TensorInfo

from .model_facts import ModelFacts
from .placement import CPU, Placement
from .tensors import classify

# Fitted by benchmarks/fit_speed.py (least squares on relative error over the calibration rows of
# llamacpp/planner/data/speed_measurements.json: 52 of 69 rows, llama.cpp builds of Dec 2023 to 2026,
# CUDA / Metal / Vulkan / ROCm, dense and MoE, full offload, --n-cpu-moe and -ngl). Seconds per
# feature unit; ``per_byte`` constants are the inverse of the reached share of nominal bandwidth.
TOKEN_CONSTANTS: dict[str, float] = {
    "per_token": 0.0,            # fitted to 0: the per-block costs carry the fixed part
    "per_layer:CUDA": 6.89e-05,
    "per_layer:Metal": 1.94e-04,
    "per_layer:other": 7.66e-05,
    "per_layer:CPU": 1.02e-03,   # per block whose attention runs on the host (-ngl below the block count)
    "per_byte:CUDA": 1.19,       # 84% of nominal bandwidth at low bandwidth ...
    "per_byte:Metal": 1.22,
    "per_byte:other": 1.0,       # at its floor (no device reads faster than nominal)
    "per_byte:CPU": 1.79,        # the host reaches ~56% of nominal RAM bandwidth on expert/FFN reads
    "per_byte:flat": 0.056,      # ... falling as bandwidth rises (+0.056 per TB/s)
    "moe_layer:gpu": 0.0,        # not separable in these rows (two full-GPU MoE calibration rows)
    "moe_layer:CPU": 2.55e-04,   # per MoE block with its experts on the host (routing, many small matmuls)
    "per_split": 0.0,            # fitted to 0: not separable from the per-block costs in these rows
}
# prompt processing: matrix FLOP/s per GB/s of nominal bandwidth, per device class (fitted: median
# measured/predicted of the calibration rows with a pp512 figure)
PP_FLOPS_PER_BYTE: dict[str, float] = {"CUDA": 70.3, "Metal": 23.0, "other": 111.0}
PP_PER_UBATCH_S = 2.0e-3      # fixed cost of one micro-batch (assumed, small next to the matmuls)
PP_UBATCH = 512
FLAT_GBS = 1000.0             # the bandwidth at which ``per_byte:flat`` adds its own value to the inverse share
HOST_THREAD_GBS = 12.0        # RAM bandwidth one host thread can pull (assumed: a core's streaming rate)
HOST_THREAD_GFLOPS = 40.0     # quantized matmul throughput of one host thread (assumed: AVX2 at ~40% of peak)
DEFAULT_LINK_GBS = 25.0       # host -> GPU copy rate (PCIe 4.0 x16 in practice) when the rig does not say
DEFAULT_GPU_GBS = {"CUDA": 500.0, "ROCm": 500.0, "Vulkan": 300.0, "Metal": 200.0, "RPC": 100.0}
DEFAULT_CPU_GBS = 50.0
# bandwidth classes with their own constants; every other backend (Vulkan, ROCm/HIP, SYCL, RPC) is "other"
CLASSES = ("CUDA", "Metal")


# a plan search evaluates hundreds of placements of the same tensors: classify each name once
_role = lru_cache(maxsize=1 << 16)(classify)


@lru_cache(maxsize=1 << 16)
def _elements(shape: tuple[int, ...]) -> int:
    n = 1
    for x in shape:
        n *= x
    return n


@dataclass(frozen=True)
class _TensorFacts:
    name: str
    n_bytes: int
    kind: str
    part: str
    layer: int | None
    elements: int  # 0 for a vector (no matmul)


_FACTS: dict[int, tuple[list[TensorInfo], list[_TensorFacts]]] = {}


def _tensor_facts(tensors: list[TensorInfo]) -> list[_TensorFacts]:
    """Role and size of every tensor, computed once per tensor list (the list is kept to pin its id)."""
    hit = _FACTS.get(id(tensors))
    if hit is not None and hit[0] is tensors and len(hit[1]) == len(tensors):
        return hit[1]
    facts = []
    for t in tensors:
        role = _role(t.name)
        facts.append(_TensorFacts(t.name, t.n_bytes, role.kind, role.part or "", role.layer,
                                  _elements(tuple(t.shape)) if len(t.shape) >= 2 else 0))
    if len(_FACTS) > 8:
        _FACTS.clear()
    _FACTS[id(tensors)] = (tensors, facts)
    return facts


def device_class(backend: str) -> str:
    """``CPU``, ``CUDA``, ``Metal`` or ``other``: which constants a device's terms use."""
    if backend == "CPU":
        return "CPU"
    return backend if backend in CLASSES else "other"


@dataclass(frozen=True)
class DeviceLoad:
    """What one device does for one generated token (and holds for a micro-batch of prompt)."""

    name: str
    backend: str               # "CPU" for the host
    bandwidth_gbs: float       # nominal memory bandwidth
    bytes_read: float          # bytes the token reads here (weights it uses + filled KV)
    layers: int = 0            # blocks whose attention runs here
    moe_layers: int = 0        # blocks whose routed experts run here
    matmul_flops: float = 0.0  # FLOPs per token of the matrices here (experts at the used share)
    host_weight_bytes: float = 0.0  # host only: every matrix byte held here (copied to a GPU per micro-batch)
    threads: int | None = None      # host only
    link_gbs: float | None = None   # GPU only: host link


@dataclass
class SpeedEstimate:
    tokens_per_s: float | None
    seconds_by_device: dict[str, float]
    n_splits: int
    assumed: list[str]
    prompt_tokens_per_s: float | None = None
    terms: dict[str, float] = field(default_factory=dict)  # seconds per token by feature


def token_features(loads: Iterable[DeviceLoad], n_splits: int) -> dict[str, float]:
    """The linear features of one decode step: feature name -> amount (seconds at nominal speed
    for ``per_byte:*``, counts otherwise). Seconds per token = sum of feature * constant."""
    f: dict[str, float] = {"per_token": 1.0, "per_split": float(n_splits)}
    for d in loads:
        cls = device_class(d.backend)
        bw = d.bandwidth_gbs
        if cls == "CPU" and d.threads:
            bw = min(bw, d.threads * HOST_THREAD_GBS)
        if d.bytes_read > 0:
            f[f"per_byte:{cls}"] = f.get(f"per_byte:{cls}", 0.0) + d.bytes_read / (bw * 1e9)
            if cls != "CPU":  # a GPU's reached share falls as its bandwidth rises: 1 / (k + flat * bw / 1 TB/s)
                f["per_byte:flat"] = f.get("per_byte:flat", 0.0) + d.bytes_read / FLAT_GBS / 1e9
        if d.layers:
            f[f"per_layer:{cls}"] = f.get(f"per_layer:{cls}", 0.0) + d.layers
        if d.moe_layers:
            key = "moe_layer:CPU" if cls == "CPU" else "moe_layer:gpu"
            f[key] = f.get(key, 0.0) + d.moe_layers
    return f


def token_seconds(loads: Iterable[DeviceLoad], n_splits: int,
                  constants: Mapping[str, float] = TOKEN_CONSTANTS) -> tuple[float, dict[str, float]]:
    """Seconds per generated token and its terms (feature name -> seconds)."""
    terms = {k: v * constants.get(k, 0.0) for k, v in token_features(loads, n_splits).items()}
    return sum(terms.values()), terms


def prompt_tokens_per_s(loads: Iterable[DeviceLoad], ubatch: int = PP_UBATCH,
                        flops_per_byte: Mapping[str, float] = PP_FLOPS_PER_BYTE) -> float | None:
    """Prompt tokens/s for micro-batches of ``ubatch`` tokens: matmul FLOPs over each device's
    throughput (devices in turn), host-held weights copied to the first GPU once per micro-batch,
    and a fixed per-micro-batch cost. None when nothing is known to compute."""
    loads = list(loads)
    gpus = [d for d in loads if d.backend != "CPU"]
    seconds = PP_PER_UBATCH_S
    for d in loads:
        if d.backend == "CPU":
            if gpus and d.host_weight_bytes:
                link = gpus[0].link_gbs or DEFAULT_LINK_GBS
                seconds += d.host_weight_bytes / (link * 1e9)
            elif d.matmul_flops:
                seconds += d.matmul_flops * ubatch / ((d.threads or 8) * HOST_THREAD_GFLOPS * 1e9)
            continue
        if d.matmul_flops:
            rate = flops_per_byte.get(device_class(d.backend), flops_per_byte["other"]) * d.bandwidth_gbs * 1e9
            seconds += d.matmul_flops * ubatch / rate
    return ubatch / seconds if seconds > 0 else None


def count_splits(tensors: list[TensorInfo], placement: Placement) -> int:
    """Device changes along the graph: per block, where its attention runs, then where its FFN
    (or routed experts) run; then the output. The token embedding's lookup is not counted (every
    placement with a GPU pays it)."""
    attn: dict[int, str] = {}
    ffn: dict[int, str] = {}
    for t in _tensor_facts(tensors):
        dev = placement.tensor_device.get(t.name)
        if dev is None or t.kind != "layer" or t.layer is None or t.part == "norm":
            continue
        if t.part.startswith("ffn") or t.part == "router":
            # experts on another device than the rest of the FFN: the experts decide the extra hop
            if t.part == "ffn_exps" or t.layer not in ffn:
                ffn[t.layer] = dev
        else:
            attn.setdefault(t.layer, dev)
    order: list[str] = []
    for il in sorted(set(attn) | set(ffn)):
        for dev in (attn.get(il, placement.layer_device[il] if il < len(placement.layer_device) else CPU),
                    ffn.get(il)):
            if dev is not None and (not order or order[-1] != dev):
                order.append(dev)
    if placement.output_device and (not order or order[-1] != placement.output_device):
        order.append(placement.output_device)
    return max(len(order) - 1, 0)


def plan_loads(tensors: list[TensorInfo], facts: ModelFacts, placement: Placement,
               kv_by_device: Mapping[str, int], *, depth_tokens: int, kv_cells: int,
               bandwidth_gbs: Mapping[str, float | None], backends: Mapping[str, str],
               threads: int | None = None, link_gbs: Mapping[str, float | None] | None = None,
               assumed: list[str] | None = None) -> list[DeviceLoad]:
    """Per-device loads of one placement: bytes read per token, blocks, MoE blocks, FLOPs."""
    read: dict[str, float] = {}
    flops: dict[str, float] = {}
    held: dict[str, float] = {}
    moe: dict[str, set[int]] = {}
    expert_frac = facts.n_expert_used / facts.n_expert if facts.n_expert else 1.0
    for t in _tensor_facts(tensors):
        dev = placement.tensor_device.get(t.name)
        if dev is None or t.kind == "input":
            continue  # the token embedding: one row per token
        frac = expert_frac if t.part == "ffn_exps" else 1.0
        read[dev] = read.get(dev, 0.0) + t.n_bytes * frac
        if t.elements:
            flops[dev] = flops.get(dev, 0.0) + 2.0 * t.elements * frac
            held[dev] = held.get(dev, 0.0) + t.n_bytes
        if t.part == "ffn_exps" and t.layer is not None:
            moe.setdefault(dev, set()).add(t.layer)
    if placement.tied_output_device is not None:
        emb = next((t for t in tensors if t.name == "token_embd.weight"), None)
        if emb is not None:
            dev = placement.tied_output_device
            read[dev] = read.get(dev, 0.0) + emb.n_bytes
            flops[dev] = flops.get(dev, 0.0) + 2.0 * _elements(tuple(emb.shape))
    fill = min(1.0, depth_tokens / kv_cells) if kv_cells else 0.0
    for dev, b in kv_by_device.items():
        read[dev] = read.get(dev, 0.0) + b * fill
    layers: dict[str, int] = {}
    for il, dev in enumerate(placement.layer_device[: facts.n_layer]):
        layers[dev] = layers.get(dev, 0) + 1
    out: list[DeviceLoad] = []
    for dev in sorted(set(read) | set(layers), key=lambda d: (d == CPU, d)):
        backend = "CPU" if dev == CPU else backends.get(dev, "CUDA")
        bw = bandwidth_gbs.get(dev)
        if not bw:
            bw = DEFAULT_CPU_GBS if dev == CPU else DEFAULT_GPU_GBS.get(backend, 300.0)
            if assumed is not None and read.get(dev, 0.0) > 0:
                assumed.append(f"{dev}: memory bandwidth unknown, assumed {bw:g} GB/s")
        out.append(DeviceLoad(dev, backend, float(bw), read.get(dev, 0.0), layers.get(dev, 0), len(moe.get(dev, ())),
                              flops.get(dev, 0.0), held.get(dev, 0.0) if dev == CPU else 0.0,
                              threads if dev == CPU else None, (link_gbs or {}).get(dev)))
    return out


def estimate_speed(tensors: list[TensorInfo], facts: ModelFacts, placement: Placement,
                   kv_by_device: dict[str, int], *, depth_tokens: int, kv_cells: int,
                   bandwidth_gbs: dict[str, float | None], backends: dict[str, str],
                   splits: int | None = None, threads: int | None = None,
                   link_gbs: dict[str, float | None] | None = None) -> SpeedEstimate:
    """Generation tokens/s (and prompt tokens/s) of one placement.

    ``kv_by_device`` is the KV bytes at ``kv_cells`` cells; a token at ``depth_tokens`` reads the
    filled fraction of it. ``bandwidth_gbs`` None means unknown: a per-backend default is assumed
    and listed in ``assumed``.
    """
    assumed: list[str] = []
    loads = plan_loads(tensors, facts, placement, kv_by_device, depth_tokens=depth_tokens, kv_cells=kv_cells,
                       bandwidth_gbs=bandwidth_gbs, backends=backends, threads=threads, link_gbs=link_gbs,
                       assumed=assumed)
    n_splits = count_splits(tensors, placement) if splits is None else splits
    total, terms = token_seconds(loads, n_splits)
    by_device: dict[str, float] = {}
    for d in loads:
        own, _ = token_seconds([d], 0, {k: v for k, v in TOKEN_CONSTANTS.items()
                                         if k not in ("per_token", "per_split")})
        by_device[d.name] = own
    return SpeedEstimate(1.0 / total if total > 0 else None, by_device, n_splits, assumed,
                         prompt_tokens_per_s(loads), terms)
