"""Cases for checking the planner against real llama-server, and the runner that executes one.

Shared by tests/test_planner_vs_llama.py (asserts the targets) and
benchmarks/accuracy_vs_llama.py (writes docs/data/accuracy.json). Each case is a tiny real model
from tests/gguf_factory.py plus llama-server placement/context flags; the same flags are turned
into a PlanRequest, so the planner and llama.cpp see one configuration.

Every case is tagged "calibration" or "held-out": the compute-buffer constants in
llamacpp/planner/compute.py were tuned only on calibration cases; the held-out ones are reported
separately (cases kept aside that no constant was tuned on).

The software GPU is Mesa lavapipe (``Vulkan0``, 2048 MiB, GGML_VK_VISIBLE_DEVICES=0); every run
uses ``-fit off --no-warmup -lv 4 -lm none`` (``-lm none`` = no mmap: host weights are real
allocations equal to the sum of host tensors, not the mapped file span).
"""
from __future__ import annotations

import os
import re
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from onboard.llamacpp.log_analysis import analyze_log
from onboard.llamacpp.planner import PlanRequest
from onboard.llamacpp.rig import Device, Host, Rig

from tests import gguf_factory

# the compute buffers are printed last; then the graph summary (its wording varies by build)
READY = re.compile(r"sched_reserve: graph|reserve took|graph splits|listening on|server is listening")
HOST_BUFFERS = re.compile(r"^(CPU.*|.*_Host|AMX|BLAS)$")
LAVAPIPE_MIB = 2048.0

# model key -> factory arguments (dims big enough that buffers are MiB, small enough to load fast)
MODELS: dict[str, dict[str, Any]] = {
    "llama-gqa": dict(arch="llama", n_layer=4, n_embd=512, n_head=8, n_head_kv=2, head_dim=64, n_ff=1536),
    "llama-mqa-tied-kquant": dict(arch="llama", n_layer=4, n_embd=512, n_head=8, n_head_kv=1, head_dim=64,
                                  n_ff=1536, tied_embeddings=True,
                                  tensor_types={"*ffn_down*": "Q4_K", "*attn_v*": "Q8_0", "*ffn_up*": "Q6_K",
                                                "token_embd.weight": "Q8_0"}),
    "qwen3moe": dict(arch="qwen3moe", n_layer=4, n_embd=512, n_head=8, n_head_kv=2, head_dim=64, n_ff=1024,
                     n_expert=8, n_expert_used=2, n_ff_exp=256),
    "gemma3-swa": dict(arch="gemma3", n_layer=6, n_embd=256, n_head=4, n_head_kv=1, head_dim=64, n_ff=512,
                       sliding_window=128),
    "deepseek2-mla": dict(arch="deepseek2", nextn_layers=1),
    # the CUDA recording's own models (``cuda_cases``): a real-sized vocabulary, where the logits
    # dominate the compute buffer, and two real-sized layers of Llama-3-8B and Qwen3-30B-A3B
    "llama-vocab32k-q8": dict(arch="llama", n_layer=4, n_embd=256, n_head=4, n_head_kv=2, head_dim=64,
                              n_ff=768, n_vocab=32000, tied_embeddings=True,
                              tensor_types={"token_embd.weight": "Q8_0"}),
    "llama3-8b-shape-2l": dict(arch="llama", n_layer=2, n_embd=4096, n_head=32, n_head_kv=8, head_dim=128,
                               n_ff=14336, n_vocab=128256, default_type="Q4_K",
                               tensor_types={"output.weight": "Q6_K"}),
    "qwen3moe-30b-shape-2l": dict(arch="qwen3moe", n_layer=2, n_embd=2048, n_head=32, n_head_kv=4, head_dim=128,
                                  n_ff=6144, n_expert=128, n_expert_used=8, n_ff_exp=768, n_vocab=151936,
                                  default_type="Q4_K", tensor_types={"output.weight": "Q6_K"}),
}


@dataclass(frozen=True)
class Case:
    id: str
    model: str
    args: tuple[str, ...]
    split: str  # "calibration" or "held-out"


