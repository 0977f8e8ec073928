"""The planner against a real CUDA llama-server: predicted vs measured buffers per device.

The Vulkan/lavapipe proof (benchmarks/accuracy_vs_llama.py) runs on every machine; this one needs
an NVIDIA GPU and a CUDA build (scripts/build-llama-server-cuda.sh), so it is split in three steps
and only the middle one runs on the GPU machine, with nothing but the Python standard library:

    prepare --dir D                  (here)  tiny GGUFs from tests/gguf_factory.py + D/cases.json
    run --dir D --server BIN --out O (GPU)   every case in real llama-server; O/raw.json holds the
                                             logs, the GPU's name/driver and the binary's version
    compare --raw O/raw.json         (here)  analyze_log() each log, make_plan() the same flags on a
                                             rig of one CUDA0 device, write docs/data/accuracy-cuda.json
                                             and the logs as tests/fixtures/llama-server-logs/cuda-*.log
    local --server BIN               all three in a row here (smoke test with the Vulkan build:
                                             the device is then Vulkan0; --gpu-name picks it)

On the GPU machine (the workplace's `run` tool; nothing there reaches the network), from the repo root,
with `.cuda-proof` ignored by git and carried: ``prepare --dir .cuda-proof/models --pack``, the binary
from scripts/build-llama-server-cuda.sh gzipped to ``.cuda-proof/llama-server.gz`` (libcudart and
cuBLAS are the machine's own: `run` finds them), then
``python3 benchmarks/accuracy_cuda.py run --dir .cuda-proof/models --server .cuda-proof/llama-server.gz
--out $OUT --jobs 8`` and, back here, ``compare --raw <files_at>/raw.json``.

Every run uses ``-fit off --no-warmup -lv 4 -lm none -fa off`` (the CUDA build has no
FlashAttention kernels; ``-lm none`` makes host weights real allocations, the sum of host tensors).
Quantized V caches need FlashAttention and are left out; ``-ctk q8_0`` alone runs without it.
Printed: per case the figures within target, the worst absolute error, and the ratio
predicted/measured per figure (the reference is the measurement of the same run).
"""
from __future__ import annotations

import argparse
import glob
import gzip
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
COMMON_ARGS = ["-fit", "off", "--no-warmup", "-lv", "4", "-lm", "none", "-t", "2"]
GPU = "CUDA0"  # the device name the case flags use; `local` rewrites it

# ---- step 1, here: models and the case list ---------------------------------------------------
def prepare(directory: Path, gpu: str = GPU) -> Path:
    """Write every model and D/cases.json; return the manifest's path.

    The models are the factory's (tests/gguf_factory.model_spec) with all tensor data zero
    (write_header_only(sparse_data=True)): the header, which is all the planner and the buffer
    sizes depend on, is the factory's, llama-server loads zeros as happily as noise, and the files
    gzip to almost nothing, so they travel to the GPU machine with the binary."""
    sys.path.insert(0, str(REPO))
    # the cases and models are the planner tests' own (tests/planner_cases.py); both need gguf, so
    # they are imported here and not on the GPU machine, which reads cases.json
    from tests.planner_cases import MODELS, cuda_cases  # noqa: PLC0415
    from tests.planner_cuda_cases import model_for  # noqa: PLC0415

    cases = cuda_cases(gpu)
    models = {key: MODELS[key] for key in dict.fromkeys(c["model"] for c in cases)}
    directory.mkdir(parents=True, exist_ok=True)
    for key, dims in models.items():
        model_for(key, dims, directory)
    manifest = {"models": models, "common_args": COMMON_ARGS, "cases": cases}
    out = directory / "cases.json"
    out.write_text(json.dumps(manifest, indent=1) + "\n")
    return out


def pack_models(directory: Path) -> None:
    """gzip the (zero-data) models for the trip: a 1 GB model becomes about 1 MB."""
    for path in sorted(directory.glob("*.gguf")):
        with open(path, "rb") as src, gzip.open(path.with_name(path.name + ".gz"), "wb", compresslevel=6) as dst:
            shutil.copyfileobj(src, dst, 1 << 24)
        path.unlink()


