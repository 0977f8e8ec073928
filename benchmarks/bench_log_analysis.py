"""Measure: analysing a 200k-line llama-server log, against `grep -c` over the same file.

Builds the log by repeating the lines of a real fixture (a full -lv 4 start with two requests) until
it has 200,000 lines, then measures, in this same run and on the same file:

  * `onboard logs analyze FILE --json` as a separate process (python -m onboard.workflow.cli),
  * `grep -c 'buffer size' FILE` (the reference: one pass over the file, in C), and grep -c with
    every keyword the analyser scans for (the same search, in C),
  * `python -c pass` (the interpreter's start, which the onboard process pays before reading a line),
  * analyze_file() in this process (no interpreter start-up),

wall time (median of the runs) and peak memory (max RSS of each process, through measure.run_child's
fresh spawner; grep's peak is under the spawner's floor, so its figure is an upper bound and the
memory ratio a lower bound), and tracemalloc's peak of Python allocations in process at 1/4 of the
lines and at all of them, to show it does not grow with the file.
Usage: python benchmarks/bench_log_analysis.py [--runs N] [--lines N]
"""
from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from benchmarks.measure import Figures, Row, peak_row, print_figures, run_interleaved  # noqa: E402
from onboard.llamacpp.log_analysis import analyze_file  # noqa: E402
from onboard.llamacpp.server_log.table import KEYWORDS  # noqa: E402

FIXTURE = REPO / "tests" / "fixtures" / "llama-server-logs" / "skulk-lavapipe-gemma-startup-lv4-faoff.log"
TITLE = "onboard logs analyze on a 200,000-line log"
ABOUT = ("`onboard logs analyze LOG --json` on a 200,000-line llama-server log (the lines of a real `-lv 4` "
         "start with two requests, repeated), as a whole process, against `grep -c 'buffer size' LOG`: one "
         "pass over the same file in C, the fastest possible reading of it. Also against grep with every "
         "keyword the analyser looks for, against `python -c pass` (the interpreter's start, which "
         "the command pays before reading a line), the analyser called in process (no start-up), and the "
         "peak of Python allocations at all lines against a quarter of them (streaming: it must not grow "
         "with the file). No target is set: the ratios are reported.")
GREP = "grep -c 'buffer size'"


def build_log(path: Path, lines: int) -> None:
    source = FIXTURE.read_text().splitlines()
    with open(path, "w") as out:
        written = 0
        while written < lines:
            for line in source[: lines - written]:
                out.write(line + "\n")
            written += min(len(source), lines - written)


def in_process(path: Path, runs: int) -> tuple[float, int]:
    """Median seconds of analyze_file(path) and the peak of its Python allocations (bytes)."""
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        analyze_file(path)
        times.append(time.perf_counter() - t)
    tracemalloc.start()
    analyze_file(path)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return statistics.median(times), peak


def figures(runs: int = 5, lines: int = 200_000) -> Figures:
    grep = shutil.which("grep")
    if grep is None:
        raise RuntimeError("grep not found")
    with tempfile.TemporaryDirectory() as tmp:
        big, small = Path(tmp) / "server.log", Path(tmp) / "server-quarter.log"
        build_log(big, lines)
        build_log(small, lines // 4)
        size_mib = big.stat().st_size / 2**20
        keyword_args = [arg for key in KEYWORDS for arg in ("-e", key)]
        s = run_interleaved({
            "onboard": [sys.executable, "-m", "onboard.workflow.cli", "logs", "analyze", str(big), "--json"],
            "grep": [grep, "-c", "buffer size", str(big)],
            "grep_all": [grep, "-c", "-F", *keyword_args, str(big)],
            "python": [sys.executable, "-c", "pass"],
        }, runs, REPO, ok=(0, 1))  # grep -c exits 1 when it counts 0
        inproc_t, inproc_peak = in_process(big, runs)
        _, small_peak = in_process(small, 1)
        report = analyze_file(big).to_json()
    ours = s["onboard"]
    rows = [
        Row("onboard logs analyze --json: wall time", ours.wall_s, GREP, s["grep"].wall_s, "s"),
        Row("onboard logs analyze --json: wall time", ours.wall_s, f"grep -c -F, all {len(KEYWORDS)} keywords",
            s["grep_all"].wall_s, "s"),
        Row("onboard logs analyze --json: wall time", ours.wall_s, "python -c pass", s["python"].wall_s, "s"),
        Row("analyze_file() in process: time", inproc_t, GREP, s["grep"].wall_s, "s",
            detail=f"{lines / inproc_t:,.0f} lines/s"),
        peak_row("onboard logs analyze --json: peak RSS", ours, GREP, s["grep"]),
        peak_row("onboard logs analyze --json: peak RSS", ours, "python -c pass", s["python"]),
        Row("analyze_file() in process: Python allocation peak", inproc_peak / 2**20,
            "the same on a quarter of the lines", small_peak / 2**20, "MiB"),
    ]
    kv = ", ".join(f"{mib} MiB on {dev}" for dev, mib in report["kv_buffers_mib"].items())
    return Figures(f"{lines:,} lines, {size_mib:.1f} MiB (lines of {FIXTURE.name}, repeated; analysed: KV {kv}, "
                   f"{report['gen_tps']} t/s); median of {runs} runs, highest peak", rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--lines", type=int, default=200_000)
    args = parser.parse_args()
    print_figures(TITLE, figures(args.runs, args.lines))


if __name__ == "__main__":
    main()
