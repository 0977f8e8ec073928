"""Phase 8, docs: every generated block and cross-reference brought up to date with models.conf, the
candidates and the benchmark data (README tables, client settings, the strategy guide's model
reference table, the benchmark pipeline README, the report).

Why through ``phases.docs_blocks``: the same renderers serve ``onboard docs check|fix``, so what
the phase writes is exactly what the check expects. A file that lacks a block gets it appended at its
end (a missing file starts with a short header); text outside the blocks is never touched. Each file
is written through the journal, so a rollback restores it unless someone edited it since (conflict).
The guard is a clean ``docs check``.
"""
from __future__ import annotations

from phases.contract import Guard, GuardResult, Phase, PhaseContext


def prepare(ctx: PhaseContext) -> None:
    from phases import docs_blocks

    with ctx.writing():  # whole files rendered from the repository: no other command's write in between
        changes = docs_blocks.complete(ctx.root)
        for relpath, text in changes.items():
            ctx.write_file(relpath, text)
    ctx.echo("Docs updated: " + (", ".join(changes) if changes else "nothing to change"))
    problems = docs_blocks.check(ctx.root)
    if problems:
        ctx.echo("Still inconsistent (these need a person):")
        for p in problems:
            ctx.echo(f"  {p}")


def _consistent(ctx: PhaseContext) -> GuardResult:
    from phases import docs_blocks

    problems = docs_blocks.check(ctx.root)
    if problems:
        more = f" (and {len(problems) - 3} more)" if len(problems) > 3 else ""
        return GuardResult(False, "; ".join(problems[:3]) + more, fix="onboard docs fix, then edit what it names")
    return GuardResult(True, "onboard docs check is clean")


PHASE = Phase(
    name="docs",
    title="Docs",
    does="updates every generated block and cross-reference (README target models, switching models, repository "
         "structure; client settings capability and sampler tables; strategy guide model reference; pipeline README)",
    guards=(Guard("docs consistent", "`onboard docs check` finds nothing", _consistent),),
    prepare=prepare,
)
