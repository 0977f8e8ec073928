"""Phase: Bench profile. Not built yet (issue 6): reaching it says so and `advance` exits 9."""
from __future__ import annotations

from phases.not_built import placeholder

PHASE = placeholder(
    "bench-profile", "Bench profile",
    "writes [bench-<id>] (CTX_SIZE=10240, -b 512 -ub 512, more GPU layers, no sampler args) and updates the benchmark pipeline files",
    skippable=True,
)