def _cases() -> list[Case]:
    spec: list[tuple[str, str, str]] = [
        ("llama-gqa", "full-fa", "-c 4096 -ngl 99 -fa on"),
        ("llama-gqa", "full-nofa", "-c 4096 -ngl 99 -fa off"),
        ("llama-gqa", "ngl3-ctx8k", "-c 8192 -ngl 3 -fa on"),
        ("llama-gqa", "ngl0", "-c 4096 -ngl 0 -fa on"),
        ("llama-gqa", "ngl1-output-only", "-c 4096 -ngl 1 -fa on"),
        ("llama-gqa", "np3-ctx3000", "-c 3000 -np 3 -ngl 99 -fa on"),
        ("llama-gqa", "q8-cache-ctx8k", "-c 8192 -ngl 99 -ctk q8_0 -ctv q8_0 -fa on"),
        ("llama-gqa", "q8k-nofa", "-c 4096 -ngl 99 -ctk q8_0 -fa off"),
        ("llama-gqa", "ot-ffn-blk1", r"-c 4096 -ngl 99 -fa on -ot blk\.1\.ffn_.*=CPU"),
        ("llama-gqa", "ot-dense-ffn-0-2", r"-c 4096 -ngl 99 -fa on -ot blk\.(0|2)\.ffn_(up|down|gate)\.=CPU"),
        ("llama-gqa", "ub256-ctx2048", "-c 2048 -ngl 99 -fa on -ub 256"),
        ("llama-gqa", "q4-cache-np2", "-c 4096 -np 2 -ngl 99 -ctk q4_0 -ctv q4_0 -fa on"),
        ("llama-gqa", "ot-pull-host-layer", r"-c 4096 -ngl 2 -fa on -ot blk\.0\.attn_.*=Vulkan0"),
        ("llama-mqa-tied-kquant", "full", "-c 4096 -ngl 99 -fa on"),
        ("llama-mqa-tied-kquant", "ngl0", "-c 4096 -ngl 0 -fa on"),
        ("llama-mqa-tied-kquant", "embd-ot-cpu", r"-c 4096 -ngl 99 -fa on -ot token_embd\.weight=CPU"),
        ("llama-mqa-tied-kquant", "ngl2-nofa", "-c 4096 -ngl 2 -fa off"),
        ("qwen3moe", "full", "-c 4096 -ngl 99 -fa on"),
        ("qwen3moe", "ncpumoe2", "-c 4096 -ngl 99 -fa on --n-cpu-moe 2"),
        ("qwen3moe", "cpumoe", "-c 4096 -ngl 99 -fa on --cpu-moe"),
        ("qwen3moe", "ngl2", "-c 4096 -ngl 2 -fa on"),
        ("qwen3moe", "ot-first-match", r"-c 4096 -ngl 99 -fa on -ot blk\.1\.ffn_up_exps=Vulkan0 -ot ffn_.*_exps=CPU"),
        ("qwen3moe", "q8-np2-nofa-k", "-c 4096 -np 2 -ngl 99 -ctk q8_0 -fa off"),
        ("qwen3moe", "ngl3-ncpumoe3-ctx8k", "-c 8192 -ngl 3 -fa on --n-cpu-moe 3"),
        ("gemma3-swa", "full", "-c 4096 -ngl 99 -fa on"),
        ("gemma3-swa", "np4-ctx8k", "-c 8192 -np 4 -ngl 99 -fa on"),
        ("gemma3-swa", "ub256", "-c 4096 -ngl 99 -fa on -ub 256"),
        ("gemma3-swa", "ctx1024", "-c 1024 -ngl 99 -fa on"),
        ("gemma3-swa", "ngl4", "-c 4096 -ngl 4 -fa on"),
        ("gemma3-swa", "nofa", "-c 4096 -ngl 99 -fa off"),
        ("deepseek2-mla", "full", "-c 4096 -ngl 99 -fa on"),
        ("deepseek2-mla", "np2-ctx8k", "-c 8192 -np 2 -ngl 99 -fa on"),
        ("deepseek2-mla", "ngl2", "-c 4096 -ngl 2 -fa on"),
        ("deepseek2-mla", "ncpumoe2-nofa", "-c 4096 -ngl 99 -fa off --n-cpu-moe 2"),
    ]
    out = []
    for i, (model, name, args) in enumerate(spec):
        out.append(Case(f"{model}/{name}", model, tuple(args.split()), "calibration" if i % 2 == 0 else "held-out"))
    return out


CASES: list[Case] = _cases()

