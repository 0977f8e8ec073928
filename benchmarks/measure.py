"""What every benchmark script shares: running a command as a measured child, and the row of figures
each script returns (``benchmarks/performance.py`` gathers the rows of all scripts into one table).

Why a spawner: on Linux a child's peak RSS (``ru_maxrss`` from wait4) includes the high-water mark of
the address space it was forked from (exec records the old one's peak), so a command forked by a
benchmark that holds hundreds of MiB reports those MiB as its own. Every command is therefore started
by a fresh, small spawner process (``python -S -I``, about 8 MiB), which times it, reaps it with
``os.wait4`` and reports its rusage. The spawner's own high-water mark at the start is the *floor*: a
command whose real peak is lower reports the floor, so such a figure is an upper bound and is marked.
"""
from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path

# Runs argv[2:] and writes {wall_s, cpu_s, peak_kib, floor_kib, rc} to the file argv[1]; the command's
# stdout and stderr are the spawner's (the caller captures them).
_SPAWNER = r"""
import json, os, sys, time
def hwm():
    try:
        with open("/proc/self/status") as f:
            return next(int(l.split()[1]) for l in f if l.startswith("VmHWM:"))
    except (OSError, StopIteration):
        import resource
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
floor = hwm()
t = time.perf_counter()
pid = os.posix_spawnp(sys.argv[2], sys.argv[2:], os.environ)
_, status, usage = os.wait4(pid, 0)
wall = time.perf_counter() - t
with open(sys.argv[1], "w") as f:
    json.dump({"wall_s": wall, "cpu_s": usage.ru_utime + usage.ru_stime, "peak_kib": usage.ru_maxrss,
               "floor_kib": floor,
               "rc": os.waitstatus_to_exitcode(status)}, f)
"""
_FLOOR_SLACK_KIB = 512  # the spawner may grow a little between reading its mark and spawning


@dataclass(frozen=True)
class Sample:
    """One run of a command: wall seconds (spawn to reap), peak RSS, what it printed, and its CPU
    seconds (user + system: what it costs on an idle machine, where a loaded one stretches the wall
    time)."""

    wall_s: float
    peak_mib: float
    floor_mib: float
    returncode: int
    stdout: str
    stderr: str
    cpu_s: float = 0.0

    @property
    def peak_below_floor(self) -> bool:
        """True when the command's own peak was under the spawner's floor: peak_mib is then an upper bound."""
        return self.peak_mib * 1024 <= self.floor_mib * 1024 + _FLOOR_SLACK_KIB


def run_child(argv: list[str], cwd: Path | None = None, ok: tuple[int, ...] = (0,)) -> Sample:
    """Run ``argv`` (an argument list, never a shell line) under a fresh spawner and measure it.
    Raises RuntimeError when its exit status is not in ``ok``."""
    with tempfile.TemporaryDirectory(prefix="onboard-bench-") as tmp:
        result = Path(tmp) / "rusage.json"
        proc = subprocess.run([sys.executable, "-S", "-I", "-c", _SPAWNER, str(result), *argv], cwd=cwd,
                              capture_output=True, text=True)
        if proc.returncode != 0 or not result.exists():
            raise RuntimeError(f"spawner failed for {argv[0]}: {proc.stderr.strip()[-500:]}")
        r = json.loads(result.read_text())
    if r["rc"] not in ok:
        raise RuntimeError(f"{' '.join(argv)} exited {r['rc']}: {proc.stderr.strip()[-500:]}")
    return Sample(r["wall_s"], r["peak_kib"] / 1024, r["floor_kib"] / 1024, r["rc"], proc.stdout, proc.stderr,
                  r["cpu_s"])


@dataclass(frozen=True)
class Summary:
    """Several runs of one command: median wall time, highest peak RSS, median CPU time."""

    wall_s: float
    peak_mib: float
    peak_below_floor: bool  # every run's peak was under the spawner's floor (peak_mib is an upper bound)
    runs: int
    cpu_s: float = 0.0


