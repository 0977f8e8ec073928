"""`onboard adopt [--json] [--assistant]`: take an existing repository as it is.

Registers every production profile of models.conf as an onboarded candidate and prints where the
repository keeps what (the map the docs and benchmark phases write by), and what it could not map.
Writes only under ``.onboard/`` (the database and ``repo-map.json``, a copy of the map for reading);
``--assistant`` also installs the ``/add-model`` skill and marked additions to the person's agent files.
Safe to run again: known profiles are left alone, the map is made afresh from the files.
"""
from __future__ import annotations

import json
import sys

import click

from onboard.workflow.commands._common import handle_errors, print_json, repo_paths


@click.command("adopt")
@click.option("--json", "as_json", is_flag=True, help="machine-readable output: candidates and the map")
@click.option("--assistant", is_flag=True,
              help="also install the /add-model skill and short onboard sections in .claude/agents/*.md")
@click.option("--remove-assistant", is_flag=True,
              help="take out exactly what --assistant added (anything edited since is kept and named)")
@click.pass_context
@handle_errors
def command(ctx: click.Context, as_json: bool, assistant: bool, remove_assistant: bool) -> None:
    """Adopt this repository as it is: its profiles become onboarded candidates, its own tables,
    lists and pipeline files become the places onboard keeps.

    \b
    Examples:
      onboard adopt                 # register the profiles, print the map
      onboard adopt --json          # the same, as JSON
      onboard adopt --assistant     # and install the /add-model skill for Claude Code
    """
    from onboard.phases.repo_map import build_map
    from onboard.store.atomic import write_atomic
    from onboard.store.db import open_db
    from onboard.workflow.adoption import adopt_profiles

    root, db = repo_paths(ctx)
    from onboard.phases.owner_pipeline import pipeline_places

    repo_map = build_map(root)  # reads and checks the docs first: a file it cannot read stops here
    pipeline, pipeline_problems = pipeline_places(root)
    adopted = adopt_profiles(root, open_db(db), sys.argv[1:])
    map_json = {**repo_map.to_json(), "pipeline": pipeline, "pipeline_unmapped": pipeline_problems}
    work = root / ".onboard"
    work.mkdir(parents=True, exist_ok=True)
    write_atomic(work / "repo-map.json", json.dumps(map_json, indent=2) + "\n")
    installed: list[str] = []
    notes: list[str] = []
    if assistant or remove_assistant:
        from onboard.workflow import assistant_files

        installed = (assistant_files.remove if remove_assistant else assistant_files.install)(root, notes)
    if as_json:
        print_json({**adopted.to_json(), "map": map_json, "assistant_files": installed, "assistant_notes": notes})
        return
    click.echo(_render_candidates(adopted))
    click.echo("")
    click.echo(repo_map.render())
    click.echo(_render_pipeline(pipeline, pipeline_problems))
    if installed:
        click.echo(f"\nAssistant files {'removed' if remove_assistant else 'installed'}: " + ", ".join(installed))
    for note in notes:
        click.echo(f"  note: {note}")
    click.echo(f"\nThe map is kept in {work / 'repo-map.json'} (made afresh on every run). "
               "Next: onboard list --all; onboard docs check; onboard start NAME for a new model.")


def _render_candidates(adopted) -> str:  # adopted: workflow.adoption.Adopted
    lines = []
    if adopted.registered:
        lines.append(f"Adopted {len(adopted.registered)} profile(s) as onboarded candidates:")
        for row in adopted.registered:
            facts = [f"{row['speed_tps']:g} t/s measured" if row.get("speed_tps") else "speed not recorded"]
            memory = row.get("memory_gb") or {}
            facts.append(" / ".join(f"{dev} {gb:g} GB" for dev, gb in memory.items()) if memory
                         else "memory per GPU not recorded")
            if row.get("strategy"):
                facts.append(f"strategy {row['strategy']}")
            if not row.get("tested"):
                facts.append("NOT YET TESTED")
            lines.append(f"  {row['name']:<28} [{row['profile']}]  " + ", ".join(facts))
    else:
        lines.append("No new profiles to adopt.")
    if adopted.known:
        lines.append("Already candidates (left as they are): " + ", ".join(adopted.known))
    return "\n".join(lines)


def _render_pipeline(places: list[dict], problems: list[str]) -> str:
    if not places and not problems:
        return "\nbenchmark pipeline: none of your own (the bench phases use onboard's benchmarks/evalplus files)"
    lines = ["\nbenchmark pipeline (onboard adds the new model's entries here):"]
    for p in places:
        where = f"{p['file']}:{p['line']}" if p.get("line") else p["file"]
        lines.append(f"  {p['role']:<16} {where}: {', '.join(p['entries'])}")
    lines += [f"  could not use: {problem}" for problem in problems]
    return "\n".join(lines)
