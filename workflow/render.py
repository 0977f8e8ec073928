"""The one renderer for people: every workflow command's output as text, from its JSON form.

One style everywhere: a guard is ``[ok  ]``, ``[FAIL]`` or ``[?   ]`` (not checked yet), its fix on
the line below, said once; memory in MiB to 0.1, speeds in t/s to 0.1. Each function takes the same
data ``--json`` prints (``workflow.json_schemas`` describes it), so the text and the JSON never tell
two stories. Light on purpose: the read-only commands import it.
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

FIX_INDENT = " " * 9
MARKS = {True: "ok  ", False: "FAIL", None: "?   "}


def mib(value: float | None) -> str:
    return "?" if value is None else f"{value:,.1f} MiB"


def tps(value: float | None) -> str:
    return "?" if value is None else f"{value:.1f} t/s"


def guard_lines(guards: Iterable[Mapping[str, Any]], *, when: bool = False) -> list[str]:
    """``[mark] name: reason`` per guard, and ``fix:`` below each one that does not pass and has a fix."""
    lines = []
    for g in guards:
        checked = f" (checked {g['checked_at']})" if when and g.get("checked_at") else ""
        lines.append(f"  [{MARKS[g['passed']]}] {g['name']}: {g['reason']}{checked}")
        if g["passed"] is False and g.get("fix"):
            lines.append(f"{FIX_INDENT}fix: {g['fix']}")
    return lines


# -- start, advance, rollback, abandon --------------------------------------------------------------------
def step_result(data: Mapping[str, Any]) -> str:
    """The summary of a start, advance, rollback or abandon (its phases' own lines were shown as they came)."""
    name, here, dest = data["name"], data["from_phase"], data["to_phase"]
    command = data["command"]
    if command == "start":
        lines = [f"Started {name} in phase {dest}."]
    elif command == "advance" and not data["moved"]:
        failed = [g for g in data["guards"] if g["passed"] is False]
        return "\n".join([f"{name} stays in {here}: {len(failed)} guard(s) hold it back", *guard_lines(failed)])
    elif command == "advance":
        lines = [f"{name}: {here} -> {dest}"]
    elif command == "rollback":
        lines = [f"{name}: rolled back {here} -> {dest}"]
        if here == "download":
            lines.append("Downloaded model files are never deleted; they stay under models/.")
    else:
        lines = [f"{name}: abandoned" + (" and its edits undone" if data["undone_changes"] is not None
                                          else " (its edits are kept)")]
    return "\n".join(lines + guard_lines(data["guards"]))


# -- status -------------------------------------------------------------------------------------------------
def status(data: Mapping[str, Any], phases_total: int) -> str:
    index = f" ({data['phase_index']}/{phases_total})" if data["phase_index"] else ""
    lines = [f"{data['name']}: {data['phase']}{index}, updated {data['updated_at']}"]
    if data.get("interrupted"):
        lines.append(f"  ! {data['interrupted']}")
    scalars = [f"{k}={v}" for k, v in sorted(data["options"].items()) if not isinstance(v, (list, dict))]
    if scalars:
        lines.append("  options: " + ", ".join(scalars))
    lines += guard_lines(data["guards"], when=True)
    lines += _bars(data)
    for m in data["predicted_vs_measured"]:
        lines.append(f"  {m['device']} {m['what']}: {measured_line(m['what'], m['predicted_mib'], m['measured_mib'])}")
    fixes = {g.get("fix") for g in data["guards"] if g["passed"] is False}
    if data["next"] and data["next"] not in fixes:  # a fix shown above is not said again
        lines.append(f"  next: {data['next']}")
    return "\n".join(lines)


def _bars(data: Mapping[str, Any]) -> list[str]:
    """Memory bars per device: the plan's prediction, and beside it what the test phase measured."""
    from onboard.workflow.memory_bars import device_rows

    plan = (data["facts"].get("profile") or {}).get("plan") or {}
    measured: dict[str, dict[str, float | None]] = {}
    for m in data["predicted_vs_measured"]:  # the newest measurement of each device and buffer wins
        measured.setdefault(m["device"], {})[m["what"]] = m["measured_mib"]
    devices = [{"name": name, "capacity": d.get("capacity_mib"),
                "predicted": {k: d.get(f"{k}_mib") for k in ("weights", "kv", "compute")},
                "measured": measured.get(name)} for name, d in (plan.get("devices") or {}).items()]
    return device_rows(devices)


GAP = 0.15  # beyond this share the gap is worth a sentence: the planner's compute model is checked to 15%


def measured_line(what: str, predicted: float | None, measured: float | None) -> str:
    """Predicted beside measured, in MiB to 0.1 as a person reads them, and a large gap explained."""
    line = f"predicted {mib(predicted)}, measured {mib(measured)}"
    if predicted and measured is not None and abs(measured / predicted - 1) > GAP:
        ratio = measured / predicted
        why = ("the profile phase scales later compute predictions on this rig and backend by the measured ratio"
               if what == "compute" else "this buffer follows llama.cpp's rules exactly, so the server ran another "
               "placement or build than planned: compare the log with `onboard plan`")
        line += f" (x{ratio:.2f} of the prediction: {why})"
    return line


# -- list and history ------------------------------------------------------------------------------------------
def candidate_rows(rows: list[Mapping[str, Any]]) -> str:
    if not rows:
        return "No candidates in flight. Start one with: onboard start NAME"
    width = max(len(r["name"]) for r in rows)
    lines = [f"{'NAME':<{width}}  {'PHASE':<13}  GUARDS  UPDATED"]
    for r in rows:
        guards = f"{r['guards_passed']}/{r['guards_total']}" if r["guards_total"] else "-"
        lines.append(f"{r['name']:<{width}}  {r['phase']:<13}  {guards:<6}  {r['updated_at']}")
    return "\n".join(lines)


def history(events: list[Mapping[str, Any]]) -> str:
    lines = []
    for e in events:
        here, there = e["from_phase"], e["to_phase"]
        move = f"{here or ''} -> {there or ''}" if there and here != there else (here or "")
        mark = "" if e["ok"] else "  (held back)"
        extra = ""
        if e["kind"] == "guards":
            extra = "  " + "; ".join(f"{g['name']}: {'ok' if g['passed'] else g['reason']}"
                                    for g in e["detail"].get("guards", []))
        lines.append(f"{e['seq']:>3} {e['at']} {e['kind']:<10} {(e['trigger'] or ''):<10} {move}{mark}{extra}")
        lines.append(f"      {' '.join(e['argv'])}")
    return "\n".join(lines)
