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
- per MoE block, the routing cost (top-k selection, many small expert matmuls): ``moe_layer:<class>``
  of the device its experts run on (CUDA's fused expert kernels make it small there; ROCm/Vulkan
  pay more; on the host it adds thread synchronisation per block);
- per graph split (a change of device along the graph: synchronisation and a copy of the
  activations), ``per_split``.

The host reads at most ``threads * HOST_THREAD_GBS``: its expert matmuls are compute-bound with few
threads (dequantizing and multiplying a byte costs a thread time), so a few threads cannot use all of
the RAM bandwidth; with enough threads RAM bandwidth bounds them. Each term
is a feature times a constant, so the constants are fitted by linear least squares on relative
error (``benchmarks/fit_speed.py`` on the calibration rows of
``llamacpp/planner/data/speed_measurements.json``; held-out rows are never fitted on, and
docs/accuracy.md reports them).

Prompt processing (``pp``) is compute-bound: per micro-batch, matrix FLOPs per device over a
throughput that grows with the device's bandwidth (``pp_flops:<class>``; bandwidth stands in for
the GPU's size, the rig knows no FLOP/s), a cost per block (``pp_layer``: the non-matmul work on
the batch) and per MoE block (``pp_moe_layer``: each expert gets only a few of the batch's tokens),
plus, where weights live on the host, their copy to the GPU for every micro-batch (llama.cpp
offloads large host matmuls to the GPU) over the link (``link_gbs``, PCIe 4.0 x16 assumed).

These are estimates for choosing among placements; the test phase measures the real speed, and a
rig's own measured/predicted ratio (calibration) corrects later plans.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from typing import Iterable, Mapping

from onboard.llamacpp.gguf_model import TensorInfo

from .model_facts import ModelFacts
from .placement import CPU, Placement
from .tensors import classify

# Fitted by benchmarks/fit_speed.py (least squares on relative error over the calibration rows of
# llamacpp/planner/data/speed_measurements.json: llama.cpp builds of Dec 2023 to 2026, CUDA / Metal /
# Vulkan / ROCm, dense and MoE, full offload, --n-cpu-moe and -ngl). Seconds per feature unit;
# ``per_byte`` constants are the inverse of the reached share of nominal bandwidth.
TOKEN_CONSTANTS: dict[str, float] = {
    "per_token": 0.0,
    "per_layer:CUDA": 6.75e-05,
    "per_layer:Metal": 1.93e-04,
    "per_layer:other": 4.87e-05,
    "per_layer:CPU": 1.16e-03,
    "per_layer:CPU-only": 6.0e-05,
    "per_byte:CUDA": 1.17,
    "per_byte:Metal": 1.2,
    "per_byte:other": 1.0,
    "per_byte:CPU": 1.71,
    "per_byte:flat": 0.0892,
    "moe_layer:CUDA": 0.0,
    "moe_layer:Metal": 0.0,
    "moe_layer:other": 7.41e-05,
    "moe_layer:CPU": 3.35e-04,
    "per_split": 0.0,
}
# What each constant stands for (rendered next to its value in docs/accuracy.md).
CONSTANT_MEANING: dict[str, str] = {
    "per_token": "seconds per generated token whatever the placement (graph build, sampling); fitted to 0: "
                 "the per-block costs carry the fixed part",
    "per_layer:CUDA": "seconds per block run on a CUDA GPU (kernel launches and synchronisation)",
    "per_layer:Metal": "seconds per block run on a Metal GPU",
    "per_layer:other": "seconds per block run on a Vulkan / ROCm / SYCL / RPC device",
    "per_layer:CPU": "seconds per block whose attention runs on the host beside a GPU (-ngl below the block count: "
                     "its hand-over to and from the GPU)",
    "per_layer:CPU-only": "seconds per block in a plan with no GPU (thread synchronisation): no public row has one; "
                          "read off this repository's CPU runs of real shapes (docs/accuracy-real-shapes.md), "
                          "where it is within their noise of 0",
    "per_byte:CUDA": "inverse of the share of nominal bandwidth a CUDA GPU reaches on weight reads (at low bandwidth)",
    "per_byte:Metal": "the same for Metal (memory shared with the CPU)",
    "per_byte:other": "the same for Vulkan / ROCm / SYCL / RPC devices",
    "per_byte:CPU": "inverse of the share of nominal RAM bandwidth the host reaches on expert / FFN reads",
    "per_byte:flat": "added to a GPU's inverse share per TB/s of its bandwidth: fast GPUs reach a smaller share",
    "moe_layer:CUDA": "seconds per MoE block with its experts on a CUDA GPU (routing, many small expert matmuls)",
    "moe_layer:Metal": "the same on a Metal GPU (no calibration row runs an MoE on Metal: left at 0)",
    "moe_layer:other": "the same on a Vulkan / ROCm device",
    "moe_layer:CPU": "seconds per MoE block with its experts on the host (routing, small matmuls, thread sync)",
    "per_split": "seconds per graph split (a device change: synchronisation and a copy of the activations); "
                 "fitted to 0: too small beside the per-block costs to tell apart (a split to the host comes "
                 "with a host block)",
}
# Prompt processing, seconds per micro-batch by feature (``prompt_features``), fitted by
# benchmarks/fit_speed.py on the calibration rows with a pp512 figure (least absolute relative error).
PP_CONSTANTS: dict[str, float] = {
    "pp_flops:CUDA": 7.51e-03,
    "pp_flops:Metal": 3.73e-02,
    "pp_flops:other": 4.04e-03,
    "pp_layer": 1.8e-03,
    "pp_moe_layer": 2.61e-03,
}
CONSTANT_MEANING.update({
    "pp_flops:CUDA": "inverse of the matrix FLOP/s per GB/s of bandwidth a CUDA GPU reaches on a prompt "
                     "(bandwidth stands in for the GPU's size)",
    "pp_flops:Metal": "the same for Metal",
    "pp_flops:other": "the same for Vulkan / ROCm / SYCL / RPC devices",
    "pp_layer": "seconds per block per micro-batch that do not scale with bandwidth (norms, RoPE, softmax, "
                "copies, launches)",
    "pp_moe_layer": "seconds per MoE block per micro-batch (routing; each expert gets few of the batch's tokens, "
                    "so its matmuls are small)",
})
PP_UBATCH = 512
FLAT_GBS = 1000.0             # the bandwidth at which ``per_byte:flat`` adds its own value to the inverse share
# What one host thread pulls and computes, read off this repository's own runs of real shapes on
# the CPU (docs/accuracy-real-shapes.md: Llama-3.1-8B Q4_K_M on 2 Zen 4 threads generated 5.4-6.4 t/s
# over four runs, about 28 GB/s read, and took a 512-token prompt at 10.5-14.1 t/s, about 100 GFLOP/s
# per thread with AVX-512). No public row binds these (their hosts run 20+ threads), so the fit of
# TOKEN_CONSTANTS does not move with them.
HOST_THREAD_GBS = 30.0        # RAM bandwidth one host thread can pull (nominal-equivalent, before per_byte:CPU)
HOST_THREAD_GFLOPS = {"avx512f": 100.0, "": 40.0}  # quantized matmul GFLOP/s of one thread by widest ISA;
                              # the AVX2 figure is assumed (about half: half the vector width)
HOST_EXPERT_EFFICIENCY = 0.64  # the host's expert products on a 512-token prompt against its dense ones
                              # (Qwen3-Coder-30B-A3B on the CPU, same run: ~32 tokens per expert)
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
    matmul_flops: float = 0.0  # FLOPs per token of the matrices here (experts at the used share; on the
                               # host over HOST_EXPERT_EFFICIENCY)
    host_weight_bytes: float = 0.0  # host only: every matrix byte held here (copied to a GPU per micro-batch)
    threads: int | None = None      # host only
    link_gbs: float | None = None   # GPU only: host link
    thread_gflops: float = HOST_THREAD_GFLOPS[""]  # host only: matmul throughput of one thread


@dataclass
class SpeedEstimate:
    tokens_per_s: float | None
    seconds_by_device: dict[str, float]
    n_splits: int
    assumed: list[str]
    prompt_tokens_per_s: float | None = None
    terms: dict[str, float] = field(default_factory=dict)  # seconds per token by feature


def token_features(loads: Iterable[DeviceLoad], n_splits: int, with_gpu: bool | None = None) -> dict[str, float]:
    """The linear features of one decode step: feature name -> amount (seconds at nominal speed
    for ``per_byte:*``, counts otherwise). Seconds per token = sum of feature * constant.
    ``with_gpu``: whether the placement has a GPU (None: whether ``loads`` has one)."""
    f: dict[str, float] = {"per_token": 1.0, "per_split": float(n_splits)}
    loads = list(loads)
    if with_gpu is None:
        with_gpu = any(device_class(d.backend) != "CPU" for d in loads)
    for d in loads:
        cls = device_class(d.backend)
        bw = d.bandwidth_gbs
        if cls == "CPU" and d.threads:
            bw = min(bw, d.threads * HOST_THREAD_GBS)
        if d.bytes_read > 0:
            f[f"per_byte:{cls}"] = f.get(f"per_byte:{cls}", 0.0) + d.bytes_read / (bw * 1e9)
            if cls != "CPU":  # a GPU's reached share falls as its bandwidth rises: 1 / (k + flat * bw / 1 TB/s)
                f["per_byte:flat"] = f.get("per_byte:flat", 0.0) + d.bytes_read / FLAT_GBS / 1e9
        if d.layers:  # a host block beside a GPU also pays its hand-over: its own constant
            key = f"per_layer:{cls}" if cls != "CPU" or with_gpu else "per_layer:CPU-only"
            f[key] = f.get(key, 0.0) + d.layers
        if d.moe_layers:
            f[f"moe_layer:{cls}"] = f.get(f"moe_layer:{cls}", 0.0) + d.moe_layers
    return f


def token_seconds(loads: Iterable[DeviceLoad], n_splits: int,
                  constants: Mapping[str, float] = TOKEN_CONSTANTS,
                  with_gpu: bool | None = None) -> tuple[float, dict[str, float]]:
    """Seconds per generated token and its terms (feature name -> seconds)."""
    terms = {k: v * constants.get(k, 0.0) for k, v in token_features(loads, n_splits, with_gpu).items()}
    return sum(terms.values()), terms


def prompt_features(loads: Iterable[DeviceLoad], ubatch: int = PP_UBATCH) -> tuple[dict[str, float], float]:
    """The linear features of one prompt micro-batch of ``ubatch`` tokens (feature name -> amount;
    seconds = sum of feature * ``PP_CONSTANTS``), and the seconds that need no constant: host-held
    weights copied to the first GPU over its link (llama.cpp offloads large host matmuls), or, with
    no GPU, the host's matmuls at ``thread_gflops`` per thread (``HOST_THREAD_GFLOPS`` by ISA)."""
    loads = list(loads)
    gpus = [d for d in loads if d.backend != "CPU"]
    f: dict[str, float] = {}
    fixed = 0.0
    for d in loads:
        f["pp_layer"] = f.get("pp_layer", 0.0) + d.layers
        f["pp_moe_layer"] = f.get("pp_moe_layer", 0.0) + d.moe_layers
        if d.backend == "CPU":
            if gpus and d.host_weight_bytes:
                fixed += d.host_weight_bytes / ((gpus[0].link_gbs or DEFAULT_LINK_GBS) * 1e9)
            elif d.matmul_flops:
                fixed += d.matmul_flops * ubatch / ((d.threads or 8) * d.thread_gflops * 1e9)
        elif d.matmul_flops:
            key = f"pp_flops:{device_class(d.backend)}"
            f[key] = f.get(key, 0.0) + d.matmul_flops * ubatch / (d.bandwidth_gbs * 1e9)
    return f, fixed


def prompt_tokens_per_s(loads: Iterable[DeviceLoad], ubatch: int = PP_UBATCH,
                        constants: Mapping[str, float] = PP_CONSTANTS) -> float | None:
    """Prompt tokens/s for micro-batches of ``ubatch`` tokens: each device's matmul FLOPs over a
    throughput that grows with its bandwidth (devices in turn), per-block and per-MoE-block costs,
    and host-held weights copied to the GPU once per micro-batch. None when nothing is known to compute."""
    f, seconds = prompt_features(loads, ubatch)
    if not any(k.startswith("pp_flops:") for k in f) and not seconds:
        return None
    seconds += sum(v * constants.get(k, 0.0) for k, v in f.items())
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
               assumed: list[str] | None = None, cpu_flags: Iterable[str] = ()) -> list[DeviceLoad]:
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
            # the host's expert products run below its dense rate (HOST_EXPERT_EFFICIENCY): a
            # prompt batch gives each expert only a few tokens; count them as more FLOPs there
            slow = 1.0 / HOST_EXPERT_EFFICIENCY if dev == CPU and t.part == "ffn_exps" else 1.0
            flops[dev] = flops.get(dev, 0.0) + 2.0 * t.elements * frac * slow
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
    flags = {f.lower() for f in cpu_flags}
    gflops = next(v for k, v in HOST_THREAD_GFLOPS.items() if not k or k in flags)
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
                              threads if dev == CPU else None, (link_gbs or {}).get(dev), gflops))
    return out


