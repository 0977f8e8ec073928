"""Phase 6, bench-profile: ``[bench-<id>]``, the profile every model is benchmarked with.

Why a second profile: a benchmark compares models, so each one is served the same way: context
10240 (HumanEval+'s worst case is about 8.4K tokens), ``-b 512 -ub 512``, no sampler arguments
(EvalPlus asks for temperature 0), and ``--reasoning-format none`` for thinking models so that the
chain of thought stays in the content and the answer after it is what gets scored. The smaller
context frees memory, so the planner usually puts more layers on the GPUs than production does.
The phase also enters the model in the benchmark pipeline's files (display name, client settings):
ours (models.json, client.json), or, in a repository that keeps its own pipeline, its
bench-client.conf and generate-report.py, edited by meaning (``phases.owner_pipeline``).
``advance NAME --skip-bench`` skips this phase and the benchmark (recorded).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from onboard.phases.contract import Guard, GuardResult, Phase, PhaseContext
from onboard.phases.facts import Facts
from onboard.phases import bench_pipeline as bp
from onboard.phases import profile_values

SAMPLER_FLAGS = ("--temp", "--top-p", "--top-k", "--min-p", "--repeat-penalty", "--presence-penalty",
                 "--frequency-penalty", "--typical", "--mirostat", "--dry-multiplier", "--xtc-probability", "--seed")
# what the planner decides: taken from the bench plan, never from the production profile
PLACEMENT_FLAGS = ("-ts", "--tensor-split", "-ot", "--override-tensor", "--n-cpu-moe", "-ctk", "--cache-type-k",
                   "-ctv", "--cache-type-v", "-fa", "--flash-attn", "-np", "--parallel", "-b", "--batch-size",
                   "-ub", "--ubatch-size", "--reasoning-format")
VALUE_LESS = ("--cpu-moe",)


@dataclass
class BenchProfileFacts(Facts):
    """The bench plan: fits, strategy, layers on GPUs, thinking, production -ngl, memory per device."""

    LEGACY = {"bench_plan": "plan"}

    plan: dict[str, Any] | None = None


def _samplers(ctx: PhaseContext) -> dict[str, Any]:
    return ctx.facts_of("samplers").samplers or {}


def is_thinking(ctx: PhaseContext) -> bool:
    """A thinking model: the candidate's option, else its card, else what the samplers phase found."""
    if "thinking" in ctx.options:
        return bool(ctx.options["thinking"])
    card = ctx.card_path()
    if card.is_file():
        from onboard.llamacpp.candidate_card import load_card

        return bool(load_card(card, require_repo=False).thinking)
    return bool(_samplers(ctx).get("thinking_model"))


def carried_args(args: list[str]) -> list[str]:
    """Production EXTRA_ARGS without sampler settings and without what the bench plan decides anew
    (chat template, ``--jinja`` and the like are kept: the model must be served the same way)."""
    out: list[str] = []
    i = 0
    while i < len(args):
        name = args[i].split("=", 1)[0]
        if name in SAMPLER_FLAGS or name in PLACEMENT_FLAGS:
            i += 1 if "=" in args[i] else 2
            continue
        if name in VALUE_LESS:
            i += 1
            continue
        out.append(args[i])
        i += 1
    return out


