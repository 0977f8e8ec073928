"""`onboard init [DIR]`: lay out a new llama-server repository from onboard's template.

For someone starting fresh: models.conf (its header only), start.sh, the docs with their generated
blocks (README.md, docs/client-settings.md, docs/gpu-strategy-guide.md), the EvalPlus pipeline
(benchmarks/evalplus/), models/documentation/CANDIDATES/ (where candidate cards go), a .gitignore,
and the assistant files (the /add-model skill and onboard's read-only role agents). No rig.toml: the
rig is detected, or declared later by the person. An existing repository is taken as it is by
``onboard adopt`` instead: init refuses, before writing anything, when any file it would create exists.

The template is package data, ``workflow/template/`` (setup.cfg's ``[options.package_data]``), so an
installed wheel carries it. One source of truth, the simpler way: the template's copies of files this
checkout has itself (start.sh, models.conf, docs/client-settings.md, docs/gpu-strategy-guide.md,
benchmarks/evalplus/*, the skill and the agents) are relative symbolic links to them. An editable
install reads them through the links; building a wheel copies the files they point to, as regular
files. Nothing can drift, and there is nothing to keep in step by hand. Only what this checkout has no
copy of is a real file there (README.md, the candidates README, the .gitignore). Path components named
``dot-X`` become ``.X`` (``dot-claude`` -> ``.claude``): setuptools' package-data globs skip hidden
names, and a live ``.gitignore`` inside the package would apply to the package itself.
"""
from __future__ import annotations

import os
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path

import click

from onboard.workflow.commands._common import handle_errors

# a template file -> what it is, for the summary (every file of the template is created, listed or not)
WHAT = {
    "models.conf": "one section per llama-server profile (header only: onboard adds the sections)",
    "start.sh": "`./start.sh <profile-id>` starts llama-server with that profile",
    "README.md": "target models, switching models, repository structure (generated blocks)",
    "docs/client-settings.md": "capability and sampler tables (generated blocks)",
    "docs/gpu-strategy-guide.md": "placement strategies and the model reference table",
    "benchmarks/evalplus/benchmark.sh": "EvalPlus over every [bench-*] profile, then results/REPORT.md",
    "models/documentation/CANDIDATES/README.md": "what a candidate card is",
    ".gitignore": ".onboard/ and the model files stay out of git",
    ".claude/skills/add-model/SKILL.md": "the /add-model skill for Claude Code",
}
EXECUTABLE = (".sh",)


def template_root() -> Traversable:
    return resources.files("onboard.workflow").joinpath("template")


def _target(parts: tuple[str, ...]) -> str:
    return "/".join("." + p[len("dot-"):] if p.startswith("dot-") else p for p in parts)


def template_files() -> dict[str, Traversable]:
    """Every file of the template by the path it gets in the new repository."""
    found: dict[str, Traversable] = {}

    def walk(node: Traversable, parts: tuple[str, ...]) -> None:
        for child in node.iterdir():
            if child.name == "__pycache__" or child.name.endswith(".pyc"):
                continue
            if child.is_dir():
                walk(child, (*parts, child.name))
            elif child.is_file():
                found[_target((*parts, child.name))] = child

    walk(template_root(), ())
    return dict(sorted(found.items()))


def models_conf_header(text: str) -> str:
    """The leading comment lines of a models.conf (a new repository starts with no profile)."""
    lines = []
    for line in text.splitlines():
        if line.strip() and not line.lstrip().startswith(("#", ";")):
            break
        lines.append(line)
    return "\n".join(lines).strip("\n") + "\n"


def planned() -> dict[str, bytes | None]:
    """What init creates: path -> content (None: the assistant files write it, fitted to the repository)."""
    from onboard.workflow.assistant_files import SKILL

    files: dict[str, bytes | None] = {}
    for relpath, source in template_files().items():
        if relpath == SKILL:
            files[relpath] = None
        elif relpath == "models.conf":
            files[relpath] = models_conf_header(source.read_text(encoding="utf-8")).encode("utf-8")
        else:
            files[relpath] = source.read_bytes()
    files.setdefault(SKILL, None)
    return files


