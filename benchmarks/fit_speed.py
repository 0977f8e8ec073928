"""Fit the speed model's constants on the calibration rows of the public measurements and print them.

Generation: seconds per token is linear in the constants (``speed.token_features``), so they are
fitted by non-negative least squares on relative error (each row divided by its measured seconds)
over the rows marked "calibration" in ``llamacpp/planner/data/speed_measurements.json``; held-out
rows are never used. Prompt processing: one throughput factor per device class, the median
measured/predicted ratio of the calibration rows with a pp512 figure.

The printed constants go into ``llamacpp/planner/speed.py`` by hand (they are code, with a comment
on where they came from). ``--write`` also writes ``docs/data/speed_accuracy.json`` and the rendered
page from the constants speed.py holds now.
Usage: .venv/bin/python benchmarks/fit_speed.py [--write]
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from llamacpp.planner import speed  # noqa: E402
from llamacpp.planner.speed_report import accuracy, load_measurements, predict_row, render_speed_section, row_loads  # noqa: E402

DATA_OUT = REPO / "docs" / "data" / "speed_accuracy.json"
DOC = REPO / "docs" / "speed-accuracy.md"
DOC_TITLE = "# Speed estimate accuracy\n\n"


def nnls(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Least squares with x >= 0: solve on the free set, drop the most negative, repeat."""
    free = list(range(a.shape[1]))
    x = np.zeros(a.shape[1])
    while free:
        sol, *_ = np.linalg.lstsq(a[:, free], b, rcond=None)
        if (sol >= 0).all():
            x[:] = 0
            x[free] = sol
            return x
        free.pop(int(np.argmin(sol)))
    return x


def fit_token_constants(data: dict) -> dict[str, float]:
    rows = [r for r in data["rows"] if r["split"] == "calibration"]
    feats = []
    for r in rows:
        loads, splits = row_loads(r, data)
        feats.append(speed.token_features(loads, splits))
    keys = sorted({k for f in feats for k in f})
    a = np.array([[f.get(k, 0.0) for k in keys] for f in feats])
    t = np.array([1.0 / r["measured"]["tg"] for r in rows])
    a_rel = a / t[:, None]  # relative error: (pred - t) / t
    # a device cannot read faster than its nominal bandwidth: per_byte:<class> = 1 + y, y >= 0
    floor = np.array([1.0 if k.startswith("per_byte:") and k != "per_byte:flat" else 0.0 for k in keys])
    rhs = np.ones(len(rows)) - a_rel @ floor
    scale = np.abs(a_rel).max(axis=0)
    scale[scale == 0] = 1.0
    x = nnls(a_rel / scale, rhs) / scale + floor
    out = dict(speed.TOKEN_CONSTANTS)  # a constant no calibration row exercises keeps its prior
    out.update({k: float(v) for k, v in zip(keys, x)})
    return out


def fit_pp_constants(data: dict, constants: dict[str, float]) -> dict[str, float]:
    out = dict(speed.PP_FLOPS_PER_BYTE)
    for _ in range(3):  # the fixed per-micro-batch cost makes the ratio slightly non-linear
        ratios: dict[str, list[float]] = {}
        for r in data["rows"]:
            pp = r["measured"].get("pp512")
            if r["split"] != "calibration" or not pp:
                continue
            cls = speed.device_class(data["gpus"][r["gpus"][0]]["backend"])
            _, pred = predict_row(r, data, constants, out)
            if pred:
                ratios.setdefault(cls, []).append(pp / pred)
        for cls, rs in ratios.items():
            out[cls] = out[cls] * statistics.median(rs)
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--write", action="store_true", help="write docs/data/speed_accuracy.json and the page (constants of speed.py)")
    opts = ap.parse_args()
    data = load_measurements()
    tok = fit_token_constants(data)
    pp = fit_pp_constants(data, tok)
    print("TOKEN_CONSTANTS = {")
    for k in speed.TOKEN_CONSTANTS:
        print(f'    "{k}": {tok[k]:.3g},')
    print("}")
    print("PP_FLOPS_PER_BYTE =", {k: float(f"{v:.3g}") for k, v in pp.items()})
    fitted = accuracy(data, tok, pp)
    for split, s in fitted["summary"].items():
        print(f"fitted constants, {split}: {s}")
    current = accuracy(data)
    for split, s in current["summary"].items():
        print(f"speed.py constants, {split}: {s}")
    if opts.write:
        DATA_OUT.write_text(json.dumps(current, indent=1) + "\n")
        DOC.write_text(DOC_TITLE + render_speed_section(current))
        print(f"wrote {DATA_OUT.relative_to(REPO)} and {DOC.relative_to(REPO)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
