"""Phase: Docs. Not built yet (issue 6): reaching it says so and `advance` exits 9."""
from __future__ import annotations

from phases.not_built import placeholder

PHASE = placeholder(
    "docs", "Docs",
    "updates every cross-reference (README tables, client settings, strategy guide, pipeline README)",
    skippable=False,
)
