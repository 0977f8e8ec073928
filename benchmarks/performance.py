"""Performance report: run every benchmark script of the project in one go, print one table, write the
figures to benchmarks/results/performance.json and render docs/performance.md from that JSON.

Why one run: a ratio means something only against a reference measured on the same machine at the
same time, so each script measures its reference beside our figure; this script only gathers their
rows (it types in none), records the machine (CPUs, model, load average at start and end, Python) and
renders the generated block of docs/performance.md, so the page is never edited by hand.

Usage: .venv/bin/python benchmarks/performance.py            (the full run; writes the JSON and the page)
       .venv/bin/python benchmarks/performance.py --quick    (fewer runs, smaller inputs; prints only,
                                                              unless --write: then the page says QUICK)
"""
from __future__ import annotations

import argparse
import importlib
import json
import os
import platform
import sys
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from benchmarks.measure import fmt, print_figures, ratio_text, target_text  # noqa: E402
from onboard.phases.docs_blocks import Block, complete  # noqa: E402

RESULTS = Path("benchmarks") / "results" / "performance.json"
DOC = "docs/performance.md"
BLOCK_ID = "performance"
RERUN = ".venv/bin/python benchmarks/performance.py"


@dataclass(frozen=True)
class Benchmark:
    """One script and the arguments of its ``figures()`` for the full and the quick run."""

    name: str
    module: str  # benchmarks.<script>; it exposes TITLE, ABOUT and figures(**kwargs) -> Figures
    full: dict = field(default_factory=dict)
    quick: dict = field(default_factory=dict)

    @property
    def script(self) -> str:
        return self.module.replace(".", "/") + ".py"


BENCHMARKS = (
    Benchmark("status", "benchmarks.bench_status", {"runs": 15}, {"runs": 3}),
    Benchmark("plan", "benchmarks.bench_plan", {"runs": 7}, {"runs": 2}),
    Benchmark("log_analysis", "benchmarks.bench_log_analysis", {"runs": 7}, {"runs": 2, "lines": 20_000}),
    Benchmark("gguf_header", "benchmarks.bench_gguf_header", {"runs": 3}, {"runs": 1, "quick": True}),
)


def machine() -> dict:
    """The facts a reader needs to weigh the figures."""
    model = None
    try:
        with open("/proc/cpuinfo") as f:
            model = next((line.split(":", 1)[1].strip() for line in f if line.startswith("model name")), None)
    except OSError:
        pass
    return {"cpu_count": os.cpu_count(), "cpu_model": model or platform.processor() or None,
            "system": f"{platform.system()} {platform.release()}", "python": platform.python_version()}


def load() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def collect(quick: bool = False, only: list[str] | None = None) -> dict:
    """Run the benchmarks (all, or those named in ``only``) and return the report as plain data."""
    data = {"generated_by": "benchmarks/performance.py", "quick": quick,
            "date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
            "machine": machine() | {"load_average_start": load()}, "benchmarks": []}
    for bench in BENCHMARKS:
        if only and bench.name not in only:
            continue
        module = importlib.import_module(bench.module)
        kwargs = bench.quick if quick else bench.full
        start = time.perf_counter()
        figures = module.figures(**kwargs)
        seconds = time.perf_counter() - start
        print_figures(module.TITLE, figures)
        print(f"  ({seconds:.0f} s)\n", flush=True)
        data["benchmarks"].append({"name": bench.name, "script": bench.script, "arguments": kwargs,
                                   "title": module.TITLE, "about": module.ABOUT, "inputs": figures.inputs,
                                   "seconds": round(seconds, 1), "rows": [r.to_json() for r in figures.rows]})
    data["machine"]["load_average_end"] = load()
    return data


# -- the page --------------------------------------------------------------------------------------
def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def render_block(data: dict) -> str:
    """The generated block of docs/performance.md (without its markers) from the report's JSON."""
    m = data["machine"]
    lines = []
    if data["quick"]:
        lines += ["**QUICK RUN: fewer runs and smaller inputs; not the report's figures.**", ""]
    lines += [f"Measured {data['date']} on {m['cpu_count']} CPUs ({m['cpu_model'] or 'model unknown'}), "
              f"{m['system']}, Python {m['python']}; load average (1, 5, 15 min) "
              f"{', '.join(fmt(x) for x in m['load_average_start'])} at the start, "
              f"{', '.join(fmt(x) for x in m['load_average_end'])} at the end.",
              "",
              "| benchmark | what | ours | reference | reference value | ratio | target |",
              "| --- | --- | ---: | --- | ---: | ---: | --- |"]
    for bench in data["benchmarks"]:
        for row in bench["rows"]:
            unit = row["unit"]
            lines.append(f"| {bench['name']} | {_cell(row['what'])} | {fmt(row['ours'])} {unit} | "
                         f"{_cell(row['reference'])} | {fmt(row['reference_value'])} {unit} | "
                         f"{ratio_text(row)} | {target_text(row)} |")
    for bench in data["benchmarks"]:
        args = " ".join(f"--{k}" if v is True else f"--{k} {v}" for k, v in bench["arguments"].items())
        lines += ["", f"### {bench['name']}: {bench['title']}", "", bench["about"], "",
                  f"- inputs: {bench['inputs']}",
                  f"- script: `{bench['script']}` (alone: `.venv/bin/python {bench['script']}"
                  f"{' ' + args if args else ''}`); {bench['seconds']:.0f} s in this run"]
        details = [f"  - {row['what']} vs {row['reference']}: {row['detail']}" for row in bench["rows"]
                   if row["detail"]]
        if details:
            lines += ["- details:", *details]
    return "\n".join(lines)


def block(results: Path = RESULTS) -> Block:
    """docs/performance.md's generated block, rendered from the JSON under the repository root
    (the docs-block mechanism of phases/docs_blocks.py: prose around the markers is never touched)."""
    return Block(DOC, BLOCK_ID, lambda root: render_block(json.loads((root / results).read_text())),
                 lambda root: True, "# Performance\n")


def write(data: dict, root: Path = REPO) -> list[str]:
    """Write the JSON, then re-render the page's block from the JSON written (never from memory, so
    the page is exactly what the test re-renders). Returns the files written."""
    from onboard.store.atomic import write_atomic

    write_atomic(root / RESULTS, json.dumps(data, indent=1) + "\n")
    pages = complete(root, [block()])
    for rel, text in pages.items():
        write_atomic(root / rel, text)
    return [str(RESULTS), *pages]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="fewer runs and smaller inputs (prints only)")
    ap.add_argument("--write", action="store_true", help="with --quick: write the JSON and the page anyway")
    ap.add_argument("--only", action="append", choices=[b.name for b in BENCHMARKS],
                    help="run only this benchmark (repeatable; prints only)")
    opts = ap.parse_args()
    os.chdir(REPO)
    data = collect(opts.quick, opts.only)
    print(render_block(data))
    if opts.only or (opts.quick and not opts.write):
        print("\n(not written: a partial or quick run)")
        return 0
    (REPO / RESULTS).parent.mkdir(parents=True, exist_ok=True)
    print("\nwrote " + ", ".join(write(data)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
