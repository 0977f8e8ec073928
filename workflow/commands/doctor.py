"""`onboard doctor [--rebuild | --restore-backup] [--json]`: is the workflow database sound, and
what to do when it is not.

Without options it only reads and reports (exit 0 when sound, 6 when not). ``--rebuild`` keeps the
damaged file aside, makes a new database with every row that can still be read, and adopts the
production profiles of models.conf that lost their candidate; ``--restore-backup`` puts the copy made
before the last schema change back in place. Neither ever deletes the damaged file.
"""
from __future__ import annotations

import sys

import click

from onboard.workflow.commands._common import handle_errors, print_json, repo_paths
from onboard.workflow.exit_codes import Exit


@click.command("doctor")
@click.option("--rebuild", is_flag=True, help="make a new database from every readable row and models.conf")
@click.option("--restore-backup", is_flag=True, help="put back the copy made before the last schema change")
@click.option("--json", "as_json", is_flag=True, help="machine-readable report")
@click.pass_context
@handle_errors
def command(ctx: click.Context, rebuild: bool, restore_backup: bool, as_json: bool) -> int:
    """Check the workflow database; repair it on request.

    \b
    Examples:
      onboard doctor                  # report only
      onboard doctor --rebuild        # keep the damaged file aside, recover what can be read
      onboard doctor --restore-backup # go back to the copy made before the last schema change
    """
    from onboard.store import recovery

    root, db = repo_paths(ctx)
    diag = recovery.diagnose(db)
    report: dict = {"diagnosis": diag.to_json()}
    if rebuild and not diag.healthy:
        from onboard.store.db import open_db
        from onboard.workflow.adoption import adopt_profiles

        aside, copied = recovery.rebuild(db)
        adopted = adopt_profiles(root, open_db(db), sys.argv[1:]) if (root / "models.conf").is_file() else None
        report["rebuilt"] = {"damaged_copy": str(aside), "tables": {t: {"copied": c, "lost": lost}
                                                                   for t, (c, lost) in copied.items()},
                             "adopted_from_models_conf": [r["name"] for r in adopted.registered] if adopted else []}
    elif restore_backup:
        aside, backup = recovery.restore_backup(db)
        report["restored"] = {"from": str(backup), "damaged_copy": str(aside)}
    if as_json:
        print_json(report)
    else:
        click.echo(_render(report))
    if "rebuilt" in report or "restored" in report:
        return Exit.OK
    return Exit.OK if diag.healthy else Exit.BAD_INPUT


def _render(report: dict) -> str:
    diag = report["diagnosis"]
    lines = [f"workflow database {diag['path']}: " + ("sound" if diag["healthy"] else "NOT sound")]
    lines += [f"  problem: {p}" for p in diag["problems"]]
    lines += [f"  {f}" for f in diag["facts"]]
    if "rebuilt" in report:
        r = report["rebuilt"]
        lines.append(f"Rebuilt. The damaged file is kept as {r['damaged_copy']}.")
        for table, n in r["tables"].items():
            lines.append(f"  {table}: {n['copied']} rows recovered" + (f", {n['lost']} lost" if n["lost"] else ""))
        if r["adopted_from_models_conf"]:
            lines.append("  adopted again from models.conf: " + ", ".join(r["adopted_from_models_conf"]))
        lines.append("Next: onboard list --all, then onboard status NAME for each candidate in flight.")
    elif "restored" in report:
        lines.append(f"Restored {report['restored']['from']}; the file it replaced is kept as "
                     f"{report['restored']['damaged_copy']}. Candidates changed since that copy are as they were then.")
    elif not diag["healthy"]:
        lines.append("fix: onboard doctor --rebuild (keeps the damaged file aside and recovers every readable row)"
                     + (f", or onboard doctor --restore-backup ({diag['backup']})" if diag["backup"] else ""))
    return "\n".join(lines)
