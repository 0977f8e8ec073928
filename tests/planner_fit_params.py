"""llama.cpp's own projection as a second oracle: ``llama-fit-params -fitp on`` prints, for the
given flags, the MiB per device that llama.cpp's no-alloc dry run would allocate
(common/fit.cpp common_fit_print: "<device> <model> <context> <compute>" and a "Host" line,
whole MiB rounded down). Used by benchmarks/accuracy_vs_llama.py; no constant is tuned on it.

llama-fit-params has no server slots: without ``-np`` it plans one sequence (and it does not take
``-kvu``), so the planner is asked for the same: ``-np 1`` when the case gives none.
"""
from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Any, Sequence

from onboard.llamacpp.gguf_header import read_header
from onboard.llamacpp.planner import make_plan

from tests.planner_cases import Case, lavapipe_rig, model_path, request_for

KIND_COLUMNS = {"weights": 1, "kv": 2, "compute": 3}


def fit_print(binary: Path, model: Path, args: Sequence[str], timeout: float = 60.0) -> dict[str, dict[str, int]]:
    """{device: {"weights": MiB, "kv": MiB, "compute": MiB}}; the host line is named CPU."""
    argv = [str(binary), "-m", str(model), "-fitp", "on", "-lm", "none", *args]
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
        args = tuple(case.args) if "-np" in case.args else (*case.args, "-np", "1")
        try:
            proj = fit_print(binary, model_path(case.model, cache), args)
        except (subprocess.SubprocessError, OSError):
            continue
        if not proj:
            continue
        plan = make_plan(read_header(model_path(case.model, cache)), lavapipe_rig(), request_for(args)).to_json()
        pred = {d["name"]: d for d in plan["devices"]}
        for dev, kinds in proj.items():
            for kind, mib in kinds.items():
                rows.append({"case": case.id, "device": dev, "kind": kind,
                             "planner_mib": round((pred.get(dev) or {}).get(f"{kind}_mib") or 0.0, 2),
                             "fit_params_mib": float(mib)})
    agree = sum(1 for r in rows if int(r["planner_mib"] + 1e-6) == int(r["fit_params_mib"])
                or abs(r["planner_mib"] - r["fit_params_mib"]) <= 1.0)
    return {"note": f"llama-fit-params prints whole MiB rounded down, for one sequence (-np 1 when the case gives "
                    f"none); the host line sums every host buffer. {agree}/{len(rows)} figures agree with the "
                    f"planner within the 1 MiB rounding.", "rows": rows}
