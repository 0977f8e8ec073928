"""Run every planner-vs-llama case on a real llama-server and write docs/data/accuracy.json,
then render docs/accuracy.md from it.

Usage: .venv/bin/python benchmarks/accuracy_vs_llama.py [--server PATH] [--fit-params PATH]
Needs a llama-server with the Vulkan backend and Mesa lavapipe (scripts/install-llama-server.sh).
Prints each case's figures and the summary; the ratio reference is the measured value itself
(predicted / measured per figure).
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from llamacpp.gguf_header import read_header  # noqa: E402
from llamacpp.planner import make_plan  # noqa: E402
from llamacpp.planner.accuracy_report import render_accuracy, summarize  # noqa: E402
from tests.conftest import find_llama_binary  # noqa: E402
from tests.planner_cases import CASES, compare, lavapipe_rig, model_path, request_for, run_case  # noqa: E402
from tests.planner_fit_params import fit_params_rows  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--server", type=Path, default=find_llama_binary("llama-server"))
    ap.add_argument("--fit-params", type=Path, default=find_llama_binary("llama-fit-params"))
    ap.add_argument("--out", type=Path, default=REPO / "docs" / "data" / "accuracy.json")
    ap.add_argument("--doc", type=Path, default=REPO / "docs" / "accuracy.md")
    opts = ap.parse_args()
    if opts.server is None:
        print("llama-server not found: run scripts/install-llama-server.sh", file=sys.stderr)
        return 8
    cases = []
    build = None
    with tempfile.TemporaryDirectory() as tmp:
        cache = Path(tmp)
        for case in CASES:
            measured = run_case(opts.server, case, cache)
            if build is None:
                for line in measured.log.splitlines():
                    if "build" in line and "with" in line and "version" not in line.lower():
                        build = line.split("build", 1)[1].split(" with")[0].strip(" :=")
                        break
            plan = make_plan(read_header(model_path(case.model, cache)), lavapipe_rig(), request_for(case.args)).to_json()
            rows = compare(plan, measured)
            cases.append({"id": case.id, "split": case.split, "args": list(case.args), "rows": rows,
                          "layers_offloaded": [plan["layers_offloaded"], measured.layers_offloaded]})
            worst = max((abs(r["predicted_mib"] - r["measured_mib"]) for r in rows), default=0.0)
            print(f"{case.id:45s} {case.split:11s} figures={len(rows):2d} "
                  f"within={sum(r['ok'] for r in rows):2d} worst_abs_err={worst:.2f} MiB")
        fit = None
        if opts.fit_params is not None and opts.fit_params.exists():
            fit = fit_params_rows(opts.fit_params, CASES, cache)
    data = {
        "llama_build": build or "unknown",
        "device": "Mesa lavapipe as Vulkan0 (2048 MiB, software)",
        "common_args": ["-fit", "off", "--no-warmup", "-lv", "4", "-lm", "none", "-t", "2"],
        "summary": summarize(cases),
        "cases": cases,
    }
    if fit:
        data["fit_params"] = fit
    opts.out.parent.mkdir(parents=True, exist_ok=True)
    opts.out.write_text(json.dumps(data, indent=1) + "\n")
    opts.doc.write_text(render_accuracy(data))
    for split, s in data["summary"].items():
        print(f"{split}: {s}")
    print(f"wrote {opts.out} and {opts.doc}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
