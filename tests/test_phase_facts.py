"""What a phase finds is a typed record apart from the person's choices: it round-trips through JSON,
reads what an older onboard stored (renamed keys, unknown keys), and a phase reaches its own record
as ``ctx.facts`` and another's with ``ctx.facts_of``."""
from __future__ import annotations

import pytest

from onboard.phases import PHASES
from onboard.phases.contract import PhaseContext
from onboard.phases.evaluate import EvaluateFacts
from onboard.phases.test import TestFacts
from onboard.workflow.candidate_facts import WorkflowFacts, normalized


def test_every_record_round_trips_through_json_and_ignores_keys_it_does_not_know():
    for phase in PHASES:
        if phase.facts is None:
            continue
        empty = phase.facts()
        assert phase.facts.from_json(empty.to_json()) == empty
        assert phase.facts.from_json({**empty.to_json(), "from_a_newer_onboard": 1}) == empty
    record = EvaluateFacts(architecture="llama", quants=["Q8_0"], chat={"kind": "chat"})
    assert EvaluateFacts.from_json(record.to_json()) == record


def test_names_an_older_onboard_stored_are_read_into_the_fields():
    old = EvaluateFacts.from_json({"_repo_source": "card", "evaluate_error": {"message": "m", "fix": None}})
    assert old.repo_from == "card" and old.error == {"message": "m", "fix": None}
    assert TestFacts.from_json({"test": {"gen_tps": 12.5}, "measured": True}).run == {"gen_tps": 12.5}
    assert WorkflowFacts.from_json({"_skipped_into": "docs"}).skipped_into == "docs"
    shown = normalized({"test": {"test": {"gen_tps": 1.0}}, "evaluate": {"architecture": "llama"}, "nope": {}})
    assert list(shown) == ["evaluate", "test"]  # the phases' order; a key no record knows is left out
    assert shown["test"] == {"run": {"gen_tps": 1.0}, "suggestion": None, "measured": False}


def test_a_phase_reaches_its_own_record_and_another_phases(tmp_path):
    ctx = PhaseContext("m", tmp_path, {"quant": "Q8_0"}, phase="test",
                       facts_by_phase={"profile": {"plan": {"layers_offloaded": "9/9"}}})
    assert ctx.facts_of("profile").plan == {"layers_offloaded": "9/9"}
    ctx.facts.measured = True
    assert ctx.facts is ctx.facts_of("test")  # one record: what the phase sets is what is stored
    stored = ctx.facts_json()
    assert stored["test"]["measured"] is True and stored["profile"]["plan"] == {"layers_offloaded": "9/9"}
    assert ctx.options == {"quant": "Q8_0"}  # the choices are untouched by the facts
    with pytest.raises(KeyError, match="keeps no facts"):
        ctx.facts_of("docs")
    with pytest.raises(RuntimeError):
        PhaseContext("m", tmp_path).facts


def test_the_docs_rows_see_choices_and_facts_under_their_old_names(tmp_path):
    evaluated = {"architecture": "qwen3", "display_name": "M", "chat": {"kind": "base"}}
    ctx = PhaseContext("m", tmp_path, {"quant": "Q4_K_M", "thinking": True},
                       facts_by_phase={"evaluate": evaluated, "samplers": {"samplers": {"system_prompt": "be brief"}}})
    view = ctx.merged_view()
    assert view == {"quant": "Q4_K_M", "thinking": True, "architecture": "qwen3", "display_name": "M",
                    "chat": {"kind": "base"}, "samplers": {"system_prompt": "be brief"}}

