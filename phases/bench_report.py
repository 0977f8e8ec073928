"""``results/REPORT.md``: every benchmarked model side by side, rendered from the stored summaries
(``results/evalplus/*/*.json``) and the reference scores of ``benchmarks/evalplus/models.json``,
with a chart of pass@1 against generation speed (SVG, matplotlib).

The chart is SVG text drawn the same way every time (no date, a fixed id salt), so it is written
through the journal like every other file (a rollback removes it) and `docs check` can tell a stale one.

The table is a generated block (phases.docs_blocks), so ``onboard docs check`` sees when it no
longer matches the results and ``onboard docs fix`` re-renders it; the chart is re-drawn with it.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from onboard.phases import bench_pipeline as bp

REPORT_HEADER = ("# Benchmark report\n\nEvalPlus (HumanEval+ / MBPP+, greedy) against each model's `[bench-*]` "
                 "profile, run by `onboard` (benchmark phase) or `benchmarks/evalplus/benchmark.sh`.\n"
                 "pass@1 comes from EvalPlus's own `evaluate`; speed is the server's generation speed during the run.\n")
CHART_NAME = Path(bp.CHART).name


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value * 100:.1f}"


def _reference(models: dict[str, Any], summary: dict[str, Any]) -> str:
    ref = (models.get(summary["profile"]) or {}).get("reference") or {}
    key = "mbpp" if summary.get("dataset") == "mbpp" else "humaneval"
    base, plus = ref.get(key), ref.get(f"{key}_plus")
    if base is None and plus is None:
        return "-"
    text = f"{'-' if base is None else base} / {'-' if plus is None else plus}"
    return f"{text} ({ref['source']})" if ref.get("source") else text


def _models(root: Path) -> dict[str, Any]:
    from onboard.llamacpp.errors import BadInput

    try:
        return bp.load_json(root, bp.MODELS_JSON)
    except BadInput:  # `onboard docs check` names the file and line
        return {}


def render_table(root: Path) -> str:
    """The generated block of REPORT.md (the table, the notes, the chart)."""
    rows = bp.summaries(root)
    models = _models(root)
    if not rows:
        return "No benchmark results yet: `onboard advance NAME` in the benchmark phase, or `benchmarks/evalplus/benchmark.sh`."
    lines = ["| model | profile | dataset | tasks | pass@1 base (%) | pass@1 plus (%) | tokens/s | reference base / plus (%) | date |",
             "|---|---|---|---|---|---|---|---|---|"]
    quick = []
    for s in sorted(rows, key=lambda r: (-(r.get("plus_pass1") or r["base_pass1"]), r["profile"])):
        tasks = f"{s['n_tasks']}" + (f" of {s['total_tasks']} (quick)" if s.get("quick") else "")
        if s.get("quick"):
            quick.append(s["profile"])
        speed = "-" if s.get("gen_tps") is None else f"{s['gen_tps']:.1f}"
        name = (models.get(s["profile"]) or {}).get("display_name") or s.get("display_name") or s["profile"]
        lines.append(f"| {name} | `{s['profile']}` | {s['dataset']} | {tasks} | {_pct(s['base_pass1'])} | "
                     f"{_pct(s.get('plus_pass1'))} | {speed} | {_reference(models, s)} | {s.get('date', '-')} |")
    lines.append("")
    if quick:
        lines.append(f"Quick runs (a subset of the tasks; not comparable to published scores): "
                     f"{', '.join(f'`{p}`' for p in quick)}.")
        lines.append("")
    truncated = [f"`{s['profile']}` ({s['truncated']})" for s in rows if s.get("truncated")]
    if truncated:
        lines.append("Answers cut off at the token budget: " + ", ".join(truncated) + ".")
        lines.append("")
    lines.append(f"![pass@1 (plus) against generation speed]({CHART_NAME})")
    return "\n".join(lines)


def render_chart(root: Path) -> str | None:
    """The SVG text of pass@1 (plus, else base) against tokens/s for every result; None when there is
    none. Raises ImportError without matplotlib (the bench extra)."""
    rows = [r for r in bp.summaries(root) if r.get("gen_tps")]
    if not rows:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    matplotlib.rcParams["svg.hashsalt"] = "onboard"  # same ids every time: same text for same results
    matplotlib.rcParams["svg.fonttype"] = "none"  # labels stay text: searchable, and smaller than glyph paths

    models = _models(root)
    fig, ax = plt.subplots(figsize=(7, 4.5), dpi=100)
    for r in rows:
        score = r.get("plus_pass1") if r.get("plus_pass1") is not None else r["base_pass1"]
        label = (models.get(r["profile"]) or {}).get("display_name") or r["profile"]
        marker = "x" if r.get("quick") else "o"
        ax.scatter([r["gen_tps"]], [score * 100], marker=marker)
        ax.annotate(f"{label} ({r['dataset']}{', quick' if r.get('quick') else ''})", (r["gen_tps"], score * 100),
                    textcoords="offset points", xytext=(5, 5), fontsize=8)
    ax.set_xlabel("generation speed (tokens/s)")
    ax.set_ylabel("pass@1, base + extra tests (%)")
    ax.set_ylim(0, 100)
    ax.set_xlim(left=0)
    ax.grid(True, alpha=0.3)
    ax.set_title("EvalPlus pass@1 against speed")
    fig.tight_layout()
    import io

    buf = io.StringIO()
    fig.savefig(buf, format="svg", metadata={"Date": None, "Creator": None})
    plt.close(fig)
    return buf.getvalue()
