"""Phase 4, samplers: the model authors' recommended sampler settings, with where each came from.

Sources, first wins per key: the card's recommendation for the default mode, ``generation_config.json``
(beside the model), GGUF ``general.sampling.*``. Found settings go into the profile's EXTRA_ARGS and a
per-model block of ``docs/client-settings.md``; when nothing is found the person accepts the defaults
explicitly (``advance NAME --accept-defaults``).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from onboard.phases.contract import Guard, GuardResult, Option, Phase, PhaseContext
from onboard.phases.facts import Facts
from onboard.phases import profile_values, sources


@dataclass
class SamplersFacts(Facts):
    """The sampler advice found (``llamacpp.samplers.SamplerAdvice.to_json``) and whether it was written."""

    LEGACY = {"samplers_written": "written"}

    samplers: dict[str, Any] | None = None
    written: bool = False

CLIENT_SETTINGS = "docs/client-settings.md"
CLIENT_SETTINGS_HEADER = ("# Client settings\n\nRecommended sampler settings per model, written by `onboard` "
                          "(samplers phase) from each model's card, generation_config.json and GGUF metadata.\n")
SAMPLER_FLAGS = ("--temp", "--top-p", "--top-k", "--min-p", "--repeat-penalty", "--presence-penalty")


def advice(ctx: PhaseContext):  # -> llamacpp.samplers.SamplerAdvice
    from onboard.llamacpp.errors import BadInput
    from onboard.llamacpp.gguf_header import read_header
    from onboard.llamacpp.samplers import extract_samplers

    card = ctx.card_path()
    card_text = card.read_text(encoding="utf-8", errors="replace") if card.is_file() else ""
    metadata = read_header(sources.model_path(ctx)).metadata
    config = None
    config_path = sources.model_dir(ctx) / "generation_config.json"
    if config_path.is_file():
        from onboard.store.json_input import parse_json

        config = parse_json(config_path.read_text(encoding="utf-8"), str(config_path), fix=None)
    return extract_samplers(card_text, gguf_metadata=metadata, generation_config=config)


def prepare(ctx: PhaseContext) -> None:
    from onboard.llamacpp.samplers import to_llama_args
    from onboard.store.models_conf import join_extra_args, split_extra_args

    found = advice(ctx)
    ctx.facts.samplers = found.to_json()
    if not found.found_any:
        ctx.report("No recommended sampler settings found in the card, generation_config.json or the GGUF.")
        ctx.report(f"Accept llama-server's defaults with: onboard advance {ctx.name} --accept-defaults")
        return
    section = profile_values.current(ctx)
    kept = _without_sampler_flags(split_extra_args(section.values.get("EXTRA_ARGS", ""))) if section else []
    profile_values.update(ctx, {"EXTRA_ARGS": join_extra_args(kept + to_llama_args(found))})
    where = _document(ctx, found)
    ctx.facts.written = True
    ctx.report(f"Sampler settings written to [{ctx.profile_id}] EXTRA_ARGS and {where}:")
    for key, value in found.recommended.items():
        if value is not None:
            ctx.report(f"  {key} = {value}  ({found.sources.get(key, '?')})")


def _document(ctx: PhaseContext, found) -> str:  # found: llamacpp.samplers.SamplerAdvice
    """Where the settings are written for clients: in a person's own docs, their sampler table's row and
    their per-model section (in their format, found by meaning); else our marked block."""
    from onboard.phases import docs, docs_check
    from onboard.phases.repo_map import build_map

    if docs_check.hand_written(build_map(ctx.root)):
        added = docs.enter_model(ctx, roles=SETTINGS_ROLES)
        return ", ".join(label.split(" ", 1)[0] for label in added) or "your docs (already listed)"
    ctx.set_block(CLIENT_SETTINGS, ctx.profile_id, render_client_block(ctx.name, found, chat=sources.chat(ctx)),
                  CLIENT_SETTINGS_HEADER)
    return CLIENT_SETTINGS


SETTINGS_ROLES = frozenset({"samplers", "model-notes"})


def run(ctx: PhaseContext, opts: dict[str, Any]) -> None:
    if opts.get("accept_defaults"):
        ctx.options["accept_defaults"] = True
        ctx.report("Recorded: llama-server's default sampler settings accepted.")


def _without_sampler_flags(args: list[str]) -> list[str]:
    out, skip = [], False
    for arg in args:
        if skip:
            skip = False
            continue
        if arg in SAMPLER_FLAGS:
            skip = True
            continue
        if arg.split("=", 1)[0] in SAMPLER_FLAGS:
            continue
        out.append(arg)
    return out


def render_client_block(name: str, found, chat: dict | None = None) -> str:
    """Our client-settings block for a model. ``chat`` is the chat verdict (``sources.chat``): a
    base model is said to be for completion only, since a chat client would get template garbage."""
    lines = [f"## {name}", ""]
    if (chat or {}).get("kind") == "base":
        lines += ["**Completion only**: a base model (no chat template); use `/completion` (or `/v1/completions`), "
                  "not chat clients.", ""]
    lines += ["| setting | value | source |", "|---|---|---|"]
    for key, value in found.recommended.items():
        lines.append(f"| {key} | {'-' if value is None else value} | {found.sources.get(key, '-')} |")
    for mode, values in found.modes.items():
        given = ", ".join(f"{k}={v}" for k, v in values.items() if v is not None)
        lines.append("")
        lines.append(f"- mode **{mode}**: {given or 'no values'}")
    lines.append("")
    lines.append(f"- thinking model: {'yes' if found.thinking_model else 'no'}")
    if found.system_prompt:
        lines.append(f"- system prompt the card requires: `{found.system_prompt}`")
    for note in found.notes:
        lines.append(f"- note: {note}")
    return "\n".join(lines) + "\n"


def _settings_recorded(ctx: PhaseContext) -> GuardResult:
    record: SamplersFacts = ctx.facts
    if record.written:
        got = {k: v for k, v in (record.samplers or {}).get("recommended", {}).items() if v is not None}
        return GuardResult(True, "recorded: " + ", ".join(f"{k}={v}" for k, v in got.items()))
    if ctx.options.get("accept_defaults"):
        return GuardResult(True, "llama-server's defaults explicitly accepted")
    return GuardResult(False, "no recommended settings were found and the defaults were not accepted",
                       fix=f"onboard advance {ctx.name} --accept-defaults")


PHASE = Phase(
    name="samplers",
    title="Samplers",
    does="finds the recommended sampler settings (card, generation_config.json, GGUF general.sampling.*) and "
         "special needs; writes them to the profile's EXTRA_ARGS and the client settings (the person's sampler "
         "table and per-model section, or our block)",
    guards=(Guard("settings recorded", "recommended settings written, or defaults explicitly accepted",
                  _settings_recorded),),
    prepare=prepare,
    run=run,
    options=(Option("accept_defaults", "accept llama-server's default sampler settings"),),
    facts=SamplersFacts,
    owns_choices=("accept_defaults",),
)
