"""Benchmark `onboard plan` on a header-only GGUF shaped like a 235B MoE with 2,000+ tensors.

Prints wall time and peak memory (max RSS) of `onboard plan --json` (the planner choosing a
placement on a 24 GB + 16 GB + 64 GB rig) and of `python -c pass` measured in the same run, with
their ratio. Usage: .venv/bin/python benchmarks/bench_plan.py [--repeat N]
"""
from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from tests.gguf_factory import qwen3moe_235b_spec, write_header_only  # noqa: E402


def run(argv: list[str]) -> tuple[float, float]:
    """(wall seconds, peak RSS MiB) of one child process."""
    start = time.perf_counter()
    pid = os.fork()
    if pid == 0:  # child: exec the command with its output discarded
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, 1)
        os.execv(argv[0], argv)
    _, status, usage = os.wait4(pid, 0)
    wall = time.perf_counter() - start
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"{' '.join(argv)} failed with {os.waitstatus_to_exitcode(status)}")
    return wall, usage.ru_maxrss / 1024.0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--layers", type=int, default=180, help="layers (12 tensors each; 180 -> 2,163 tensors)")
    opts = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        spec = qwen3moe_235b_spec(n_layer=opts.layers)
        path = write_header_only(Path(tmp) / "qwen3-235b-shaped.gguf", spec.tensors, spec.metadata)
        size_gib = sum(t.n_bytes for t in spec.tensors) / 2**30
        py = sys.executable
        plan = [py, "-m", "workflow.cli", "plan", str(path), "--device", "CUDA0=22000", "--device", "CUDA1=14500",
                "--ctx", "32768", "--json"]
        base = [py, "-c", "pass"]
        os.chdir(REPO)
        print(f"model: {len(spec.tensors)} tensors, {opts.layers} layers, {size_gib:.1f} GiB of weights (header only)")
        rows = []
        for _ in range(opts.repeat):
            rows.append((run(base), run(plan)))
        best_base = min(r[0][0] for r in rows)
        best_plan = min(r[1][0] for r in rows)
        rss_base = max(r[0][1] for r in rows)
        rss_plan = max(r[1][1] for r in rows)
        print(f"python -c pass : wall {best_base * 1000:8.1f} ms   peak RSS {rss_base:7.1f} MiB")
        print(f"onboard plan   : wall {best_plan * 1000:8.1f} ms   peak RSS {rss_plan:7.1f} MiB")
        print(f"ratio          : wall x{best_plan / best_base:.1f}   peak RSS x{rss_plan / rss_base:.1f}  (best of {opts.repeat})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
