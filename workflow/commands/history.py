"""`onboard history NAME [--json]`: every transition, guard check, run and recovery, in order."""
from __future__ import annotations

import click

from store import queries
from workflow.commands._common import handle_errors, print_json
from workflow.commands._readonly import find_candidate, read_connection, complete_candidates


@click.command("history")
@click.argument("name", shell_complete=complete_candidates)
@click.option("--json", "as_json", is_flag=True, help="machine-readable output")
@click.pass_context
@handle_errors
def command(ctx: click.Context, name: str, as_json: bool) -> None:
    """Show what happened to NAME, with the command line of each step."""
    with read_connection(ctx) as conn:
        rows = queries.events(conn, find_candidate(conn, name))
    if as_json:
        print_json(rows)
        return
    for r in rows:
        move = f"{r['from'] or ''} -> {r['to'] or ''}" if r["to"] and r["from"] != r["to"] else (r["from"] or "")
        mark = "" if r["ok"] else "  (held back)"
        extra = ""
        if r["kind"] == "guards":
            extra = "  " + "; ".join(f"{g['name']}: {'ok' if g['passed'] else g['reason']}"
                                    for g in r["detail"].get("guards", []))
        click.echo(f"{r['seq']:>3} {r['at']} {r['kind']:<10} {(r['trigger'] or ''):<10} {move}{mark}{extra}")
        click.echo(f"      {' '.join(r['argv'])}")
