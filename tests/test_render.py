"""The one renderer for people: guards in one style in status and advance, a fix said once, memory in
MiB to 0.1, no empty options line (workflow.render, from the same data --json prints)."""
from __future__ import annotations

from onboard.workflow import render

FAILED = {"name": "fits", "passed": False, "reason": "Vulkan0 needs 2100 + 128 MiB margin of 2048 MiB",
          "fix": "onboard advance m --ctx 2048", "checked_at": "2026-01-01T00:00:00Z"}
PASSED = {"name": "profile parses", "passed": True, "reason": "[m] parses", "fix": None,
          "checked_at": "2026-01-01T00:00:00Z"}
UNCHECKED = {"name": "model path exists", "passed": None, "reason": "not checked yet", "fix": None, "checked_at": None}


def _status(**changes) -> dict:
    data = {"name": "m", "phase": "profile", "phase_index": 3, "final": False, "version": 4,
            "updated_at": "2026-01-01T00:00:00Z", "options": {}, "facts": {}, "guards": [PASSED, UNCHECKED, FAILED],
            "allowed": None, "predicted_vs_measured": [], "next": FAILED["fix"]}
    return {**data, **changes}


def test_status_and_advance_show_a_guard_the_same_way_and_its_fix_once():
    shown = render.status(_status(), 8)
    assert "  [ok  ] profile parses: [m] parses (checked 2026-01-01T00:00:00Z)" in shown
    assert "  [?   ] model path exists: not checked yet" in shown
    assert "  [FAIL] fits: Vulkan0 needs" in shown
    assert shown.count("onboard advance m --ctx 2048") == 1  # the fix, not again as "next"
    assert "options:" not in shown  # no choices: no empty line for them
    held = render.step_result({"command": "advance", "name": "m", "from_phase": "profile", "to_phase": None,
                               "moved": False, "guards_phase": "profile", "guards": [PASSED, FAILED],
                               "undone_changes": None, "notes": [], "exit_code": 1})
    assert held.splitlines() == ["m stays in profile: 1 guard(s) hold it back",
                                 "  [FAIL] fits: Vulkan0 needs 2100 + 128 MiB margin of 2048 MiB",
                                 "         fix: onboard advance m --ctx 2048"]
    moved = render.step_result({"command": "advance", "name": "m", "from_phase": "download", "to_phase": "profile",
                                "moved": True, "guards_phase": "profile", "guards": [PASSED, FAILED],
                                "undone_changes": None, "notes": ["a phase line"], "exit_code": 0})
    assert moved.splitlines()[0] == "m: download -> profile" and "  [FAIL] fits: Vulkan0 needs" in moved
    assert "a phase line" not in moved  # shown while the phase ran, not again


def test_status_says_next_when_no_fix_above_says_it_and_shows_choices():
    shown = render.status(_status(guards=[PASSED], next="onboard advance m", options={"quant": "Q8_0", "ctx": 4096}), 8)
    assert shown.splitlines()[-1] == "  next: onboard advance m"
    assert "  options: ctx=4096, quant=Q8_0" in shown


def test_memory_and_speed_are_rounded_to_a_tenth():
    assert render.mib(2047.98765) == "2,048.0 MiB" and render.mib(None) == "?"
    assert render.tps(12.3456) == "12.3 t/s"
    line = render.measured_line("kv", 100.04999, 130.3333)
    assert line.startswith("predicted 100.0 MiB, measured 130.3 MiB (x1.30 of the prediction")
    shown = render.status(_status(predicted_vs_measured=[
        {"device": "Vulkan0", "what": "weights", "predicted_mib": 512.123456, "measured_mib": 512.0999,
         "rig": "r", "backend": "Vulkan", "at": "t"}]), 8)
    assert "  Vulkan0 weights: predicted 512.1 MiB, measured 512.1 MiB" in shown


def test_rollback_and_abandon_say_what_they_did():
    base = {"name": "m", "moved": True, "guards_phase": None, "guards": [], "notes": [], "exit_code": 0}
    rolled = render.step_result({**base, "command": "rollback", "from_phase": "download", "to_phase": "evaluate",
                                 "undone_changes": 0})
    assert rolled.splitlines() == ["m: rolled back download -> evaluate",
                                   "Downloaded model files are never deleted; they stay under models/."]
    kept = render.step_result({**base, "command": "abandon", "from_phase": "profile", "to_phase": "abandoned",
                               "undone_changes": None})
    undone = render.step_result({**base, "command": "abandon", "from_phase": "profile", "to_phase": "abandoned",
                                 "undone_changes": 2})
    assert kept == "m: abandoned (its edits are kept)" and undone == "m: abandoned and its edits undone"
