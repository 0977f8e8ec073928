"""Fit the speed model's constants on the calibration rows of the public measurements and print them.

Generation: seconds per token is linear in the constants (``speed.token_features``), so they are
fitted by non-negative least squares on relative error (each row divided by its measured seconds)
over the rows marked "calibration" in ``llamacpp/planner/data/speed_measurements.json``; held-out
rows are never used. Prompt processing: seconds per micro-batch are linear in their constants too
(``speed.prompt_features``), fitted the same way but towards least absolute relative error.

The printed constants go into ``llamacpp/planner/speed.py`` by hand (they are code, with a comment
on where they came from). ``--write`` also writes ``docs/data/speed_accuracy.json`` from the
constants speed.py holds now and renders its section of docs/accuracy.md.
Usage: .venv/bin/python benchmarks/fit_speed.py [--write]
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from benchmarks.accuracy_page import SPEED_JSON, write_page  # noqa: E402
from onboard.llamacpp.planner import speed  # noqa: E402
from onboard.llamacpp.planner.speed_report import accuracy, load_measurements, row_loads  # noqa: E402


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


def fit_pp_constants(data: dict, iterations: int = 20) -> dict[str, float]:
    """Prompt constants: seconds per micro-batch are linear in them (``speed.prompt_features``), so
    non-negative least squares on relative error over the calibration rows with a pp512 figure,
    reweighted towards least absolute error (a few broken rows, like a two-GPU rig measuring 54 t/s,
    would otherwise pull every constant)."""
    rows = [r for r in data["rows"] if r["split"] == "calibration" and r["measured"].get("pp512")]
    feats, fixed = [], []
    for r in rows:
        f, sec = speed.prompt_features(row_loads(r, data)[0])
        feats.append(f)
        fixed.append(sec)
    keys = sorted({k for f in feats for k in f})
    a = np.array([[f.get(k, 0.0) for k in keys] for f in feats])
    t = np.array([speed.PP_UBATCH / r["measured"]["pp512"] for r in rows])
    a_rel, rhs = a / t[:, None], 1.0 - np.array(fixed) / t
    scale = np.abs(a_rel).max(axis=0)
    scale[scale == 0] = 1.0
    w = np.ones(len(rows))
    for _ in range(iterations):
        x = nnls(a_rel / scale * w[:, None], rhs * w) / scale
        w = 1.0 / np.sqrt(np.maximum(np.abs(a_rel @ x - rhs), 0.05))
    out = dict(speed.PP_CONSTANTS)
    out.update({k: float(v) for k, v in zip(keys, x)})
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--write", action="store_true",
                    help="write docs/data/speed_accuracy.json and docs/accuracy.md (constants of speed.py)")
    opts = ap.parse_args()
    data = load_measurements()
    tok = fit_token_constants(data)
    pp = fit_pp_constants(data)
    print("TOKEN_CONSTANTS = {")
    for k in speed.TOKEN_CONSTANTS:
        print(f'    "{k}": {tok[k]:.3g},')
    print("}")
    print("PP_CONSTANTS = {")
    for k in speed.PP_CONSTANTS:
        print(f'    "{k}": {pp[k]:.3g},')
    print("}")
    fitted = accuracy(data, tok, pp)
    for split, s in fitted["summary"].items():
        print(f"fitted constants, {split}: {s}")
    current = accuracy(data)
    for split, s in current["summary"].items():
        print(f"speed.py constants, {split}: {s}")
    if opts.write:
        SPEED_JSON.write_text(json.dumps(current, indent=1) + "\n")
        doc = write_page(speed=current)
        print(f"wrote {SPEED_JSON.relative_to(REPO)} and {doc.relative_to(REPO)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