def bench_values(ctx: PhaseContext) -> tuple[dict[str, str], list[str], dict]:
    """The ``[bench-<id>]`` values, its comments and the plan's facts."""
    from onboard.llamacpp.errors import BadInput
    from onboard.phases.profile import make_plan, profile_from_plan
    from onboard.store.models_conf import join_extra_args, split_extra_args

    production = profile_values.current(ctx)
    if production is None:
        raise BadInput(f"models.conf has no [{ctx.profile_id}] profile", path="models.conf",
                       fix=f"onboard rollback {ctx.name}  (the profile phase writes it)")
    plan, rig, header = make_plan(ctx, ctx_size=bp.BENCH_CTX,
                                  request_changes={"batch": bp.BENCH_BATCH, "ubatch": bp.BENCH_BATCH})
    planned, _comments = profile_from_plan(ctx, plan, rig, header)
    placement = split_extra_args(planned["EXTRA_ARGS"])
    for flag in ("-b", "-ub"):  # said explicitly even where it equals llama-server's default
        if flag not in placement:
            placement += [flag, str(bp.BENCH_BATCH)]
    thinking = is_thinking(ctx)
    extra = placement + carried_args(split_extra_args(production.values.get("EXTRA_ARGS", "")))
    if thinking:
        extra += ["--reasoning-format", "none"]
    speed = f"~{plan.est_tokens_per_s:.0f} t/s (estimated)" if plan.est_tokens_per_s else "unknown (estimated)"
    values = {
        "NAME": f"{production.values.get('NAME') or ctx.name} (benchmark)",
        "DESCRIPTION": f"EvalPlus bench profile of [{ctx.profile_id}]: ctx {bp.BENCH_CTX}, -b/-ub {bp.BENCH_BATCH}, "
                       f"strategy {plan.strategy}",
        "SPEED": speed,
        "MODEL": production.values.get("MODEL") or planned["MODEL"],
        "CTX_SIZE": str(bp.BENCH_CTX),
        "N_GPU_LAYERS": planned.get("N_GPU_LAYERS", production.values.get("N_GPU_LAYERS", "0")),
        "FIT": planned.get("FIT", "off"),
        "EXTRA_ARGS": join_extra_args(extra),
    }
    prod_ngl = production.values.get("N_GPU_LAYERS", "?")
    comments = [
        f"benchmark profile of [{ctx.profile_id}], written by onboard (bench-profile phase): no sampler arguments "
        "(EvalPlus sends temperature 0)" + ("; --reasoning-format none (thinking model)" if thinking else ""),
        f"production: -ngl {prod_ngl} at ctx {production.values.get('CTX_SIZE', '?')}; bench: -ngl "
        f"{values['N_GPU_LAYERS']} at ctx {bp.BENCH_CTX} ({plan.layers_offloaded} layers on GPUs, strategy {plan.strategy})",
    ]
    for d in plan.devices:
        total = "?" if d.total_mib is None else f"{d.total_mib:.0f}"
        cap = "?" if d.capacity_mib is None else f"{d.capacity_mib:.0f}"
        comments.append(f"predicted {d.name}: {total} MiB of {cap} MiB (margin {d.margin_mib:.0f})")
    facts = {"fits": plan.fits, "strategy": plan.strategy, "layers_offloaded": plan.layers_offloaded,
             "thinking": thinking, "production_ngl": prod_ngl,
             "devices": {d.name: {"total_mib": d.total_mib, "capacity_mib": d.capacity_mib, "margin_mib": d.margin_mib}
                         for d in plan.devices}}
    return values, comments, facts


def model_names(ctx: PhaseContext, production_name: str) -> list[str]:
    """Names the model goes by, best first, for finding its published scores: the profile's NAME, the
    card's base model, the GGUF repository, the candidate's name."""
    names = [production_name]
    card = ctx.card_path()
    if card.is_file():
        from onboard.llamacpp.candidate_card import load_card

        base = load_card(card, require_repo=False).base_model
        names += [base] if isinstance(base, str) else list(base or [])
    from onboard.phases.sources import known_repo

    repo = known_repo(ctx)
    if repo:
        names.append(str(repo).rsplit("/", 1)[-1])
    names.append(ctx.name)
    return [n for i, n in enumerate(names) if n and n not in names[:i]]


def prepare(ctx: PhaseContext) -> None:
    from onboard.phases import owner_pipeline

    values, comments, facts = bench_values(ctx)
    bench = bp.bench_id(ctx.profile_id)
    display_name = values["NAME"].removesuffix(" (benchmark)")
    system_prompt = _samplers(ctx).get("system_prompt")
    owner = owner_pipeline.is_owner_pipeline(ctx.root)
    with ctx.writing():  # files that list every model: read, change and write with no other write between
        entries = owner_pipeline.plan_entries(ctx.root, bench, display_name=display_name,
                                              model_names=model_names(ctx, display_name),
                                              system_prompt=system_prompt) if owner else None
        # everything checked (a refusal above writes nothing): now write
        ctx.set_profile(bench, values, comments)
        ctx.facts_of("bench-profile").plan = facts
        if entries is not None:
            entries.write(ctx)
        else:
            _enter_in_our_pipeline(ctx, bench, display_name, facts["thinking"], system_prompt)
    ctx.report(f"[{bench}] written to models.conf: ctx {bp.BENCH_CTX}, -ngl {values['N_GPU_LAYERS']} "
             f"(production {facts['production_ngl']}), EXTRA_ARGS {values['EXTRA_ARGS']}")
    if entries is not None:
        for note in entries.notes:
            ctx.report(note)
    else:
        ctx.report(f"{bp.MODELS_JSON}: add the official reference scores of this model by hand (with their source).")
    ctx.report(f"Next: `onboard advance {ctx.name}` runs EvalPlus with it (add --quick N for a subset), "
             f"or `onboard advance {ctx.name} --skip-bench`.")


def client_mode_of(ctx: PhaseContext) -> str:
    """"completion" for a base model (the chat verdict), so that benchmark.sh asks it as the phase does."""
    from onboard.llamacpp.evalplus_run import client_mode
    from onboard.phases.sources import chat

    return client_mode((chat(ctx) or {}).get("kind"))


