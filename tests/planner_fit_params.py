"""llama.cpp's own projection as a second oracle: ``llama-fit-params -fitp on`` prints, for the
given flags, the MiB per device that llama.cpp's no-alloc dry run would allocate
(common/fit.cpp common_fit_print: "<device> <model> <context> <compute>" and a "Host" line,
integer MiB rounded down). Used by benchmarks/accuracy_vs_llama.py; no constant is tuned on it.
"""
from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Any, Sequence

from llamacpp.gguf_header import read_header
from llamacpp.planner import make_plan

from tests.planner_cases import Case, Measured, lavapipe_rig, model_path, request_for, run_case

KIND_COLUMNS = {"weights": 1, "kv": 2, "compute": 3}


def fit_print(binary: Path, model: Path, args: Sequence[str], timeout: float = 120.0) -> dict[str, dict[str, int]]:
    """{device: {"weights": MiB, "kv": MiB, "compute": MiB}}; the host line is named CPU."""
    extra = list(args)
    if "-np" not in extra:  # llama-server's auto slots: 4 sharing one unified cache
        extra += ["-np", "4", "-kvu"]
    argv = [str(binary), "-m", str(model), "-fitp", "on", "-lm", "none", *extra]
    env = dict(os.environ, GGML_VK_VISIBLE_DEVICES="0")
    out = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, env=env)
    result: dict[str, dict[str, int]] = {}
    for line in out.stdout.splitlines():
        parts = line.split()
        if len(parts) == 4 and all(p.isdigit() for p in parts[1:]):
            name = "CPU" if parts[0] == "Host" else parts[0]
            result[name] = {k: int(parts[i]) for k, i in KIND_COLUMNS.items()}
    return result


def fit_params_rows(binary: Path, cases: Sequence[Case], cache: Path) -> dict[str, Any]:
    rows = []
    for case in cases:
        try:
            proj = fit_print(binary, model_path(case.model, cache), case.args)
        except (subprocess.SubprocessError, OSError):
            continue
        if not proj:
            continue
        measured: Measured = run_case_cached(binary, case, cache)
        plan = make_plan(read_header(model_path(case.model, cache)), lavapipe_rig(), request_for(case.args)).to_json()
        pred = {d["name"]: d for d in plan["devices"]}
        for dev, kinds in proj.items():
            for kind, mib in kinds.items():
                got = {"weights": measured.weights, "kv": measured.kv, "compute": measured.compute}[kind].get(dev, 0.0)
                rows.append({"case": case.id, "device": dev, "kind": kind,
                             "planner_mib": round((pred.get(dev) or {}).get(f"{kind}_mib") or 0.0, 2),
                             "fit_params_mib": float(mib), "measured_mib": round(got, 2)})
    return {"note": "llama-fit-params prints whole MiB rounded down; the host line sums every host buffer.",
            "rows": rows}


_MEASURED: dict[str, Measured] = {}


def run_case_cached(binary: Path, case: Case, cache: Path) -> Measured:
    server = binary.with_name("llama-server")
    if case.id not in _MEASURED:
        _MEASURED[case.id] = run_case(server, case, cache)
    return _MEASURED[case.id]
