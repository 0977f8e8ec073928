"""`onboard status [NAME] [--check] [--json]`: where a candidate stands and what to do next.

Shows the stored guard results with when they were checked; ``--check`` re-evaluates them. An
interrupted step (a crash) is reported, with what the next command will do about it.
"""
from __future__ import annotations

from typing import Any

import click

from phases import BY_NAME, FINAL_STATES, phase_index
from store import queries
from workflow.commands._common import handle_errors, print_json
from workflow.commands._readonly import find_candidate, read_connection, complete_candidates
from workflow.commands.list_ import list_rows, render_rows


def status_json(conn, name: str) -> dict[str, Any]:
    cand = find_candidate(conn, name)
    phase = BY_NAME.get(cand.state)
    stored = {g.name: g for g in queries.guards(conn, cand)}
    guards = []
    for guard in (phase.guards if phase else ()):
        row = stored.get(guard.name)
        guards.append({"name": guard.name, "passed": None if row is None else bool(row.passed),
                       "reason": "not checked yet" if row is None else row.reason,
                       "fix": None if row is None else row.fix,
                       "checked_at": None if row is None else row.checked_at})
    interrupted = queries.open_step(conn, cand)
    return {"name": cand.name, "phase": cand.state, "phase_index": phase_index(cand.state),
            "final": cand.state in FINAL_STATES, "version": cand.version, "updated_at": cand.updated_at,
            "options": {k: v for k, v in cand.options.items() if not k.startswith("_")},
            "guards": guards, "predicted_vs_measured": queries.predicted_vs_measured(conn, cand),
            "next": _next(cand, guards, interrupted, queries.started(conn, cand)),
            **({"interrupted": _describe(cand, interrupted)} if interrupted else {})}


def _describe(cand, step) -> str:
    then = (f"`onboard start {cand.name}` undoes it and starts again" if step.kind == "start"
            else "the next advance, rollback or abandon undoes it first")
    return f"a {step.kind} ({step.from_state} -> {step.to_state}) started {step.started_at} was interrupted; {then}"


def _next(cand, guards: list[dict[str, Any]], interrupted, started: bool) -> str | None:
    if not started:  # a start cut short (a crash): it runs again
        return f"onboard start {cand.name}"
    if interrupted is not None:  # the command that was cut short, which undoes its step and goes on
        return f"onboard {interrupted.kind if interrupted.kind in ('rollback', 'abandon') else 'advance'} {cand.name}"
    if cand.state in FINAL_STATES:
        return None
    phase = BY_NAME[cand.state]
    if not phase.built:
        return f"onboard rollback {cand.name}  (the {phase.name} phase is not built yet)"
    for g in guards:
        if g["passed"] is False and g["fix"]:
            return g["fix"]
    return f"onboard advance {cand.name}"


@click.command("status")
@click.argument("name", required=False, shell_complete=complete_candidates)
@click.option("--check", is_flag=True, help="re-evaluate the guards now instead of showing the stored results")
@click.option("--json", "as_json", is_flag=True, help="machine-readable output")
@click.pass_context
@handle_errors
def command(ctx: click.Context, name: str | None, check: bool, as_json: bool) -> None:
    """Show NAME's phase, its guards and the next command (without NAME: every candidate in flight)."""
    if check:  # without NAME: every candidate in flight is checked again
        from workflow.commands._common import make_engine

        engine = make_engine(ctx)
        if name:
            engine.check(name)
        else:
            with read_connection(ctx) as conn:
                names = [r["name"] for r in list_rows(conn, include_final=False)]
            for each in names:
                engine.check(each)
    with read_connection(ctx) as conn:
        if name is None:
            rows = list_rows(conn, include_final=False)
            print_json(rows) if as_json else click.echo(render_rows(rows))
            return
        data = status_json(conn, name)
    if as_json:
        print_json(data)
        return
    click.echo(render(data))


def render(data: dict[str, Any]) -> str:
    index = f" ({data['phase_index']}/{len(BY_NAME)})" if data["phase_index"] else ""
    lines = [f"{data['name']}: {data['phase']}{index}, updated {data['updated_at']}"]
    if data.get("interrupted"):
        lines.append(f"  ! {data['interrupted']}")
    scalars = [f"{k}={v}" for k, v in sorted(data["options"].items()) if not isinstance(v, (list, dict))]
    if scalars:
        lines.append("  options: " + ", ".join(scalars))
    for g in data["guards"]:
        mark = {True: "ok  ", False: "FAIL", None: "?   "}[g["passed"]]
        when = f" (checked {g['checked_at']})" if g["checked_at"] else ""
        lines.append(f"  [{mark}] {g['name']}: {g['reason']}{when}")
        if g["passed"] is False and g["fix"]:
            lines.append(f"         fix: {g['fix']}")
    lines += _bars(data)
    for m in data["predicted_vs_measured"]:
        lines.append(f"  {m['device']} {m['what']}: {_measured_line(m['what'], m['predicted_mib'], m['measured_mib'])}")
    if data["next"]:
        lines.append(f"  next: {data['next']}")
    return "\n".join(lines)


def _bars(data: dict[str, Any]) -> list[str]:
    """Memory bars per device: the plan's prediction, and beside it what the test phase measured."""
    from workflow.memory_bars import device_rows

    planned = (data["options"].get("plan") or {}).get("devices") or {}
    measured: dict[str, dict[str, float | None]] = {}
    for m in data["predicted_vs_measured"]:  # the newest measurement of each device and buffer wins
        measured.setdefault(m["device"], {})[m["what"]] = m["measured_mib"]
    devices = [{"name": name, "capacity": d.get("capacity_mib"),
                "predicted": {k: d.get(f"{k}_mib") for k in ("weights", "kv", "compute")},
                "measured": measured.get(name)} for name, d in planned.items()]
    return device_rows(devices)


GAP = 0.15  # beyond this share the gap is worth a sentence: the planner's compute model is checked to 15%


def _measured_line(what: str, predicted: float | None, measured: float | None) -> str:
    """Predicted beside measured, in MiB to 0.1 as a person reads them, and a large gap explained."""
    mib = lambda x: "?" if x is None else f"{x:,.1f} MiB"  # noqa: E731
    line = f"predicted {mib(predicted)}, measured {mib(measured)}"
    if predicted and measured is not None and abs(measured / predicted - 1) > GAP:
        ratio = measured / predicted
        why = ("the profile phase scales later compute predictions on this rig and backend by the measured ratio"
               if what == "compute" else "this buffer follows llama.cpp's rules exactly, so the server ran another "
               "placement or build than planned: compare the log with `onboard plan`")
        line += f" (x{ratio:.2f} of the prediction: {why})"
    return line
