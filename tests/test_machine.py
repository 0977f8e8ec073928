"""The state machine is defined once (transitions, built from the phase list); the docs show it."""
from __future__ import annotations

from pathlib import Path

from onboard.phases import PHASES
from onboard.workflow import generated_docs, machine

ROOT = Path(__file__).resolve().parent.parent


def _all_pass(phase_name: str) -> dict[str, bool]:
    phase = next(p for p in PHASES if p.name == phase_name)
    return {machine.condition_name(phase, g.name): True for g in phase.guards}


def answers_from(results: dict[str, bool] | None) -> machine.GuardAnswer:
    """The machine's guard answers from known results keyed by ``<phase>/<guard>``."""
    known = results or {}
    return lambda phase, guard: known.get(f"{phase}/{guard}")


def fire(trigger: str, state: str, results: dict[str, bool] | None = None, came_by_skip: bool = False) -> str | None:
    with machine.candidate(state, answers_from(results), came_by_skip) as model:
        return machine.fire(trigger, model)


def test_advance_needs_every_guard_of_the_phase_it_leaves():
    for i, phase in enumerate(PHASES):
        dest = PHASES[i + 1].name if i + 1 < len(PHASES) else "onboarded"
        assert fire("advance", phase.name, _all_pass(phase.name)) == dest
        for guard in phase.guards:
            results = {**_all_pass(phase.name), machine.condition_name(phase, guard.name): False}
            assert fire("advance", phase.name, results) is None, (phase.name, guard.name)


def test_skip_bench_and_rollback_along_the_path_taken():
    skippable = [p.name for p in PHASES if p.skippable]
    assert skippable == ["bench-profile", "benchmark"]
    assert fire("skip_bench", "test", _all_pass("test")) == "docs"
    assert fire("skip_bench", "test", {}) is None
    assert fire("skip_bench", "profile", _all_pass("profile")) is None
    assert fire("rollback", "docs", came_by_skip=True) == "test"
    assert fire("rollback", "docs", came_by_skip=False) == "benchmark"
    assert fire("rollback", "onboarded") == "docs"
    assert fire("rollback", PHASES[0].name) is None
    assert fire("abandon", "profile") == "abandoned"
    assert fire("abandon", "onboarded") is None
    assert fire("advance", "abandoned") is None


def test_the_machine_asks_each_guard_when_it_needs_it():
    """transitions asks the model for a guard only when a transition of the current state needs it,
    in the order of the phase's guards, stopping at the first that does not pass."""
    profile = next(p for p in PHASES if p.name == "profile")
    asked: list[tuple[str, str]] = []

    def answer(phase: str, guard: str) -> bool:
        asked.append((phase, guard))
        return guard != profile.guards[1].name

    with machine.candidate("profile", answer) as model:
        assert machine.fire("advance", model) is None and model.state == "profile"
    assert asked == [("profile", g.name) for g in profile.guards[:2]]
    asked.clear()
    with machine.candidate("profile", answer) as model:
        assert machine.fire("rollback", model) == "download"
    assert asked == []  # rolling back asks no guard


def test_may_queries_say_which_triggers_hold():
    with machine.candidate("test", answers_from(_all_pass("test"))) as model:
        assert machine.allowed(model) == ["advance", "skip_bench", "rollback", "abandon"]
    with machine.candidate("test") as model:  # nothing known: the guards do not pass
        assert machine.allowed(model) == ["rollback", "abandon"]
    with machine.candidate("onboarded") as model:
        assert machine.allowed(model) == ["rollback"]
    assert machine.MACHINE.models == []  # each model leaves the one machine when its question is answered


def test_generated_docs_are_current():
    """docs/workflow.md's diagram and phase table and README's tables match the code."""
    assert generated_docs.check(ROOT) == []


def test_diagram_names_every_state_and_guard():
    diagram = machine.mermaid()
    for phase in PHASES:
        assert f'state "{phase.name}"' in diagram
        for guard in phase.guards:
            assert machine.condition_name(phase, guard.name) in diagram
