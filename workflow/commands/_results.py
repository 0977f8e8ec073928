"""Running a workflow command that changes a candidate (start, advance, rollback, abandon) and
showing its result: the phases' lines as they come, then the summary, or the result as JSON."""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

import click

from onboard.workflow import render
from onboard.workflow.commands._common import workflow_engine, print_json

JSON_OPTION = click.option("--json", "as_json", is_flag=True,
                           help="print the result as JSON (the phases' own lines go to stderr)")


def run_step(ctx: click.Context, as_json: bool, call: Callable[[Any], Any]) -> int:
    """Build the engine, run ``call(engine)`` and show the ``StepResult`` it returns; its exit code."""
    engine = workflow_engine(ctx)
    engine.on_report = (lambda line: click.echo(line, err=True)) if as_json else click.echo
    result = call(engine)
    data = result.to_json()
    if as_json:
        print_json(data)
    else:
        click.echo(render.step_result(data))
    return result.exit_code
