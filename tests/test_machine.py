"""The state machine is defined once (transitions, built from the phase list); the docs show it."""
from __future__ import annotations

from pathlib import Path

from phases import PHASES
from workflow import generated_docs, machine

ROOT = Path(__file__).resolve().parent.parent


def _all_pass(phase_name: str) -> dict[str, bool]:
    phase = next(p for p in PHASES if p.name == phase_name)
    return {machine.condition_name(phase, g.name): True for g in phase.guards}


def test_advance_needs_every_guard_of_the_phase_it_leaves():
    for i, phase in enumerate(PHASES):
        dest = PHASES[i + 1].name if i + 1 < len(PHASES) else "onboarded"
        assert machine.fire("advance", phase.name, _all_pass(phase.name)) == dest
        for guard in phase.guards:
            results = {**_all_pass(phase.name), machine.condition_name(phase, guard.name): False}
            assert machine.fire("advance", phase.name, results) is None, (phase.name, guard.name)


def test_skip_bench_and_rollback_along_the_path_taken():
    skippable = [p.name for p in PHASES if p.skippable]
    assert skippable == ["bench-profile", "benchmark"]
    assert machine.fire("skip_bench", "test", _all_pass("test")) == "docs"
    assert machine.fire("skip_bench", "test", {}) is None
    assert machine.fire("skip_bench", "profile", _all_pass("profile")) is None
    assert machine.fire("rollback", "docs", came_by_skip=True) == "test"
    assert machine.fire("rollback", "docs", came_by_skip=False) == "benchmark"
    assert machine.fire("rollback", "onboarded") == "docs"
    assert machine.fire("rollback", PHASES[0].name) is None
    assert machine.fire("abandon", "profile") == "abandoned"
    assert machine.fire("abandon", "onboarded") is None
    assert machine.fire("advance", "abandoned") is None


def test_generated_docs_are_current():
    """docs/workflow.md's diagram and phase table and README's tables match the code."""
    assert generated_docs.check(ROOT) == []


def test_diagram_names_every_state_and_guard():
    diagram = machine.mermaid()
    for phase in PHASES:
        assert f'state "{phase.name}"' in diagram
        for guard in phase.guards:
            assert machine.condition_name(phase, guard.name) in diagram