def _enter_in_our_pipeline(ctx: PhaseContext, bench: str, display_name: str, thinking: bool,
                           system_prompt: str | None) -> None:
    """Our template pipeline's data files (models.json, client.json) and its README's generated block."""
    from onboard.phases import docs_blocks

    ctx.write_shared(bp.MODELS_JSON, bp.dump_json(bp.with_model(bp.load_json(ctx.root, bp.MODELS_JSON), bench,
                                                                display_name)), f"{bp.MODELS_JSON}: {bench}")
    ctx.write_shared(bp.CLIENT_JSON, bp.dump_json(bp.with_client(bp.load_json(ctx.root, bp.CLIENT_JSON), bench,
                                                                 thinking=thinking, system_prompt=system_prompt,
                                                                 mode=client_mode_of(ctx))),
                     f"{bp.CLIENT_JSON}: {bench}")
    readme = docs_blocks.complete(ctx.root).get(bp.PIPELINE_README)
    if readme is not None:
        ctx.write_shared(bp.PIPELINE_README, readme, f"{bp.PIPELINE_README}: profiles table with {bench}")


def _valid(ctx: PhaseContext) -> GuardResult:
    from onboard.llamacpp.errors import BadInput
    from onboard.llamacpp.server_command import build_server_argv
    from onboard.store.models_conf import split_extra_args

    bench = bp.bench_id(ctx.profile_id)
    section = profile_values.current(ctx, bench)
    if section is None:
        return GuardResult(False, f"models.conf has no [{bench}] section", fix=f"onboard status {ctx.name} --check")
    try:
        build_server_argv(section.values, binary="llama-server", root=ctx.root)
        args = split_extra_args(section.values.get("EXTRA_ARGS", ""))
    except BadInput as err:
        return GuardResult(False, str(err), fix="correct models.conf at that place")
    wrong = []
    if section.values.get("CTX_SIZE") != str(bp.BENCH_CTX):
        wrong.append(f"CTX_SIZE is {section.values.get('CTX_SIZE')}, not {bp.BENCH_CTX}")
    for flag in ("-b", "-ub"):
        if flag not in args or args[args.index(flag) + 1:args.index(flag) + 2] != [str(bp.BENCH_BATCH)]:
            wrong.append(f"{flag} {bp.BENCH_BATCH} missing")
    samplers = [a for a in args if a.split("=", 1)[0] in SAMPLER_FLAGS]
    if samplers:
        wrong.append(f"sampler arguments {', '.join(samplers)} (EvalPlus sets them)")
    plan = ctx.facts_of("bench-profile").plan or {}
    thinking = plan.get("thinking", False)
    reasoning_none = any(a == "--reasoning-format" and args[i + 1:i + 2] == ["none"] for i, a in enumerate(args))
    if thinking and not reasoning_none:
        wrong.append("thinking model without --reasoning-format none")
    if plan and not plan.get("fits", True):
        wrong.append("the bench plan does not fit the rig with its margins")
    if wrong:
        return GuardResult(False, f"[{bench}]: " + "; ".join(wrong),
                           fix=f"onboard rollback {ctx.name} then advance again (re-plans it)")
    from onboard.phases import owner_pipeline

    owner = owner_pipeline.is_owner_pipeline(ctx.root)
    if owner:
        problem = owner_pipeline.check_entries(ctx.root, bench,
                                               system_prompt=_samplers(ctx).get("system_prompt"))
        if problem:
            return GuardResult(False, problem, fix=f"correct that file by hand, or onboard rollback {ctx.name} "
                                                   "then advance again (enters the model anew)")
    return GuardResult(True, f"[{bench}] parses; ctx {bp.BENCH_CTX}, -b/-ub {bp.BENCH_BATCH}, no sampler arguments"
                             + (", --reasoning-format none" if thinking else "")
                             + ("; the pipeline's own files parse and name it" if owner else ""))


PHASE = Phase(
    name="bench-profile",
    title="Bench profile",
    does="writes [bench-<id>] (CTX_SIZE=10240, -b 512 -ub 512, more GPU layers where the smaller context frees "
         "memory, --reasoning-format none for thinking models, no sampler args) and enters the model in the "
         "benchmark pipeline files",
    guards=(Guard("bench profile valid", "[bench-<id>] parses, ctx 10240, -b/-ub 512, no sampler arguments; "
                  "the pipeline files it edited still parse", _valid),),
    prepare=prepare,
    facts=BenchProfileFacts,
    return_forgets_facts=True,
    skippable=True,
)
