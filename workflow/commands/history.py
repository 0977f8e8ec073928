"""`onboard history NAME [--json]`: every transition, guard check, run and recovery, in order."""
from __future__ import annotations

from typing import Any

import click

from onboard.store import queries
from onboard.workflow import render
from onboard.workflow.commands._common import handle_errors, print_json
from onboard.workflow.commands._readonly import find_candidate, read_connection, complete_candidates


def history_json(conn, name: str) -> dict[str, Any]:
    """The candidate's events, named as ``status`` names them: ``from_phase``/``to_phase``, ``at``."""
    cand = find_candidate(conn, name)
    events = [{"seq": e["seq"], "at": e["at"], "kind": e["kind"], "trigger": e["trigger"],
               "from_phase": e["from"], "to_phase": e["to"], "argv": e["argv"], "ok": e["ok"],
               "detail": e["detail"]} for e in queries.events(conn, cand)]
    return {"name": cand.name, "events": events}


@click.command("history")
@click.argument("name", shell_complete=complete_candidates)
@click.option("--json", "as_json", is_flag=True, help="machine-readable output")
@click.pass_context
@handle_errors
def command(ctx: click.Context, name: str, as_json: bool) -> None:
    """Show what happened to NAME, with the command line of each step."""
    with read_connection(ctx) as conn:
        data = history_json(conn, name)
    if as_json:
        print_json(data)
        return
    if data["events"]:
        click.echo(render.history(data["events"]))