def _in_the_way(root: Path, relpaths: list[str]) -> list[str]:
    """The paths that exist already (or whose folder is a file), in the order given."""
    clash = []
    for relpath in relpaths:
        path = root / relpath
        parents = [root / Path(relpath).parents[i] for i in range(len(Path(relpath).parents) - 1)]
        if os.path.lexists(path) or any(p.exists() and not p.is_dir() for p in parents):
            clash.append(relpath)
    return clash


def create(root: Path) -> list[str]:
    """Lay out the repository in ``root`` (made if missing); the files created, in order.

    Refuses (BadInput, exit 6) before writing anything when ``root`` is a file or any file it would
    create exists already."""
    from onboard.llamacpp.errors import BadInput
    from onboard.store.atomic import write_atomic
    from onboard.workflow import assistant_files, generated_docs

    if root.exists() and not root.is_dir():
        raise BadInput("not a directory", path=str(root), fix="give a new or empty directory: onboard init DIR")
    files = planned()
    clash = _in_the_way(root, list(files)) if root.is_dir() else []
    if clash:
        more = f" (and {len(clash) - 1} more: {', '.join(clash[1:4])}{', ...' if len(clash) > 4 else ''})" \
            if len(clash) > 1 else ""
        raise BadInput(f"exists already{more}; onboard init lays out a new repository and never overwrites a file",
                       path=str(root / clash[0]),
                       fix="use `onboard adopt` for an existing repository (run in it, or `onboard --root DIR adopt`), "
                           "or init into a new or empty directory")
    root.mkdir(parents=True, exist_ok=True)
    created = []
    for relpath, data in files.items():
        if data is None:
            continue
        path = root / relpath
        write_atomic(path, data)
        if relpath.endswith(EXECUTABLE):
            path.chmod(path.stat().st_mode | 0o111)
        created.append(relpath)
    generated_docs.fix(root)  # the generated blocks rendered for this (empty) models.conf
    created += assistant_files.install(root)
    return created


@click.command("init")
@click.argument("directory", required=False, metavar="[DIR]")
@click.pass_context
@handle_errors
def command(ctx: click.Context, directory: str | None) -> None:
    """Lay out a new llama-server repository in DIR (default: the current directory).

    \b
    Creates models.conf, start.sh, README.md and docs/ with their generated blocks, the EvalPlus
    pipeline (benchmarks/evalplus/), models/documentation/CANDIDATES/, a .gitignore and the
    /add-model skill for Claude Code. Refuses when any of these files exists already: use
    `onboard adopt` for an existing repository.
    """
    top = ctx.find_root()
    from_command_line = top.get_parameter_source("root") == click.core.ParameterSource.COMMANDLINE
    # `onboard --root DIR init` works too; ONBOARD_ROOT from the environment never moves it
    given = directory or ((top.obj or {}).get("root") if from_command_line else None) or "."
    root = Path(given).resolve()
    created = sorted(create(root))
    width = max(len(p) for p in created)
    click.echo(f"Created a new llama-server repository in {root}:")
    for relpath in created:
        click.echo(f"  {relpath.ljust(width)}  {WHAT.get(relpath, '')}".rstrip())
    click.echo("\nrig.toml: not created. onboard detects NVIDIA GPUs (NVML) and this machine's RAM; declare your rig\n"
               "in rig.toml when detection is not enough (other GPUs, RPC servers, another llama-server).")
    here = Path.cwd().resolve()
    click.echo("\nNext:")
    if root != here:
        click.echo(f"  cd {root}")
    click.echo("  onboard hardware                  # the rig onboard plans for\n"
               "  # save a model's card as models/documentation/CANDIDATES/README_<name>.md, then:\n"
               "  onboard start <name>              # evaluate it: a fit table per quant\n"
               "  onboard status <name>             # where it stands, what to run next\n"
               "  # or, in Claude Code: /add-model <name>")
