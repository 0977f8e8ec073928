"""The speed model against public measurements: predictions per row, accuracy, and its Markdown.

``llamacpp/planner/data/speed_measurements.json`` keeps public llama.cpp measurements (source URL,
what it says, GPUs, model shape, placement, measured tg and pp512). ``row_loads`` turns a row into
the same per-device loads ``speed.plan_loads`` builds from a GGUF placement, so the constants
fitted on the rows (``benchmarks/fit_speed.py``) are the ones plans use. ``accuracy`` computes the
figures of the docs section and ``render_speed_section`` renders them: a pure function of the
committed ``docs/data/speed_accuracy.json``, so a test checks the page is current.
"""
from __future__ import annotations

import json
import statistics
from itertools import combinations
from pathlib import Path
from typing import Any, Mapping

from . import speed
from .speed import DeviceLoad

DATA_PATH = Path(__file__).resolve().parent / "data" / "speed_measurements.json"
GIB = 1024.0 ** 3
WITHIN = 0.25  # the share of rows within 25% is what the docs report


def load_measurements(path: Path = DATA_PATH) -> dict[str, Any]:
    """The committed public measurements (plain JSON data)."""
    return json.loads(path.read_text())


def row_loads(row: Mapping[str, Any], data: Mapping[str, Any]) -> tuple[list[DeviceLoad], int]:
    """Per-device loads and graph splits of one measured configuration.

    Full offload spreads the blocks evenly over the row's GPUs (identical GPUs, llama.cpp's default
    split); ``n_cpu_moe N`` puts the routed experts of the first N MoE blocks on the host (two device
    changes per such block); ``ngl N`` keeps the output and the last N-1 blocks on the GPU (current
    llama.cpp order) and the other blocks on the host (one device change).
    """
    m = data["models"][row["model"]]
    gpus = [data["gpus"][g] for g in row["gpus"]]
    L, moe_l = int(m["n_layer"]), int(m["moe_layers"])
    expert_b = m["expert_gib"] * GIB
    dense_b = (m["size_gib"] - m["embd_gib"]) * GIB - expert_b
    used = m["n_expert_used"] / m["n_expert"] if m["n_expert"] else 1.0
    flops_per_byte = 2.0 * m["active_params_b"] * 1e9 / (dense_b + expert_b * used)  # per byte read
    pl = row.get("placement") or {"kind": "full"}
    host = row.get("host") or {}
    host_layers = 0
    host_moe = 0
    if "ngl" in pl:
        host_layers = max(0, L - (int(pl["ngl"]) - 1))
        host_moe = min(host_layers, moe_l)
    elif "n_cpu_moe" in pl:
        host_moe = min(int(pl["n_cpu_moe"]), moe_l)
    host_expert = expert_b * host_moe / moe_l if moe_l else 0.0
    host_dense = dense_b * host_layers / L
    host_read = host_dense + host_expert * used
    gpu_read = dense_b + expert_b * used - host_read
    n = len(gpus)
    loads: list[DeviceLoad] = []
    gpu_layers = L - host_layers
    gpu_moe = moe_l - host_moe
    for k, g in enumerate(gpus):
        share = 1.0 / n
        loads.append(DeviceLoad(f"{g['backend']}{k}", g["backend"], float(g["bandwidth_gbs"]), gpu_read * share,
                                round(gpu_layers * share), round(gpu_moe * share), gpu_read * share * flops_per_byte))
    if host_read > 0:
        loads.append(DeviceLoad("CPU", "CPU", float(host["bandwidth_gbs"]), host_read, host_layers, host_moe,
                                host_read * flops_per_byte, host_dense + host_expert, host.get("threads")))
    splits = (n - 1) + (2 * host_moe if "n_cpu_moe" in pl else 0) + (1 if host_layers else 0)
    return loads, splits


def predict_row(row: Mapping[str, Any], data: Mapping[str, Any],
                constants: Mapping[str, float] | None = None,
                pp_constants: Mapping[str, float] | None = None) -> tuple[float, float | None]:
    """Predicted generation and prompt (pp512) tokens/s of one row."""
    loads, splits = row_loads(row, data)
    seconds, _ = speed.token_seconds(loads, splits, constants or speed.TOKEN_CONSTANTS)
    pp = speed.prompt_tokens_per_s(loads, constants=pp_constants or speed.PP_CONSTANTS)
    return 1.0 / seconds, pp


def _err(pred: float, meas: float) -> float:
    return (pred - meas) / meas


