"""`onboard list [--all] [--json]`: the candidates in flight (``--all``: finished ones too)."""
from __future__ import annotations

from typing import Any

import click

from onboard.phases import FINAL_STATES
from onboard.store import queries
from onboard.workflow import render
from onboard.workflow.commands._common import handle_errors, print_json
from onboard.workflow.commands._readonly import read_connection


def list_rows(conn, *, include_final: bool) -> list[dict[str, Any]]:
    if conn is None:
        return []
    counts = queries.guard_counts(conn)
    rows = []
    for cand in queries.candidates(conn, include_final=include_final, final_states=FINAL_STATES):
        passed, total = counts.get(cand.id, (0, 0))
        rows.append({"name": cand.name, "phase": cand.state, "final": cand.state in FINAL_STATES,
                     "updated_at": cand.updated_at, "guards_passed": passed, "guards_total": total})
    return rows


@click.command("list")
@click.option("--all", "include_final", is_flag=True, help="include onboarded and abandoned candidates")
@click.option("--json", "as_json", is_flag=True, help="machine-readable output")
@click.pass_context
@handle_errors
def command(ctx: click.Context, include_final: bool, as_json: bool) -> None:
    """List the candidates being onboarded."""
    with read_connection(ctx) as conn:
        rows = list_rows(conn, include_final=include_final)
    print_json({"candidates": rows}) if as_json else click.echo(render.candidate_rows(rows))
