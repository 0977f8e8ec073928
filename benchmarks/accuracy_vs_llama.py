"""Compare the planner with real llama-server on every case of tests/planner_cases.py and write
docs/data/accuracy.json, then render docs/accuracy.md from it (with the speed section that
benchmarks/fit_speed.py keeps in docs/data/speed_accuracy.json).

Two ways to get llama-server's figures:
- live (default): run a local llama-server on each case with Mesa lavapipe as Vulkan0
  (scripts/install-llama-server.sh builds it);
- ``--logs DIR --device CUDA0``: read logs recorded elsewhere, one ``<case id with / as __>.log`` per
  case, made with the same flags (``-fit off --no-warmup -lv 4 -lm none`` + the case's flags, with
  ``Vulkan0`` replaced by the device name). This is how the CUDA (H100) figures were produced.
Prints each case's figures (predicted / measured per device) and the summary.
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from benchmarks.accuracy_page import DOC, write_page  # noqa: E402
from onboard.llamacpp.gguf_header import read_header  # noqa: E402
from onboard.llamacpp.planner import make_plan  # noqa: E402
from onboard.llamacpp.planner.accuracy_report import render_accuracy, summarize  # noqa: E402
from tests.conftest import find_llama_binary  # noqa: E402
from tests.planner_cases import (CASES, compare, cuda_rig, for_device, lavapipe_rig, measured_from_log,  # noqa: E402
                                 model_path, request_for, run_case)
from tests.planner_fit_params import fit_params_rows  # noqa: E402

COMMON = ["-fit", "off", "--no-warmup", "-lv", "4", "-lm", "none"]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--server", type=Path, default=find_llama_binary("llama-server"))
    ap.add_argument("--fit-params", type=Path, default=find_llama_binary("llama-fit-params"),
                    help="llama.cpp's llama-fit-params: its -fitp projections are compared too (live mode)")
    ap.add_argument("--logs", type=Path, help="read recorded logs instead of running llama-server")
    ap.add_argument("--device", default="Vulkan0", help="GPU name in the logs (CUDA0 for --logs from an NVIDIA run)")
    ap.add_argument("--device-description", default=None)
    ap.add_argument("--note", action="append", default=[], help="a note shown in the rendered page (repeatable)")
    ap.add_argument("--out", type=Path, default=REPO / "docs" / "data" / "accuracy.json")
    ap.add_argument("--doc", type=Path, default=DOC)
    opts = ap.parse_args()
    if opts.logs is None and opts.server is None:
        print("llama-server not found: run scripts/install-llama-server.sh, or pass --logs DIR", file=sys.stderr)
        return 8
    rig = lavapipe_rig() if opts.device == "Vulkan0" else cuda_rig()
    cases = []
    build = None
    with tempfile.TemporaryDirectory() as tmp:
        cache = Path(tmp)
        for case in CASES:
            args = for_device(case.args, opts.device)
            if opts.logs is not None:
                log_file = opts.logs / (case.id.replace("/", "__") + ".log")
                if not log_file.exists():
                    print(f"{case.id}: no log, skipped")
                    continue
                measured = measured_from_log(log_file.read_text(errors="replace"))
            else:
                measured = run_case(opts.server, case, cache)
            if build is None:
                for line in measured.log.splitlines():
                    if "build " in line and " with " in line:
                        build = "build " + line.split("build ", 1)[1].split(" with")[0].strip()
                        break
            if not measured.weights:
                print(f"{case.id}: llama-server printed no buffers (it refused the flags), skipped")
                continue
            plan = make_plan(read_header(model_path(case.model, cache)), rig, request_for(args)).to_json()
            rows = compare(plan, measured)
            cases.append({"id": case.id, "split": case.split, "args": list(args), "rows": rows,
                          "layers_offloaded": [plan["layers_offloaded"], measured.layers_offloaded]})
            print(f"{case.id:40s} {case.split:11s} " + " ".join(
                f"{r['device']}:{r['kind']} {r['predicted_mib']:.2f}/{r['measured_mib']:.2f}{'' if r['ok'] else '!'}" for r in rows))
        fit = None
        if opts.logs is None and opts.fit_params is not None and opts.fit_params.exists():
            fit = fit_params_rows(opts.fit_params, CASES, cache)
    description = opts.device_description or (
        "Mesa lavapipe as Vulkan0 (2048 MiB, software)" if opts.device == "Vulkan0" else opts.device)
    data = {"llama_build": build or "unknown", "device": description,
            "common_args": COMMON + ([] if opts.logs else ["-t", "2"]),
            "source": "recorded logs" if opts.logs else "live runs",
            "notes": opts.note, "summary": summarize(cases), "cases": cases}
    if fit and fit["rows"]:
        data["fit_params"] = fit
    opts.out.parent.mkdir(parents=True, exist_ok=True)
    opts.out.write_text(json.dumps(data, indent=1) + "\n")
    if opts.doc.resolve() == DOC:
        write_page(memory=data)  # the page also holds the speed section
    else:
        opts.doc.write_text(render_accuracy(data))
    for split, s in data["summary"].items():
        print(f"{split}: {s}")
    print(f"wrote {opts.out} and {opts.doc}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
