"""`onboard serve PROFILE_ID [--dry-run] [--port N]`: start llama-server with a models.conf profile.

This is what ``start.sh`` runs. It uses the same argv builder as the test and bench phases
(:func:`llamacpp.server_command.build_server_argv`), so the server a person starts is the server
that was measured. It replaces itself with llama-server (``os.execv``): signals and the exit
status are llama-server's own, and no shell ever sees the profile's values.
"""
from __future__ import annotations

import os
import shlex
import sys
from pathlib import Path

import click

from onboard.llamacpp.errors import BadInput
from onboard.llamacpp.server_command import build_server_argv, find_llama_server
from onboard.store.models_conf import ModelsConf
from onboard.store.suggest import did_you_mean
from onboard.workflow.commands._common import handle_errors
from onboard.workflow.errors import WorkflowError
from onboard.workflow.exit_codes import Exit


def find_root(given: str | None) -> Path:
    """``--root`` as given, else the nearest directory upward from here that holds models.conf."""
    if given:
        return Path(given)
    here = Path.cwd().resolve()
    for directory in (here, *here.parents):
        if (directory / "models.conf").is_file():
            return directory
    raise BadInput(f"no models.conf in {here} or any directory above it",
                   fix="run from inside the repository, or pass --root DIR")


def _fail(code: Exit, message: str, fix: str | None = None) -> None:
    raise WorkflowError(code, message, fix=fix)


@click.command("serve")
@click.argument("profile_id")
@click.option("--dry-run", is_flag=True, help="Print the llama-server command instead of running it.")
@click.option("--port", type=click.IntRange(1, 65535), help="Port to listen on (default: llama-server's).")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--rig", "rig_path", type=click.Path(dir_okay=False), envvar="ONBOARD_RIG",
              help="Rig file naming the llama-server binary (default: <root>/rig.toml).")
@click.pass_context
@handle_errors
def command(ctx: click.Context, profile_id: str, dry_run: bool, port: int | None, host: str,
            rig_path: str | None) -> None:
    """Start llama-server with the models.conf profile PROFILE_ID (what ./start.sh runs)."""
    root = find_root((ctx.obj or {}).get("root"))
    conf_path = root / "models.conf"
    if not conf_path.exists():
        raise BadInput("no models.conf here", path=str(conf_path), fix="pass --root DIR of your repository")
    conf = ModelsConf.load(conf_path, args_checked=False)  # another profile's EXTRA_ARGS is not ours to judge
    section = conf.section(profile_id)
    if section is None:
        ids = [s.id for s in conf.sections]
        hint = did_you_mean(profile_id, ids) or f"known profiles: {', '.join(ids) if ids else '(none)'}"
        raise BadInput(f"no profile [{profile_id}]", path=str(conf_path), fix=hint)
    if rig_path is None and (root / "rig.toml").is_file():
        rig_path = str(root / "rig.toml")
    if rig_path is not None:
        from onboard.llamacpp.rig_file import read_rig_toml

        read_rig_toml(rig_path)  # a file that is no TOML is refused with its line, not skipped
    binary = find_llama_server(rig_path)
    try:
        argv = build_server_argv(section.values, binary=binary or "llama-server", host=host, port=port,
                                 root=root)
    except BadInput as err:  # name the profile's line in models.conf, not just the field
        line = section.value_lines.get(err.field or "", section.line)
        raise BadInput(f"[{profile_id}] {err.message}", path=str(conf_path), line=line,
                       fix=err.fix or f"correct {err.field or 'that value'} on that line of models.conf") from None

    if dry_run:
        click.echo(shlex.join(argv))
        if binary is None:
            click.echo("note: llama-server not found; run scripts/install-llama-server.sh "
                       "or set LLAMA_SERVER", err=True)
        return
    if binary is None:
        _fail(Exit.EXTERNAL, "llama-server not found", "run scripts/install-llama-server.sh, "
                             "set LLAMA_SERVER, or name it in rig.toml (llama_server = \"...\")")
    model = Path(argv[2])
    if not model.is_file():
        line = section.value_lines.get("MODEL", section.line)
        _fail(Exit.BAD_INPUT, f"{conf_path}:{line}: [{profile_id}] MODEL: {model} does not exist",
              "download the model (onboard advance) or correct MODEL")
    os.environ.setdefault("CUDA_DEVICE_ORDER", "PCI_BUS_ID")  # CUDA numbers devices as NVML and the plan do
    sys.stdout.flush()
    try:
        os.execv(binary, argv)
    except OSError as err:
        _fail(Exit.EXTERNAL, f"cannot run {binary}: {err.strerror or err}")
