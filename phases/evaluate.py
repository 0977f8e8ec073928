"""Phase 1, evaluate: know the model before downloading it.

Reads the candidate card, the GGUF header (local file, or the remote header's bytes), the quants on
the hub with their sizes and the rig, and prints a fit table with a recommendation. The person
chooses with ``advance NAME --quant Q``.
"""
from __future__ import annotations

import json
from typing import Any

from phases.contract import Guard, GuardResult, Option, Phase, PhaseContext


def prepare(ctx: PhaseContext) -> None:
    from phases import evaluation

    try:
        report = evaluation.evaluate(ctx)
    except Exception as err:  # noqa: BLE001 - any failure is shown and kept as a guard reason
        from llamacpp.errors import DomainError

        if not isinstance(err, DomainError):
            raise
        ctx.options["evaluate_error"] = {"message": err.message, "fix": err.fix}
        ctx.echo(f"evaluate: {err}")
        return
    ctx.options.pop("evaluate_error", None)
    ctx.options.update(report.facts)
    (ctx.work_dir / "evaluate.json").write_text(json.dumps(report.to_json(), indent=2))
    ctx.echo(report.render())


def run(ctx: PhaseContext, opts: dict[str, Any]) -> None:
    if not ctx.options.get("architecture") or opts.get("refresh"):
        prepare(ctx)
    quant = opts.get("quant")
    if quant:
        known = ctx.options.get("quants") or []
        if known and quant not in known:
            from llamacpp.errors import BadInput

            raise BadInput(f"unknown quant {quant!r}; this repository has: {', '.join(known)}", field="--quant")
        ctx.options["quant"] = quant
        ctx.echo(f"Chosen quant: {quant}")


def _architecture_known(ctx: PhaseContext) -> GuardResult:
    arch = ctx.options.get("architecture")
    if arch:
        return GuardResult(True, f"architecture {arch} (from {ctx.options.get('architecture_source', 'GGUF header')})")
    error = ctx.options.get("evaluate_error") or {"message": "the GGUF header has not been read", "fix": None}
    fix = f"{error['fix']}; then `onboard advance {ctx.name} --refresh`" if error.get("fix") else \
        f"onboard advance {ctx.name} --refresh"
    return GuardResult(False, error["message"], fix=fix)


def _quant_chosen(ctx: PhaseContext) -> GuardResult:
    quant = ctx.options.get("quant")
    if quant:
        return GuardResult(True, f"quant {quant} chosen")
    hint = ctx.options.get("recommended_quant")
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
    options=(Option("quant", "choose the quant to onboard (evaluate)", metavar="Q"),
             Option("refresh", "evaluate again (re-read card, header and quant list)")),
    owns_options=("quant",),
)
