"""`onboard export --format llama-server-preset|llama-swap [-o FILE]`: serve many profiles at once.

``start.sh <profile>`` serves one profile. People who switch between models serve them through
llama-server's router mode (``--models-preset FILE``: one INI section per model, loaded on its first
request) or through llama-swap (a proxy that starts the right llama-server per request). This
command writes either file from models.conf, so the profiles that were planned and measured are the
ones served. Each profile's llama-server command line comes from the one builder
(:func:`llamacpp.server_command.build_server_argv`); :mod:`llamacpp.presets` re-expresses it and
refuses what the target format cannot hold, naming the profile, the models.conf line and the option.

The preset's keys are checked against the ``--help`` of the llama-server that will serve it (the
installed one, or ``--server-help FILE``: that output saved on the serving machine).
"""
from __future__ import annotations

import subprocess
from pathlib import Path

import click

from onboard.workflow.commands._common import handle_errors, repo_paths

PRESET = "llama-server-preset"
SWAP = "llama-swap"
HELP_TIMEOUT_S = 60


@click.command("export")
@click.option("--format", "fmt", type=click.Choice([PRESET, SWAP]), required=True,
              help="llama-server-preset: an INI file for `llama-server --models-preset FILE` (router mode); "
                   "llama-swap: a config.yaml for llama-swap.")
@click.option("-o", "--output", type=click.Path(dir_okay=False), help="Write to FILE (atomically) instead of stdout.")
@click.option("--include-bench", is_flag=True, help="Also export the [bench-*] profiles.")
@click.option("--ttl", type=click.IntRange(min=0), default=0, show_default=True,
              help="llama-swap: seconds without requests before a model is unloaded (0: never).")
@click.option("--server-help", "server_help", type=click.Path(exists=True, dir_okay=False),
              help="llama-server-preset: a saved `llama-server --help` output to take the option names from "
                   "(default: run the installed llama-server).")
@click.option("--rig", "rig_path", type=click.Path(dir_okay=False), envvar="ONBOARD_RIG",
              help="Rig file naming the llama-server binary (default: <root>/rig.toml).")
@click.pass_context
@handle_errors
def command(ctx: click.Context, fmt: str, output: str | None, include_bench: bool, ttl: int,
            server_help: str | None, rig_path: str | None) -> int:
    """Write every production profile of models.conf as a llama-server router preset or a llama-swap config."""
    from onboard.llamacpp import presets
    from onboard.llamacpp.errors import BadInput
    from onboard.llamacpp.server_command import build_server_argv, find_llama_server
    from onboard.store.models_conf import ModelsConf

    root = repo_paths(ctx)[0].resolve()
    conf_path = root / "models.conf"
    if not conf_path.is_file():
        raise BadInput("no models.conf here", path=str(conf_path), fix="pass --root DIR of your repository")
    conf = ModelsConf.load(conf_path)
    sections = [s for s in conf.sections if include_bench or not s.id.startswith("bench-")]
    if not sections:
        raise BadInput("no production profiles to export" + ("" if include_bench else " ([bench-*] left out)"),
                       path=str(conf_path), fix="add a profile (onboard advance NAME) or pass --include-bench")
    if rig_path is None and (root / "rig.toml").is_file():
        rig_path = str(root / "rig.toml")
    binary = find_llama_server(rig_path)

    def where(section, err: BadInput) -> BadInput:
        """The error again, at the models.conf line of the key it came from."""
        line = section.value_lines.get(err.field or "", section.line)
        message = err.message.removeprefix(f"{err.field}: ") if err.field else err.message
        message = message if message.startswith(f"[{section.id}]") else f"[{section.id}] {message}"
        return BadInput(message, path=str(conf_path), line=line, field=err.field, fix=err.fix)

    argvs, notes = [], []
    for section in sections:
        try:
            argvs.append(build_server_argv(section.values, binary=binary or "llama-server", host=None, root=root))
        except BadInput as err:
            raise where(section, err) from None
        model = Path(argvs[-1][2])
        if not model.is_file():
            notes.append(f"[{section.id}] {model} does not exist (yet); the server will fail to load it until it does")

    if fmt == PRESET:
        options = presets.parse_help(_help_text(binary, server_help))
        done = []
        for section, argv in zip(sections, argvs):
            try:
                done.append(presets.preset_section(section.id, argv, options, _comments(section.values)))
            except BadInput as err:
                raise where(section, err) from None
        _refuse_clash(presets.name_clash([(d.id, [a.strip() for k, v in d.keys if k == "alias"
                                                  for a in v.split(",") if a.strip()]) for d in done]), conf)
        text = presets.render_preset(done, header=[
            f"llama-server router preset: {len(done)} profile(s) of {conf_path}, written by `onboard export`.",
            "Serve them: llama-server --models-preset THIS_FILE --models-max 1 --host 127.0.0.1 --port 8080",
            'A model loads on its first request naming it ("model": "<section name>").',
            "Keys are llama-server's own option names; regenerate after editing models.conf.",
        ])
    else:
        if binary is None:
            notes.append("llama-server not found; the commands say `llama-server` "
                         "(run scripts/install-llama-server.sh or set LLAMA_SERVER)")
        models = []
        for section, argv in zip(sections, argvs):
            try:
                models.append(presets.swap_model(section.id, argv, section.values))
            except BadInput as err:
                raise where(section, err) from None
        _refuse_clash(presets.name_clash([(m.id, m.aliases) for m in models]), conf)
        text = presets.render_llama_swap(models, ttl=ttl, header=[
            f"llama-swap configuration: {len(models)} profile(s) of {conf_path}, written by `onboard export`.",
            "Run it: llama-swap --config THIS_FILE --listen 127.0.0.1:8080",
            "Regenerate after editing models.conf.",
        ])

    for note in notes:
        click.echo(f"onboard export: note: {note}", err=True)
    if output is None:
        click.echo(text, nl=False)
    else:
        from onboard.store.atomic import write_atomic

        write_atomic(Path(output), text)
        ids = ", ".join(s.id for s in sections)
        click.echo(f"wrote {output}: {len(sections)} profile(s) ({ids})", err=True)
    return 0