def unpack_models(directory: Path) -> None:
    for gz in sorted(directory.glob("*.gguf.gz")):
        target = gz.with_suffix("")
        if not target.exists():
            with gzip.open(gz, "rb") as src, open(target, "wb") as dst:
                shutil.copyfileobj(src, dst)


# ---- step 2, on the GPU machine: standard library only -----------------------------------------
LIB_GLOBS = ("/usr/local/cuda/lib64", "/usr/local/cuda/targets/x86_64-linux/lib", "/usr/local/cuda-*/lib64",
             "/opt/*/.venv/lib/python3*/site-packages/nvidia/cu13/lib",
             "/usr/local/lib/python3*/dist-packages/nvidia/cu13/lib",
             "/opt/*/.venv/lib/python3*/site-packages/nvidia/*/lib", "/usr/lib/x86_64-linux-gnu")


def _library_path() -> str:
    """Folders holding libcudart.so.13 / libcublas.so.13 / libcublasLt.so.13, for LD_LIBRARY_PATH."""
    want = ("libcudart.so.13", "libcublas.so.13", "libcublasLt.so.13")
    dirs: list[str] = []
    for pattern in LIB_GLOBS:
        for d in sorted(glob.glob(pattern)):
            if any(os.path.exists(os.path.join(d, w)) for w in want) and d not in dirs:
                dirs.append(d)
    return ":".join(dirs + [p for p in os.environ.get("LD_LIBRARY_PATH", "").split(":") if p])


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _capture(argv: list[str], env: dict[str, str]) -> str:
    try:
        p = subprocess.run(argv, capture_output=True, text=True, timeout=60, env=env)
        return (p.stdout + p.stderr)[-20000:]
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"{argv[0]}: {exc}"


def run_one(server: str, model: Path, case: dict[str, Any], env: dict[str, str], log_dir: Path,
            timeout: float) -> dict[str, Any]:
    """Start llama-server on one case, wait for 'server is listening' (or exit, or timeout), stop it."""
    argv = [server, "-m", str(model), "--host", "127.0.0.1", "--port", str(_free_port()), *COMMON_ARGS,
            *case["args"]]
    log_path = log_dir / (case["id"].replace("/", "__") + ".log")
    t0 = time.monotonic()
    state = "timeout"
    with open(log_path, "w") as log:
        proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, env=env)
        try:
            while time.monotonic() - t0 < timeout:
                if proc.poll() is not None:
                    state = f"exited {proc.returncode}"
                    break
                text = log_path.read_text(errors="replace")
                # the buffers are all printed once the scheduler reports its graph ("splits = N");
                # "listening on" is later (slot set-up can take long on a loaded machine)
                if "listening on" in text or "server is listening" in text or "splits =" in text:
                    state = "reserved"
                    time.sleep(0.5)
                    break
                time.sleep(0.1)
        finally:
            if proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
    return {"id": case["id"], "model": case["model"], "args": case["args"], "argv_tail": argv[5:],
            "state": state, "seconds": round(time.monotonic() - t0, 2),
            "log": log_path.read_text(errors="replace")}


def _unpacked_server(server: str) -> str:
    """A gzipped binary (it travels smaller) is unpacked next to the logs, executable."""
    if not server.endswith(".gz"):
        return server
    target = Path(tempfile.mkdtemp(prefix="accuracy-cuda-bin-")) / Path(server).name[:-3]
    with gzip.open(server, "rb") as src, open(target, "wb") as dst:
        shutil.copyfileobj(src, dst, 1 << 24)
    target.chmod(0o755)
    return str(target)


