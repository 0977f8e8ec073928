"""Phase: Benchmark. Not built yet (issue 6): reaching it says so and `advance` exits 9."""
from __future__ import annotations

from phases.not_built import placeholder

PHASE = placeholder(
    "benchmark", "Benchmark",
    "runs EvalPlus (HumanEval+ / MBPP+) against the bench profile's server and writes results/REPORT.md",
    skippable=True,
)
