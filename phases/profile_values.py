"""The candidate's production profile in models.conf: reading it, and changing some of its keys while
keeping the rest (the samplers and test phases edit the profile the profile phase wrote)."""
from __future__ import annotations

from onboard.phases.contract import PhaseContext


def current(ctx: PhaseContext, section_id: str | None = None):  # -> store.models_conf.Section | None
    from onboard.store.models_conf import ModelsConf

    return ModelsConf.load(ctx.root / "models.conf").section(section_id or ctx.profile_id)


def update(ctx: PhaseContext, changes: dict[str, str], *, comments: list[str] | None = None,
           section_id: str | None = None) -> bool:
    """Rewrite the profile with ``changes`` applied (journalled); comments kept unless given."""
    from onboard.llamacpp.errors import BadInput

    section = current(ctx, section_id)
    if section is None:
        raise BadInput(f"models.conf has no [{section_id or ctx.profile_id}] profile", path=str(ctx.root / "models.conf"),
                       fix=f"onboard rollback {ctx.name} back to the profile phase, which writes it")
    values = {**section.values, **changes}
    return ctx.set_profile(section_id or ctx.profile_id, values,
                           list(section.comments) if comments is None else comments)