def run_all(directory: Path, server: str, out: Path, *, jobs: int, timeout: float,
            extra_env: dict[str, str], only: list[str] | None = None) -> Path:
    """Run every case of D/cases.json (or those whose id holds one of ``only``); write O/raw.json
    (logs included) and return its path."""
    manifest = json.loads((directory / "cases.json").read_text())
    if only:
        manifest["cases"] = [c for c in manifest["cases"] if any(o in c["id"] for o in only)]
    unpack_models(directory)
    env = dict(os.environ, **extra_env)
    env["LD_LIBRARY_PATH"] = _library_path()
    server = _unpacked_server(server)
    # the logs go into raw.json: the GPU machine sends back at most 8 files, so none lie under `out`
    log_dir = Path(tempfile.mkdtemp(prefix="accuracy-cuda-logs-"))
    out.mkdir(parents=True, exist_ok=True)
    meta = {
        "ld_library_path": env["LD_LIBRARY_PATH"],
        "version": _capture([server, "--version"], env),
        "ldd": _capture(["ldd", server], env),
        "nvidia_smi": _capture(["nvidia-smi", "--query-gpu=name,memory.total,memory.free,driver_version",
                                "--format=csv"], env),
        "list_devices": _capture([server, "--list-devices"], env),
    }
    print(meta["version"].strip()[-400:], meta["nvidia_smi"].strip(), meta["list_devices"].strip()[-600:],
          sep="\n", flush=True)
    t0 = time.monotonic()
    with ThreadPoolExecutor(max_workers=jobs) as pool:
        futures = [pool.submit(run_one, server, directory / f"{c['model']}.gguf", c, env, log_dir, timeout)
                   for c in manifest["cases"]]
        results = []
        for f in futures:
            r = f.result()
            print(f"{r['id']:45s} {r['state']:12s} {r['seconds']:6.2f} s", flush=True)
            results.append(r)
    meta["wall_s"] = round(time.monotonic() - t0, 2)
    raw = {"meta": meta, "manifest": manifest, "results": results}
    path = out / "raw.json"
    path.write_text(json.dumps(raw, indent=1) + "\n")
    print(f"{len(results)} cases in {meta['wall_s']} s -> {path}", flush=True)
    return path


