"""`onboard status [NAME] [--check] [--json]`: where a candidate stands and what to do next.

Shows the stored guard results with when they were checked; ``--check`` asks the state machine which
triggers hold now, which evaluates the guards again (and stores them). An interrupted step (a crash)
is reported, with what the next command will do about it. ``--json``: one candidate object with
NAME, ``{"candidates": [...]}`` of the same objects without (``docs/json-output.md``).
"""
from __future__ import annotations

from typing import Any

import click

from onboard.phases import BY_NAME, FINAL_STATES, phase_index
from onboard.store import queries
from onboard.workflow import render
from onboard.workflow.candidate_facts import normalized
from onboard.workflow.commands._common import handle_errors, print_json
from onboard.workflow.commands._readonly import find_candidate, read_connection, complete_candidates


def status_json(conn, name: str, *, allowed: list[str] | None = None) -> dict[str, Any]:
    """The status object of candidate ``name`` (``allowed``: the triggers ``--check`` found to hold)."""
    return candidate_json(conn, find_candidate(conn, name), allowed=allowed)


def candidate_json(conn, cand: queries.CandidateRow, *, allowed: list[str] | None = None) -> dict[str, Any]:
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
            "options": dict(cand.options), "facts": normalized(cand.facts),
            "guards": guards, "allowed": allowed, "predicted_vs_measured": queries.predicted_vs_measured(conn, cand),
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
    allowed: dict[str, list[str]] = {}
    if check:  # without NAME: every candidate in flight is checked again
        from onboard.workflow.commands._common import workflow_engine

        engine = workflow_engine(ctx)
        engine.on_report = (lambda line: click.echo(line, err=True)) if as_json else click.echo
        if name:
            names = [name]
        else:
            with read_connection(ctx) as conn:
                names = [c.name for c in _in_flight(conn)]
        for each in names:
            allowed[each] = engine.check(each).allowed
    with read_connection(ctx) as conn:
        if name is None:
            objects = [candidate_json(conn, c, allowed=allowed.get(c.name)) for c in _in_flight(conn)]
            data: dict[str, Any] = {"candidates": objects}
        else:
            data = status_json(conn, name, allowed=allowed.get(name))
    if as_json:
        print_json(data)
    elif name is None:
        click.echo(render.candidate_rows([_row(c) for c in data["candidates"]]))
    else:
        click.echo(render.status(data, len(BY_NAME)))


def _row(status: dict[str, Any]) -> dict[str, Any]:
    """A status object as a row of the candidates table: its guards checked and passed."""
    checked = [g for g in status["guards"] if g["passed"] is not None]
    return {"name": status["name"], "phase": status["phase"], "updated_at": status["updated_at"],
            "guards_passed": sum(1 for g in checked if g["passed"]), "guards_total": len(checked)}


def _in_flight(conn) -> list[queries.CandidateRow]:
    if conn is None:
        return []
    return queries.candidates(conn, include_final=False, final_states=FINAL_STATES)