# The CUDA recording (benchmarks/accuracy_cuda.py) runs these placements on an NVIDIA GPU with
# ``-fa off`` (its build has no FlashAttention kernels): every case above that runs without
# FlashAttention (no quantized V cache), once per placement, named without its -fa/-nofa mark
# (CUDA_NAMES where the recording named it otherwise), less CUDA_LEFT_OUT, plus CUDA_ONLY.
CUDA_NAMES = {"qwen3moe/q8-np2-nofa-k": "q8k-np2"}
CUDA_LEFT_OUT = {"deepseek2-mla/np2-ctx8k"}
CUDA_ONLY: list[tuple[str, str, str]] = [
    ("llama-gqa", "full-ctx32k", "-c 32768 -ngl 99"),
    ("llama-vocab32k-q8", "full", "-c 4096 -ngl 99"),
    ("llama-vocab32k-q8", "ngl2-b1024-ub1024", "-c 8192 -ngl 2 -b 1024 -ub 1024"),
    ("llama-vocab32k-q8", "np4-ctx16k", "-c 16384 -np 4 -ngl 99"),
    ("deepseek2-mla", "ctx16k", "-c 16384 -ngl 99"),  # MLA: -ctk q8_0 needs -ctv q8_0, that needs FA
    ("llama3-8b-shape-2l", "full-ctx8k", "-c 8192 -ngl 99"),
    ("llama3-8b-shape-2l", "ngl1-output-only", "-c 8192 -ngl 1"),
    ("llama3-8b-shape-2l", "ub1024-ctx32k-np2", "-c 32768 -np 2 -ngl 99 -b 2048 -ub 1024"),
    ("llama3-8b-shape-2l", "ot-ffn-cpu", r"-c 8192 -ngl 99 -ot blk\.\d+\.ffn_(up|down|gate)\.=CPU"),
    ("qwen3moe-30b-shape-2l", "full-ctx8k", "-c 8192 -ngl 99"),
    ("qwen3moe-30b-shape-2l", "cpumoe-ctx32k", "-c 32768 -ngl 99 --cpu-moe"),
    ("qwen3moe-30b-shape-2l", "ncpumoe1-ub1024", "-c 8192 -ngl 99 --n-cpu-moe 1 -ub 1024"),
]


def _without_fa(args: tuple[str, ...]) -> tuple[str, ...]:
    out: list[str] = []
    it = iter(args)
    for a in it:
        if a == "-fa":
            next(it)
        else:
            out.append(a)
    return tuple(out)


def cuda_cases(gpu: str = "CUDA0") -> list[dict[str, Any]]:
    """The CUDA recording's cases as {id, model, args}: ``-fa off`` added, ``gpu`` named in -ot rules."""
    seen: set[tuple[str, tuple[str, ...]]] = set()
    picked: list[tuple[str, str, tuple[str, ...]]] = []
    for c in CASES:
        args = _without_fa(c.args)
        if c.id in CUDA_LEFT_OUT or "-ctv" in args or (c.model, args) in seen:
            continue
        seen.add((c.model, args))
        name = CUDA_NAMES.get(c.id) or re.sub(r"-(no)?fa\b", "", c.id.split("/", 1)[1])
        picked.append((c.model, name, args))
    picked += [(model, name, tuple(args.split())) for model, name, args in CUDA_ONLY]
    order = list(MODELS)
    picked.sort(key=lambda m: order.index(m[0]))  # stable: grouped by model, each group in table order
    return [{"id": f"{model}/{name}", "model": model,
             "args": [a.replace("=Vulkan0", "=" + gpu) for a in args] + ["-fa", "off"]}
            for model, name, args in picked]


def request_for(args: tuple[str, ...]) -> PlanRequest:
    """The PlanRequest that says what these llama-server flags say (the same flags `onboard plan` takes)."""
    kw: dict[str, Any] = {}
    overrides: list[tuple[str, str]] = []
    it = iter(args)
    for a in it:
        if a == "-c":
            kw["ctx"] = int(next(it))
        elif a == "-ngl":
            kw["ngl"] = int(next(it))
        elif a == "-fa":
            kw["flash_attn"] = next(it)
        elif a == "-np":
            kw["parallel"] = int(next(it))
        elif a == "-ctk":
            kw["cache_type_k"] = next(it)
        elif a == "-ctv":
            kw["cache_type_v"] = next(it)
        elif a == "-ub":
            kw["ubatch"] = int(next(it))
        elif a == "-b":
            kw["batch"] = int(next(it))
        elif a == "-ts":
            kw["tensor_split"] = tuple(float(x) for x in next(it).split(","))
        elif a == "-ot":
            pattern, _, buft = next(it).rpartition("=")
            overrides.append((pattern, buft))
        elif a == "--n-cpu-moe":
            kw["n_cpu_moe"] = int(next(it))
        elif a == "--cpu-moe":
            kw["cpu_moe"] = True
        else:
            raise ValueError(f"flag not mapped: {a}")
    return PlanRequest(overrides=tuple(overrides), llama_build=11434, **kw)


def lavapipe_rig() -> Rig:
    """The rig as the tests see it: lavapipe's Vulkan0 (2048 MiB, 128 MiB max allocation)."""
    dev = Device("Vulkan0", "Vulkan", LAVAPIPE_MIB, total_mib=LAVAPIPE_MIB, max_alloc_mib=128.0, margin_mib=0.0,
                 description="llvmpipe (lavapipe)")
    return Rig([dev], Host(ram_mib=16384.0), name="lavapipe", source="tests", llama_build=11434)