def estimate_speed(tensors: list[TensorInfo], facts: ModelFacts, placement: Placement,
                   kv_by_device: dict[str, int], *, depth_tokens: int, kv_cells: int,
                   bandwidth_gbs: dict[str, float | None], backends: dict[str, str],
                   splits: int | None = None, threads: int | None = None,
                   link_gbs: dict[str, float | None] | None = None, ubatch: int = PP_UBATCH,
                   cpu_flags: Iterable[str] = ()) -> SpeedEstimate:
    """Generation tokens/s (and prompt tokens/s) of one placement.

    ``kv_by_device`` is the KV bytes at ``kv_cells`` cells; a token at ``depth_tokens`` reads the
    filled fraction of it. ``bandwidth_gbs`` None means unknown: a per-backend default is assumed
    and listed in ``assumed``. ``ubatch`` is the prompt micro-batch (``-ub``): host-held weights
    cross the link once per micro-batch, so a larger one speeds up the prompt of such a placement.
    """
    assumed: list[str] = []
    loads = plan_loads(tensors, facts, placement, kv_by_device, depth_tokens=depth_tokens, kv_cells=kv_cells,
                       bandwidth_gbs=bandwidth_gbs, backends=backends, threads=threads, link_gbs=link_gbs,
                       assumed=assumed, cpu_flags=cpu_flags)
    n_splits = count_splits(tensors, placement) if splits is None else splits
    total, terms = token_seconds(loads, n_splits)
    by_device: dict[str, float] = {}
    with_gpu = any(device_class(d.backend) != "CPU" for d in loads)
    for d in loads:
        own, _ = token_seconds([d], 0, {k: v for k, v in TOKEN_CONSTANTS.items()
                                         if k not in ("per_token", "per_split")}, with_gpu)
        by_device[d.name] = own
    return SpeedEstimate(1.0 / total if total > 0 else None, by_device, n_splits, assumed,
                         prompt_tokens_per_s(loads, ubatch), terms)
