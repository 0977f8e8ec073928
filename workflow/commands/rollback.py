"""`onboard rollback NAME`: back to the previous phase, undoing what the current one wrote."""
from __future__ import annotations

import click

from onboard.workflow.commands._readonly import complete_candidates
from onboard.workflow.commands._common import handle_errors
from onboard.workflow.commands._results import JSON_OPTION, run_step


@click.command("rollback")
@click.argument("name", shell_complete=complete_candidates)
@JSON_OPTION
@click.pass_context
@handle_errors
def command(ctx: click.Context, name: str, as_json: bool) -> int:
    """Leave NAME's current phase for the previous one and undo what it wrote (by meaning; a conflict
    with someone else's edit is reported, never overwritten)."""
    return run_step(ctx, as_json, lambda engine: engine.rollback(name))
