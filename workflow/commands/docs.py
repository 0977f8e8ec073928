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

import functools
from collections.abc import Callable
from pathlib import Path

import click

from onboard.workflow.commands._common import handle_errors, print_json, repo_paths
from onboard.workflow.exit_codes import Exit

HAND_WRITTEN_NOTE = ("hand-written tables, trees, lists and sections are not rewritten by `docs fix`: the docs "
                     "phase (onboard advance NAME) adds a model's rows, or edit them by hand")


@click.group(name="docs")
def command() -> None:
    """Check the docs against models.conf, re-render generated blocks, list the places."""


def _problems(root) -> tuple[list[str], bool]:
    """The check's findings and whether the repository has hand-written places."""
    from onboard.phases import docs_check
    from onboard.phases.repo_map import build_map
    from onboard.workflow import generated_docs

    rmap = build_map(root)
    return docs_check.check(root, generated_docs.BLOCKS, rmap), docs_check.hand_written(rmap)


def _finish(as_json: bool, data: dict, text: list[str], problems: list[str]) -> int:
    """Print ``data`` as JSON or ``text`` as lines; exit 1 while any problem is left."""
    if as_json:
        print_json(data)
    else:
        click.echo("\n".join(text))
    return Exit.GUARD if problems else Exit.OK


def _subcommand(name: str, json_help: str) -> Callable[[Callable[[Path, bool], int]], click.Command]:
    """A ``docs`` subcommand with ``--json``: it gets the repository root and whether JSON was asked
    for; errors are rendered as everywhere (exit code, never a traceback). Its docstring is its help."""
    def wrap(run: Callable[[Path, bool], int]) -> click.Command:
        @click.option("--json", "as_json", is_flag=True, help=json_help)
        @click.pass_context
        @handle_errors
        @functools.wraps(run)
        def callback(ctx: click.Context, as_json: bool) -> int:
            return run(repo_paths(ctx)[0], as_json)

        return command.command(name=name)(callback)

    return wrap


@_subcommand("check", "Print {problems: [...]} as JSON.")
def check(root: Path, as_json: bool) -> int:
    """List every inconsistency as file:line: what (exit 1 when any)."""
    problems, _hand = _problems(root)
    return _finish(as_json, {"problems": problems}, problems or ["docs are consistent"], problems)


@_subcommand("fix", "Print {changed: [...], problems: [...]} as JSON.")
def fix(root: Path, as_json: bool) -> int:
    """Re-render the generated blocks (idempotent); prose and hand-written tables are never touched."""
    from onboard.workflow import generated_docs

    changed = generated_docs.fix(root)
    problems, hand_written = _problems(root)
    text = ["rewrote: " + ", ".join(changed) if changed else "nothing to change"]
    if problems:
        text += ["still inconsistent (needs a person or the docs phase):", *(f"  {p}" for p in problems)]
        text += [HAND_WRITTEN_NOTE] if hand_written else []
    return _finish(as_json, {"changed": changed, "problems": problems}, text, problems)


@_subcommand("map", "Print {places: [...], unmapped: [...]} as JSON.")
def map_(root: Path, as_json: bool) -> int:
    """List the places in the docs that list models, and what onboard leaves alone and why."""
    from onboard.phases.repo_map import build_map

    rmap = build_map(root)
    return _finish(as_json, rmap.to_json(), [rmap.render()], [])