def model_path(model: str, cache_dir: Path) -> Path:
    path = cache_dir / f"{model}.gguf"
    if not path.exists():
        dims = dict(MODELS[model])
        arch = dims.pop("arch")
        gguf_factory.write_tiny_model(path, arch, **dims)
    return path


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Measured:
    """Per-device MiB as llama-server printed them (host buffers summed under CPU)."""

    weights: dict[str, float] = field(default_factory=dict)
    kv: dict[str, float] = field(default_factory=dict)
    compute: dict[str, float] = field(default_factory=dict)
    output: dict[str, float] = field(default_factory=dict)
    layers_offloaded: str | None = None
    log: str = ""


def _by_device(buffers: dict[str, float], devices: Mapping[str, str]) -> dict[str, float]:
    out: dict[str, float] = {}
    for name, mib in buffers.items():
        dev = "CPU" if HOST_BUFFERS.match(name) else devices.get(name, name)
        out[dev] = out.get(dev, 0.0) + mib
    return out


def run_case(binary: Path, case: Case, cache_dir: Path, *, timeout: float = 90.0) -> Measured:
    """Start llama-server on the case, wait until its compute buffers are printed (or /health is
    up, or it exits), stop it, and read the buffers from its log."""
    path = model_path(case.model, cache_dir)
    port = _free_port()
    argv = [str(binary), "-m", str(path), "--host", "127.0.0.1", "--port", str(port), "-fit", "off",
            "--no-warmup", "-lv", "4", "-lm", "none", "-t", "2", *case.args]
    env = dict(os.environ, GGML_VK_VISIBLE_DEVICES="0")
    log_path = cache_dir / (case.id.replace("/", "__") + ".log")
    with open(log_path, "w") as log:
        proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, env=env)
        deadline = time.monotonic() + timeout
        try:
            while time.monotonic() < deadline:
                if proc.poll() is not None:
                    break
                text = log_path.read_text(errors="replace")
                if READY.search(text):
                    time.sleep(0.2)
                    break
                time.sleep(0.1)
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
    return measured_from_log(log_path.read_text(errors="replace"))


def measured_from_log(text: str, devices: Mapping[str, str] | None = None) -> Measured:
    """Per-device buffers of one llama-server log (llamacpp.log_analysis reads it). ``devices``
    maps buffer names to device names where they differ: an rpc-server worker's buffers
    ``RPC0[host:port]`` belong to device ``RPC<i>``."""
    rep = analyze_log(text)
    names = devices or {}
    return Measured(*(_by_device(table, names) for table in (rep.model_buffers_mib, rep.kv_buffers_mib,
                                                              rep.compute_buffers_mib, rep.output_buffers_mib)),
                    rep.layers_offloaded, text)


def cuda_rig(free_mib: float = 81079.0) -> Rig:
    """The rig of the CUDA check: one NVIDIA H100 (81079 MiB free as llama.cpp reported it)."""
    return Rig([Device("CUDA0", "CUDA", free_mib, total_mib=81559.0, margin_mib=0.0, description="NVIDIA H100 80GB HBM3")],
               Host(ram_mib=128000.0), name="H100", source="tests", llama_build=11434)


def for_device(args: tuple[str, ...], device: str) -> tuple[str, ...]:
    """The case's flags for another GPU name (-ot targets name the device)."""
    return tuple(a.replace("Vulkan0", device) for a in args)


# ---- comparing a plan with what llama-server printed --------------------------------------------------
KINDS = ("weights", "kv", "compute")


def within(kind: str, predicted: float, measured: float) -> bool:
    """The targets: weights and KV within 1% or 0.1 MiB; compute within 15% (or 0.1 MiB,
    the log's resolution matters for buffers of a few hundred KiB)."""
    err = abs(predicted - measured)
    if kind == "compute":
        return err <= max(0.15 * measured, 0.1)
    return err <= max(0.01 * measured, 0.1)


def compare(plan_json: dict[str, Any], measured: Measured) -> list[dict[str, Any]]:
    """One row per (device, kind) that either side reports: predicted, measured, within target."""
    rows = []
    pred = {d["name"]: d for d in plan_json["devices"]}
    got = {"weights": measured.weights, "kv": measured.kv, "compute": measured.compute}
    for kind in KINDS:
        for dev in sorted(set(pred) | set(got[kind])):
            p = (pred.get(dev) or {}).get(f"{kind}_mib") or 0.0
            m = got[kind].get(dev, 0.0)
            if not p and not m:
                continue
            rows.append({"device": dev, "kind": kind, "predicted_mib": round(p, 2), "measured_mib": round(m, 2),
                         "ok": within(kind, p, m)})
    return rows
