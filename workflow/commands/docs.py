"""`onboard docs check|fix|map [--json]`: are the docs consistent with models.conf, the candidates and
the benchmark data?

``check`` prints every inconsistency as ``file:line: what`` and exits 1 when there is any (the docs
phase's guard is a clean check). It checks by meaning: onboard's generated blocks by re-rendering
them, a person's own tables, trees, lists and per-model sections by what they list (every profile
present, nothing left for a model that is gone, every ``./start.sh X`` a real profile). ``fix``
re-renders the generated blocks that exist and nothing else: hand-written places are the docs
phase's (or the person's) to fill. ``map`` lists the places found and what onboard leaves alone.
"""
from __future__ import annotations

import click

from workflow.commands._common import handle_errors, print_json, repo_paths
from workflow.exit_codes import Exit

HAND_WRITTEN_NOTE = ("hand-written tables, trees, lists and sections are not rewritten by `docs fix`: the docs "
                     "phase (onboard advance NAME) adds a model's rows, or edit them by hand")


@click.group(name="docs")
def command() -> None:
    """Check the docs against models.conf, re-render generated blocks, list the places."""


def _problems(root) -> tuple[list[str], bool]:
    """The check's findings and whether the repository has hand-written places."""
    from phases import docs_check
    from phases.repo_map import build_map
    from workflow import generated_docs

    rmap = build_map(root)
    return docs_check.check(root, generated_docs.BLOCKS, rmap), docs_check.hand_written(rmap)


@command.command(name="check")
@click.option("--json", "as_json", is_flag=True, help="Print {problems: [...]} as JSON.")
@click.pass_context
@handle_errors
def check(ctx: click.Context, as_json: bool) -> int:
    """List every inconsistency as file:line: what (exit 1 when any)."""
    root, _db = repo_paths(ctx)
    problems, _hand = _problems(root)
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
    """Re-render the generated blocks (idempotent); prose and hand-written tables are never touched."""
    from workflow import generated_docs

    root, _db = repo_paths(ctx)
    changed = generated_docs.fix(root)
    problems, hand_written = _problems(root)
    if as_json:
        print_json({"changed": changed, "problems": problems})
    else:
        click.echo("rewrote: " + ", ".join(changed) if changed else "nothing to change")
        if problems:
            click.echo("still inconsistent (needs a person or the docs phase):")
            click.echo("\n".join(f"  {p}" for p in problems))
            if hand_written:
                click.echo(HAND_WRITTEN_NOTE)
    return Exit.GUARD if problems else Exit.OK


@command.command(name="map")
@click.option("--json", "as_json", is_flag=True, help="Print {places: [...], unmapped: [...]} as JSON.")
@click.pass_context
@handle_errors
def map_(ctx: click.Context, as_json: bool) -> int:
    """List the places in the docs that list models, and what onboard leaves alone and why."""
    from phases.repo_map import build_map

    root, _db = repo_paths(ctx)
    rmap = build_map(root)
    if as_json:
        print_json(rmap.to_json())
    else:
        click.echo(rmap.render())
    return Exit.OK