def _order_checks(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per machine with two or more configurations: do predictions rank them as measured?"""
    by_machine: dict[str, list[dict[str, Any]]] = {}
    for r in rows:
        by_machine.setdefault(r["machine"], []).append(r)
    out = []
    for machine, rs in sorted(by_machine.items()):
        if len(rs) < 2:
            continue
        pairs = list(combinations(rs, 2))
        agree = sum((a["measured_tg"] - b["measured_tg"]) * (a["predicted_tg"] - b["predicted_tg"]) > 0 for a, b in pairs)
        out.append({"machine": machine, "configurations": len(rs), "held_out": sum(r["split"] == "held-out" for r in rs),
                    "pairs": len(pairs), "pairs_in_order": agree,
                    "measured_order": [r["id"] for r in sorted(rs, key=lambda r: -r["measured_tg"])],
                    "predicted_order": [r["id"] for r in sorted(rs, key=lambda r: -r["predicted_tg"])]})
    return out


def accuracy(data: Mapping[str, Any], constants: Mapping[str, float] | None = None,
             pp_constants: Mapping[str, float] | None = None) -> dict[str, Any]:
    """Predicted vs measured per row, the share within 25% per split, and same-machine order."""
    rows = []
    for r in data["rows"]:
        tg, pp = predict_row(r, data, constants, pp_constants)
        meas_pp = r["measured"].get("pp512")
        rows.append({"id": r["id"], "split": r["split"], "machine": r["machine"], "source": r["source"],
                     "gpus": " + ".join(r["gpus"]) if len(set(r["gpus"])) > 1 else
                     (r["gpus"][0] if len(r["gpus"]) == 1 else f"{len(r['gpus'])}x {r['gpus'][0]}"),
                     "model": r["model"], "placement": _placement_text(r.get("placement")),
                     "measured_tg": r["measured"]["tg"], "predicted_tg": round(tg, 2),
                     "measured_pp": meas_pp, "predicted_pp": None if pp is None or meas_pp is None else round(pp, 1)})
    summary = {}
    for split in ("calibration", "held-out"):
        sel = [r for r in rows if r["split"] == split]
        errs = [abs(_err(r["predicted_tg"], r["measured_tg"])) for r in sel]
        pp_errs = [abs(_err(r["predicted_pp"], r["measured_pp"])) for r in sel if r["predicted_pp"] is not None]
        summary[split] = {
            "rows": len(sel), "tg_within_25pct": sum(e <= WITHIN for e in errs),
            "tg_median_abs_err_pct": round(100 * statistics.median(errs), 1) if errs else None,
            "tg_worst_abs_err_pct": round(100 * max(errs), 1) if errs else None,
            "pp_rows": len(pp_errs), "pp_within_25pct": sum(e <= WITHIN for e in pp_errs),
            "pp_median_abs_err_pct": round(100 * statistics.median(pp_errs), 1) if pp_errs else None,
        }
    c = constants or speed.TOKEN_CONSTANTS
    return {"constants": {k: c[k] for k in sorted(c)},
            "pp_constants": dict(sorted((pp_constants or speed.PP_CONSTANTS).items())),
            "held_out_rule": data.get("held_out_rule", ""), "notes": list(data.get("notes", [])),
            "summary": summary, "rows": rows,
            "order": _order_checks(rows)}


def _placement_text(pl: Mapping[str, Any] | None) -> str:
    if not pl or pl.get("kind") == "full":
        return "full offload"
    if "n_cpu_moe" in pl:
        return f"--n-cpu-moe {pl['n_cpu_moe']}"
    return f"-ngl {pl['ngl']}"


def _pct(pred: float | None, meas: float | None) -> str:
    if pred is None or not meas:
        return "-"
    return f"{100.0 * _err(pred, meas):+.0f}%"


def render_speed_section(acc: Mapping[str, Any]) -> str:
    """Markdown section: the speed model's accuracy on public measurements."""
    lines = [
        "## Speed estimate against public measurements",
        "",
        "Generated by `benchmarks/fit_speed.py` from `llamacpp/planner/data/speed_measurements.json` into "
        "`docs/data/speed_accuracy.json`; do not edit by hand.",
        "",
        "- the speed constants (`llamacpp/planner/speed.py`, generation and prompt) were fitted on the *calibration* "
        "rows only; "
        f"*held-out* rows ({acc.get('held_out_rule', '')}) were never fitted on",
        "- each row is a public llama-bench or llama-server figure with its source; tg is generation, pp is pp512 prompt processing",
        "",
        "| rows | tg within 25% | tg median error | tg worst error | pp rows | pp within 25% | pp median error |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for split, s in acc["summary"].items():
        lines.append(f"| {split} ({s['rows']}) | {s['tg_within_25pct']}/{s['rows']} | {s['tg_median_abs_err_pct']}% | "
                     f"{s['tg_worst_abs_err_pct']}% | {s['pp_rows']} | {s['pp_within_25pct']}/{s['pp_rows']} | "
                     f"{s['pp_median_abs_err_pct']}% |")
    if acc.get("notes"):
        lines += ["", "Where it misses, and why:", "", *[f"- {n}" for n in acc["notes"]]]
    lines += ["", "### Same machine, several configurations: is the order right?", "",
              "| machine | configurations (held-out) | pairs in measured order | measured order (fastest first) | predicted order |",
              "| --- | ---: | ---: | --- | --- |"]
    for o in acc["order"]:
        short = lambda ids: ", ".join(i.rsplit("/", 1)[-1] for i in ids)  # noqa: E731
        lines.append(f"| {o['machine']} | {o['configurations']} ({o['held_out']}) | {o['pairs_in_order']}/{o['pairs']} | "
                     f"{short(o['measured_order'])} | {short(o['predicted_order'])} |")
    for split in ("held-out", "calibration"):
        lines += ["", f"### Every {split} row", "",
                  "| row | GPUs | model | placement | tg measured | tg predicted | error | pp measured | pp predicted | error |",
                  "| --- | --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |"]
        for r in acc["rows"]:
            if r["split"] != split:
                continue
            pp_m = "-" if r["measured_pp"] is None else f"{r['measured_pp']:g}"
            pp_p = "-" if r["predicted_pp"] is None else f"{r['predicted_pp']:g}"
            lines.append(f"| [{r['id']}]({r['source']}) | {r['gpus']} | {r['model']} | {r['placement']} | "
                         f"{r['measured_tg']:g} | {r['predicted_tg']:g} | {_pct(r['predicted_tg'], r['measured_tg'])} | "
                         f"{pp_m} | {pp_p} | {_pct(r['predicted_pp'], r['measured_pp'])} |")
    lines += ["", "### Constants", "", "| constant | value | what it stands for |", "| --- | ---: | --- |"]
    for k, v in [*acc["constants"].items(), *acc["pp_constants"].items()]:
        lines.append(f"| `{k}` | {v:.4g} | {speed.CONSTANT_MEANING.get(k, '')} |")
    return "\n".join(lines) + "\n"
