"""Measure: analysing a 200k-line llama-server log, against `grep -c` over the same file.

Builds the log by repeating the lines of a real fixture (a full -lv 4 start with two requests) until
it has 200,000 lines, then times, in this same run and on the same file:

  * `onboard logs analyze FILE --json` as a separate process (python -m workflow.cli),
  * `grep -c 'buffer size' FILE` (the reference: one pass over the file, in C), and grep -c with
    every keyword the analyser scans for (the same search, in C),
  * analyze_file() in this process (no interpreter start-up),

and reports wall time (median of the runs) and peak memory (max RSS of the process; tracemalloc's
peak of Python allocations for the in-process run, at 50k and 200k lines to show it does not grow
with the file). Prints the ratios. Usage: python benchmarks/bench_log_analysis.py [--runs N] [--lines N]
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from llamacpp.log_analysis import _KEYWORDS, analyze_file  # noqa: E402

FIXTURE = REPO / "tests" / "fixtures" / "llama-server-logs" / "skulk-lavapipe-gemma-startup-lv4-faoff.log"

# Runs a command and prints its wall time and the peak RSS of that command alone (this helper's
# only child), so that the figure is not the benchmark's own memory.
_MEASURE = (
    "import resource, subprocess, sys, time\n"
    "t = time.perf_counter()\n"
    "rc = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL).returncode\n"
    "print(time.perf_counter() - t, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, rc)\n"
)


def build_log(path: Path, lines: int) -> None:
    source = FIXTURE.read_text().splitlines()
    with open(path, "w") as out:
        written = 0
        while written < lines:
            for line in source[: lines - written]:
                out.write(line + "\n")
            written += min(len(source), lines - written)


def measure(argv: list[str], runs: int) -> tuple[float, int]:
    """Median wall seconds and max peak RSS (KiB) of ``argv`` over ``runs`` runs."""
    times, peaks = [], []
    for _ in range(runs):
        out = subprocess.run([sys.executable, "-c", _MEASURE, *argv], capture_output=True, text=True, check=True)
        seconds, rss, rc = out.stdout.split()
        if int(rc) not in (0, 1):  # grep -c exits 1 when it counts 0
            raise SystemExit(f"{argv} exited {rc}")
        times.append(float(seconds))
        peaks.append(int(rss))
    return statistics.median(times), max(peaks)


def in_process(path: Path, runs: int) -> tuple[float, int]:
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--lines", type=int, default=200_000)
    args = parser.parse_args()
    grep = shutil.which("grep")
    if grep is None:
        raise SystemExit("grep not found")
    with tempfile.TemporaryDirectory() as tmp:
        big = Path(tmp) / "server-200k.log"
        small = Path(tmp) / "server-50k.log"
        build_log(big, args.lines)
        build_log(small, args.lines // 4)
        size_mib = big.stat().st_size / 1048576
        onboard_t, onboard_rss = measure([sys.executable, "-m", "workflow.cli", "logs", "analyze", str(big),
                                          "--json"], args.runs)
        grep_t, grep_rss = measure([grep, "-c", "buffer size", str(big)], args.runs)
        keyword_args = [arg for key in _KEYWORDS for arg in ("-e", key)]
        grep_all_t, grep_all_rss = measure([grep, "-c", "-F", *keyword_args, str(big)], args.runs)
        python_t, python_rss = measure([sys.executable, "-c", "pass"], args.runs)
        inproc_t, inproc_peak = in_process(big, args.runs)
        _, small_peak = in_process(small, 1)
        report = analyze_file(big).to_json()
    print(f"log: {args.lines:,} lines, {size_mib:.1f} MiB (lines of {FIXTURE.name}, repeated)")
    print(f"runs per figure: {args.runs} (median time, max peak RSS); load average {os.getloadavg()[0]:.1f} "
          f"on {os.cpu_count()} CPUs")
    print(f"{'':38}{'time s':>9}{'peak RSS MiB':>14}")
    print(f"{'grep -c (reference)':38}{grep_t:9.3f}{grep_rss / 1024:14.1f}")
    label = f"grep -c -F, all {len(_KEYWORDS)} keywords"
    print(f"{label:38}{grep_all_t:9.3f}{grep_all_rss / 1024:14.1f}")
    print(f"{'onboard logs analyze --json':38}{onboard_t:9.3f}{onboard_rss / 1024:14.1f}")
    print(f"{'python -c pass (interpreter start)':38}{python_t:9.3f}{python_rss / 1024:14.1f}")
    print(f"{'analyze_file() in process':38}{inproc_t:9.3f}{'':>14}")
    print(f"ratio time   onboard / grep: {onboard_t / grep_t:.1f}x   (in-process analyze_file / grep: "
          f"{inproc_t / grep_t:.1f}x)")
    print(f"ratio time   onboard / grep with all keywords: {onboard_t / grep_all_t:.1f}x")
    print(f"ratio memory onboard / grep: {onboard_rss / grep_rss:.1f}x (peak RSS)")
    print(f"lines per second (in process): {args.lines / inproc_t:,.0f}")
    print(f"Python allocation peak (tracemalloc): {small_peak / 1024:.0f} KiB at {args.lines // 4:,} lines, "
          f"{inproc_peak / 1024:.0f} KiB at {args.lines:,} lines (streaming: does not grow with the file)")
    print("report of the big log (sanity):", json.dumps({k: report[k] for k in ("kv_buffers_mib", "gen_tps")}))


if __name__ == "__main__":
    main()
