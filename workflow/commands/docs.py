"""`onboard docs check|fix [--json]`: are the generated blocks and cross-references of the docs
consistent with models.conf, the candidates and the benchmark data?

``check`` prints every inconsistency as ``file:line: what`` and exits 1 when there is any (the docs
phase's guard is a clean check); ``fix`` re-renders the generated blocks that exist and nothing
else (hand-written prose around them is never touched), then prints what is still inconsistent.
"""
from __future__ import annotations

import click

from workflow.commands._common import handle_errors, print_json, repo_paths
from workflow.exit_codes import Exit


@click.group(name="docs")
def command() -> None:
    """Check or re-render the generated parts of the docs."""


@command.command(name="check")
@click.option("--json", "as_json", is_flag=True, help="Print {problems: [...]} as JSON.")
@click.pass_context
@handle_errors
def check(ctx: click.Context, as_json: bool) -> int:
    """List every inconsistency as file:line: what (exit 1 when any)."""
    from workflow import generated_docs

    root, _db = repo_paths(ctx)
    problems = generated_docs.check(root)
    if as_json:
        print_json({"problems": problems})
    else:
        click.echo("\n".join(problems) if problems else "docs are consistent")
    return Exit.GUARD if problems else Exit.OK


@command.command(name="fix")
@click.option("--json", "as_json", is_flag=True, help="Print {changed: [...], problems: [...]} as JSON.")
@click.pass_context
@handle_errors
def fix(ctx: click.Context, as_json: bool) -> int:
    """Re-render the generated blocks (idempotent); prose is never touched."""
    from workflow import generated_docs

    root, _db = repo_paths(ctx)
    changed = generated_docs.fix(root)
    problems = generated_docs.check(root)
    if as_json:
        print_json({"changed": changed, "problems": problems})
    else:
        click.echo("rewrote: " + ", ".join(changed) if changed else "nothing to change")
        if problems:
            click.echo("still inconsistent (needs a person or the docs phase):")
            click.echo("\n".join(f"  {p}" for p in problems))
    return Exit.GUARD if problems else Exit.OK
