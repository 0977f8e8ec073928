"""Benchmark `onboard plan` on a header-only GGUF shaped like a 235B MoE with 2,000+ tensors.

Wall time (median) and peak memory (max RSS, from wait4 through measure.run_child's fresh spawner) of
`onboard plan --json` (the planner choosing a placement on a 22 GB + 14.5 GB + host rig) against
`python -c pass` measured in the same run, with their ratios.
Usage: .venv/bin/python benchmarks/bench_plan.py [--runs N] [--layers N]
"""
from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from benchmarks.measure import Figures, Row, peak_row, print_figures, run_interleaved  # noqa: E402
from tests.gguf_factory import qwen3moe_235b_spec, write_header_only  # noqa: E402

TITLE = "onboard plan on a 2,000+ tensor header"
ABOUT = ("`onboard plan MODEL --device CUDA0=22000 --device CUDA1=14500 --ctx 32768 --json` on a "
         "header-only GGUF with the shapes of Qwen3-235B-A22B stretched to 180 layers (2,163 tensors), "
         "as a whole process, against `python -c pass` (the interpreter's start) in the same run: median "
         "wall time and highest peak RSS. Target: under 1 s of wall time on the development machine.")
BASE = "python -c pass"
TARGET_S = 1.0  # wall time of the whole command on the development machine


def figures(runs: int = 5, layers: int = 180) -> Figures:
    """Median wall time and max peak RSS of `onboard plan --json` and of `python -c pass`."""
    with tempfile.TemporaryDirectory() as tmp:
        spec = qwen3moe_235b_spec(n_layer=layers)
        path = write_header_only(Path(tmp) / "qwen3-235b-shaped.gguf", spec.tensors, spec.metadata)
        size_gib = sum(t.n_bytes for t in spec.tensors) / 2**30
        py = sys.executable
        plan = [py, "-m", "onboard.workflow.cli", "plan", str(path), "--device", "CUDA0=22000", "--device", "CUDA1=14500",
                "--ctx", "32768", "--json"]
        s = run_interleaved({"base": [py, "-c", "pass"], "plan": plan}, runs, REPO)
    base, ours = s["base"], s["plan"]
    met = "met" if ours.wall_s < TARGET_S else "MISSED"
    rows = [Row("onboard plan --json: wall time", ours.wall_s, BASE, base.wall_s, "s",
                detail=f"target under {TARGET_S:g} s: {met}; CPU time (user + system) {ours.cpu_s:.3g} s, "
                       "about the wall time on an idle machine"),
            peak_row("onboard plan --json: peak RSS", ours, BASE, base)]
    return Figures(f"{len(spec.tensors):,} tensors, {layers} layers, {size_gib:.1f} GiB of weights (header only); "
                   f"median of {runs} runs, highest peak", rows)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--layers", type=int, default=180, help="layers (12 tensors each; 180 -> 2,163 tensors)")
    opts = ap.parse_args()
    print_figures(TITLE, figures(opts.runs, opts.layers))
    return 0


if __name__ == "__main__":
    sys.exit(main())
