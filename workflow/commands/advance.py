"""`onboard advance NAME [options]`: run the current phase's work, check its guards, move on.

The options come from the phases themselves (phases.contract.Option), so each phase declares what it
accepts in one place; an option given in the wrong phase is a usage error naming the right phase.
"""
from __future__ import annotations

import click

from onboard.phases import PHASES
from onboard.workflow.commands._readonly import complete_candidates
from onboard.workflow.commands._common import handle_errors
from onboard.workflow.commands._results import JSON_OPTION, run_step


def _phase_options(func):
    seen: set[str] = set()
    for phase in reversed(PHASES):
        for opt in reversed(phase.options):
            if opt.name in seen:
                continue
            seen.add(opt.name)
            flag = "--" + opt.name.replace("_", "-")
            help_text = f"[{phase.name}] {opt.help}"
            if opt.metavar:
                func = click.option(flag, opt.name, metavar=opt.metavar, default=None, help=help_text)(func)
            else:
                func = click.option(flag, opt.name, is_flag=True, default=False, help=help_text)(func)
    return func


@click.command("advance")
@click.argument("name", shell_complete=complete_candidates)
@click.option("--skip-bench", "skip_bench", is_flag=True, help="skip the bench-profile and benchmark phases "
              "(recorded in the history)")
@_phase_options
@JSON_OPTION
@click.pass_context
@handle_errors
def command(click_ctx: click.Context, name: str, as_json: bool, **options) -> int:
    """Do the current phase's work for NAME, check its guards and, when all pass, enter the next phase."""
    given = {k: v for k, v in options.items() if v not in (None, False)}
    return run_step(click_ctx, as_json, lambda engine: engine.advance(name, given))
