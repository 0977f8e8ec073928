"""Phases that later work will build: reaching one says so plainly (exit 9), never pretends."""
from __future__ import annotations

from phases.contract import Guard, GuardResult, Phase, PhaseContext


def not_built_guard(phase_name: str) -> Guard:
    def check(_ctx: PhaseContext) -> GuardResult:
        return GuardResult(False, f"the {phase_name} phase is not built yet: do its work by hand, "
                                  "or roll back", fix=None)

    return Guard("built", f"the {phase_name} phase exists", check)


def not_built_prepare(phase_name: str):
    def prepare(ctx: PhaseContext) -> None:
        ctx.echo(f"The {phase_name} phase is not built yet in this version of onboard.")

    return prepare


def placeholder(name: str, title: str, does: str, **kwargs) -> Phase:
    return Phase(name=name, title=title, does=does, guards=(not_built_guard(name),),
                 prepare=not_built_prepare(name), built=False, **kwargs)
