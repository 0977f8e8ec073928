"""The phase list: the one place that says which phases exist and in which order.

The state machine (workflow.machine), the docs table (docs/workflow.md) and the CLI's options all
come from ``PHASES``.
"""
from __future__ import annotations

from onboard.phases.contract import Phase


def _load() -> tuple[Phase, ...]:
    from onboard.phases import evaluate, download, profile, samplers, test, bench_profile, benchmark, docs

    return tuple(m.PHASE for m in (evaluate, download, profile, samplers, test, bench_profile, benchmark, docs))


PHASES: tuple[Phase, ...] = _load()
FINAL_STATES: tuple[str, ...] = ("onboarded", "abandoned")
BY_NAME: dict[str, Phase] = {p.name: p for p in PHASES}


def phase_index(name: str) -> int | None:
    """1-based position of a phase (None for the final states)."""
    for i, phase in enumerate(PHASES, start=1):
        if phase.name == name:
            return i
    return None