def summarize(samples: list[Sample]) -> Summary:
    return Summary(statistics.median(s.wall_s for s in samples), max(s.peak_mib for s in samples),
                   all(s.peak_below_floor for s in samples), len(samples),
                   statistics.median(s.cpu_s for s in samples))


def run_interleaved(commands: dict[str, list[str]], runs: int, cwd: Path | None = None,
                    ok: tuple[int, ...] = (0,)) -> dict[str, Summary]:
    """Each command ``runs`` times, round-robin (a burst of load from other processes then hits all
    of them alike, which keeps the ratios between them fair)."""
    samples: dict[str, list[Sample]] = {name: [] for name in commands}
    for _ in range(runs):
        for name, argv in commands.items():
            samples[name].append(run_child(argv, cwd, ok))
    return {name: summarize(s) for name, s in samples.items()}


@dataclass(frozen=True)
class Row:
    """One figure of ours beside its reference, measured in the same run.

    ``ratio`` is always ours / reference (below 1: ours is faster or smaller). ``target`` is the
    ratio it must stay under, where the benchmark sets one. ``ratio_bound`` is ">=" when the reference
    figure is an upper bound (a peak under the spawner's floor), so the true ratio is at least this,
    and "<=" when ours is.
    """

    what: str
    ours: float
    reference: str
    reference_value: float
    unit: str
    target: float | None = None
    ratio_bound: str = "="
    detail: str = ""

    @property
    def ratio(self) -> float:
        return self.ours / self.reference_value

    @property
    def key(self) -> tuple[str, str, str]:
        """What identifies the row across runs of any size: the figures change, this does not."""
        return self.what, self.reference, self.unit

    def to_json(self) -> dict:
        d = asdict(self)
        d["ours"], d["reference_value"] = _round(self.ours), _round(self.reference_value)
        d["ratio"] = _round(d["ours"] / d["reference_value"])
        d["target_met"] = None if self.target is None else d["ratio"] < self.target
        return d


def peak_row(what: str, ours: Summary, reference: str, ref: Summary, target: float | None = None,
             detail: str = "") -> Row:
    """A peak-RSS row, with the ratio marked as a bound when one side was under the spawner's floor."""
    bound = "=" if ours.peak_below_floor == ref.peak_below_floor else (">=" if ref.peak_below_floor else "<=")
    if ours.peak_below_floor and ref.peak_below_floor:
        detail = (detail + "; " if detail else "") + "both peaks under the spawner's floor: the ratio means nothing"
    return Row(what, ours.peak_mib, reference, ref.peak_mib, "MiB", target, bound, detail)


@dataclass(frozen=True)
class Figures:
    """What a benchmark script returns: its rows and a line saying what it ran on."""

    inputs: str
    rows: list[Row]


def _round(x: float) -> float:
    """Four significant digits: more would be noise, and the JSON stays readable."""
    return float(f"{x:.4g}")


def fmt(x: float) -> str:
    """A figure the way the table shows it (four significant digits, thousands separated)."""
    if x == 0:
        return "0"
    if abs(x) >= 1000:
        return f"{x:,.0f}"
    return f"{x:.4g}" if abs(x) >= 0.001 else f"{x:.2e}"


def ratio_text(row: dict) -> str:
    """The ratio column: '0.0123x', '>= 2.9x'."""
    text = f"{fmt(row['ratio'])}x"
    return text if row["ratio_bound"] == "=" else f"{row['ratio_bound']} {text}"


def target_text(row: dict) -> str:
    if row["target"] is None:
        return ""
    return f"< {fmt(row['target'])}x: {'met' if row['target_met'] else 'MISSED'}"


def print_figures(title: str, figures: Figures) -> None:
    """The scripts' common printout: one line per row."""
    print(f"{title}\ninputs: {figures.inputs}\nload average {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs")
    for row in (r.to_json() for r in figures.rows):
        print(f"  {row['what']:58} {fmt(row['ours']):>9} {row['unit']:4} vs {row['reference']:38} "
              f"{fmt(row['reference_value']):>9}  {ratio_text(row):>10}  {target_text(row)}")
        if row["detail"]:
            print(f"  {'':58} ({row['detail']})")
