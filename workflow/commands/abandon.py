"""`onboard abandon NAME [--undo]`: stop onboarding a candidate."""
from __future__ import annotations

import click

from onboard.workflow.commands._readonly import complete_candidates
from onboard.workflow.commands._common import handle_errors
from onboard.workflow.commands._results import JSON_OPTION, run_step


@click.command("abandon")
@click.argument("name", shell_complete=complete_candidates)
@click.option("--undo", is_flag=True, help="also undo every edit the candidate made (models.conf, docs)")
@JSON_OPTION
@click.pass_context
@handle_errors
def command(ctx: click.Context, name: str, undo: bool, as_json: bool) -> int:
    """Abandon NAME. Its edits are kept unless --undo is given; downloaded files are never deleted."""
    return run_step(ctx, as_json, lambda engine: engine.abandon(name, undo))