def _refuse_clash(clash: tuple[str, str] | None, conf) -> None:
    """A name two profiles answer to, refused at the EXTRA_ARGS line of the second (both servers would)."""
    if clash is not None:
        from onboard.llamacpp.errors import BadInput

        section = conf.section(clash[0])
        raise BadInput(clash[1], path=conf.path, line=section.value_lines.get("EXTRA_ARGS", section.line),
                       field="EXTRA_ARGS", fix="give each profile aliases no other profile uses (--alias)")


def _comments(values: dict[str, str]) -> list[str]:
    """The profile's human lines (name, description, speed) for the comment above its section."""
    lines = [values.get("NAME", ""), values.get("DESCRIPTION", "")]
    if values.get("SPEED"):
        lines.append(f"speed: {values['SPEED']}")
    return [line for line in lines if line]


def _help_text(binary: str | None, saved: str | None) -> str:
    """``llama-server --help`` of the server that will read the preset: a saved copy, or run it."""
    from onboard.llamacpp.errors import BadInput, ExternalFailure

    if saved is not None:
        try:
            text, source = Path(saved).read_text(encoding="utf-8", errors="replace"), saved
        except OSError as err:
            raise BadInput(f"cannot read: {err.strerror}", path=saved) from None
    elif binary is None:
        raise ExternalFailure("llama-server not found: the preset's keys are taken from its --help",
                              fix="run scripts/install-llama-server.sh, set LLAMA_SERVER, or pass --server-help FILE "
                                  "(the output of `llama-server --help` on the machine that serves)")
    else:
        try:
            proc = subprocess.run([binary, "--help"], capture_output=True, text=True, errors="replace",
                                  timeout=HELP_TIMEOUT_S, stdin=subprocess.DEVNULL)
        except (OSError, subprocess.TimeoutExpired) as err:
            raise ExternalFailure(f"cannot run {binary} --help: {err}",
                                  fix="check LLAMA_SERVER / rig.toml, or pass --server-help FILE") from None
        text, source = proc.stdout + "\n" + proc.stderr, f"{binary} --help"
    if "--models-preset" not in text:
        raise ExternalFailure(f"{source} does not list --models-preset: this llama-server has no router mode",
                              fix="update llama.cpp (router presets arrived in December 2025), or export "
                                  "--format llama-swap")
    return text