# ---- step 3, here: predictions and the comparison ---------------------------------------------
def compare_raw(raw_path: Path, out_json: Path | None, fixtures: Path | None, gpu: str = GPU,
                model_dir: Path | None = None) -> dict[str, Any]:
    """Predict every case with make_plan and compare with the buffers its log shows."""
    sys.path.insert(0, str(REPO))
    from tests.planner_cuda_cases import compare_case  # noqa: PLC0415

    raw = json.loads(raw_path.read_text())
    model_dir = model_dir or raw_path.parent / "models"
    cases = []
    for r in raw["results"]:
        row = compare_case(r["log"], r["model"], raw["manifest"]["models"][r["model"]], r["args"], model_dir, gpu)
        row["state"] = r["state"]
        cases.append(row)
        figs = row["rows"]
        ratios = " ".join(f"{x['device']}:{x['kind'][0]}={x['predicted_mib'] / x['measured_mib']:.3f}"
                          for x in figs if x["measured_mib"])
        worst = max((abs(x["predicted_mib"] - x["measured_mib"]) for x in figs), default=0.0)
        print(f"{r['id']:45s} within={sum(x['ok'] for x in figs):2d}/{len(figs):2d} worst={worst:7.2f} MiB "
              f"layers={row['layers_offloaded']} {ratios}")
        row["id"] = r["id"]
        if fixtures is not None:
            fixtures.mkdir(parents=True, exist_ok=True)
            row["log"] = "cuda-" + r["id"].replace("/", "__") + ".log"
            (fixtures / row["log"]).write_text(r["log"])
    summary: dict[str, Any] = {}
    for kind in ("weights", "kv", "compute"):
        figs = [x for c in cases for x in c["rows"] if x["kind"] == kind]
        summary[kind] = {"figures": len(figs), "within_target": sum(x["ok"] for x in figs),
                         "worst_abs_mib": round(max((abs(x["predicted_mib"] - x["measured_mib"]) for x in figs),
                                                    default=0.0), 3)}
    summary["layers_offloaded_match"] = sum(c["layers_offloaded"][0] == c["layers_offloaded"][1] for c in cases)
    summary["cases"] = len(cases)
    data = {"device": raw["meta"]["nvidia_smi"].strip().splitlines()[-1] if raw["meta"]["nvidia_smi"] else gpu,
            "llama_version": raw["meta"]["version"].strip().splitlines()[-2:],
            "common_args": raw["manifest"]["common_args"], "wall_s": raw["meta"].get("wall_s"),
            "targets": "weights and KV within 1% or 0.1 MiB per device; compute within 15% or 0.1 MiB",
            "summary": summary, "models": raw["manifest"]["models"], "cases": cases}
    if fixtures is not None:  # what tests/test_planner_vs_cuda_logs.py replays in CI
        recorded = {"gpu": gpu, "device": data["device"], "llama_version": data["llama_version"],
                    "common_args": data["common_args"], "models": data["models"],
                    "cases": [{"id": c["id"], "model": c["model"], "args": c["args"], "log": c["log"]}
                              for c in cases]}
        (fixtures / "cuda-cases.json").write_text(json.dumps(recorded, indent=1) + "\n")
    if out_json is not None:
        out_json.parent.mkdir(parents=True, exist_ok=True)
        out_json.write_text(json.dumps(data, indent=1) + "\n")
        print(f"wrote {out_json}")
    for k, v in summary.items():
        print(f"{k}: {v}")
    return data


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="step", required=True)
    p = sub.add_parser("prepare")
    p.add_argument("--dir", type=Path, required=True)
    p.add_argument("--pack", action="store_true", help="zero the tensor data and gzip the models")
    p = sub.add_parser("run")
    p.add_argument("--dir", type=Path, required=True)
    p.add_argument("--server", required=True)
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--jobs", type=int, default=6)
    p.add_argument("--timeout", type=float, default=90.0)
    p.add_argument("--env", action="append", default=[], help="K=V for llama-server's environment")
    p.add_argument("--only", action="append", default=[], help="run only cases whose id holds this")
    p = sub.add_parser("compare")
    p.add_argument("--raw", type=Path, required=True)
    p.add_argument("--json", type=Path, default=REPO / "docs" / "data" / "accuracy-cuda.json")
    p.add_argument("--fixtures", type=Path, default=REPO / "tests" / "fixtures" / "llama-server-logs")
    p.add_argument("--gpu-name", default=GPU)
    p.add_argument("--models", type=Path, default=None, help="where the models are (re)written")
    p = sub.add_parser("local", help="all three steps here (smoke test); writes nothing into the repo")
    p.add_argument("--server", required=True)
    p.add_argument("--work", type=Path, required=True)
    p.add_argument("--gpu-name", default="Vulkan0")
    p.add_argument("--jobs", type=int, default=2)
    p.add_argument("--only", action="append", default=[], help="run only cases whose id holds this")
    opts = ap.parse_args()
    if opts.step == "prepare":
        print(prepare(opts.dir))
        if opts.pack:
            pack_models(opts.dir)
    elif opts.step == "run":
        env = dict(kv.split("=", 1) for kv in opts.env)
        run_all(opts.dir, opts.server, opts.out, jobs=opts.jobs, timeout=opts.timeout, extra_env=env, only=opts.only)
    elif opts.step == "compare":
        compare_raw(opts.raw, opts.json, opts.fixtures, opts.gpu_name, opts.models)
    else:
        models = opts.work / "models"
        prepare(models, opts.gpu_name)
        raw = run_all(models, opts.server, opts.work, jobs=opts.jobs, timeout=120.0,
                      extra_env={"GGML_VK_VISIBLE_DEVICES": "0"}, only=opts.only)
        compare_raw(raw, opts.work / "accuracy.json", None, opts.gpu_name, models)
    return 0


if __name__ == "__main__":
    sys.exit(main())
