"""Phase 3, profile: plan where every tensor goes and write the production profile into models.conf.

The planner (llamacpp.planner) predicts what llama.cpp allocates on each device and chooses the
fastest placement that fits; this phase turns that plan into a ``[<id>]`` section, marked NOT YET
TESTED with ``SPEED=~N t/s (estimated)``, commented with where the facts came from, the strategy and
why, and the predicted memory per device.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from onboard.phases.contract import Guard, GuardResult, Option, Phase, PhaseContext
from onboard.phases.facts import Facts
from onboard.phases import sources


@dataclass
class ProfileFacts(Facts):
    """The plan the profile was written from, the person's nearest tested profiles and lessons, and the
    chat verdict read again from the downloaded file (its whole vocabulary) where it differs from evaluate's."""

    plan: dict[str, Any] | None = None  # strategy, fits, layers_offloaded, est_tokens_per_s, ctx, devices, rig, ...
    references: dict[str, Any] | None = None
    chat: dict[str, Any] | None = None

DEFAULT_MAX_CTX = 32768  # production default: the training context, capped (advance --ctx N to change)
OWN_FLAGS = {"-c": "CTX_SIZE", "-ngl": "N_GPU_LAYERS", "-fit": "FIT"}


def make_plan(ctx: PhaseContext, *, ctx_size: int | None = None, capacity_cut: dict[str, float] | None = None,
              request_changes: dict[str, Any] | None = None):  # -> llamacpp.planner.plan.Plan
    """Plan the candidate's model on the repository's rig (rig.toml, ONBOARD_RIG, or detection).

    ``capacity_cut`` lowers a device's usable memory (MiB) for a re-plan after a measured shortfall.
    """
    import dataclasses

    from onboard.llamacpp.gguf_header import read_header
    from onboard.llamacpp.hardware import resolve_rig
    from onboard.llamacpp.planner.plan import PlanRequest, make_plan as plan

    header = read_header(sources.model_path(ctx))
    rig = resolve_rig(root=ctx.root)
    for name, cut in (capacity_cut or {}).items():
        device = rig.device(name)
        if device is not None:
            device.usable_mib = max(0.0, device.usable_mib - cut)
    trained = header.arch_key("context_length") or DEFAULT_MAX_CTX
    target = ctx_size or ctx.options.get("ctx") or min(int(trained), DEFAULT_MAX_CTX)
    request = PlanRequest(ctx=int(target), llama_build=rig.llama_build)
    if request_changes:
        request = dataclasses.replace(request, **request_changes)
    result = plan(header, rig, request)
    if ctx.journal is not None:
        from onboard.store.measurements import calibration

        rig_name = rig.name or rig.source
        ratios = {backend: calibration(ctx.journal.sessions, rig_name, backend).get("compute")
                  for backend in {device_backend(d.name) for d in result.devices}}
        calibrate(result, {b: r for b, r in ratios.items() if r})
        calibrate_speed(result, speed_calibration(ctx.journal.sessions, rig_name, plan_backend(result)))
    return result, rig, header


def plan_backend(plan) -> str:
    """The backend a plan's speed is keyed by: its first GPU's, or ``CPU`` when it has none."""
    gpus = [d.name for d in plan.devices if d.name != "CPU"]
    return device_backend(gpus[0]) if gpus else "CPU"


def speed_calibration(sessions, rig: str, backend: str, *, minimum: int = 1) -> float | None:
    """Median measured/estimated generation speed of the candidates tested on this rig and backend
    (the test phase's ``gen_tps`` against the profile phase's ``est_tokens_per_s``); None below
    ``minimum`` pairs. Why: the public-data model misses what is particular to one machine (its
    CPU, drivers, build), and the same rig's own launches measure exactly that."""
    import statistics

    from sqlalchemy import select

    from onboard.store.schema import Candidate

    from onboard.phases.test import TestFacts

    ratios = []
    with sessions() as session:
        for cand in session.scalars(select(Candidate)):
            facts = cand.facts
            plan = ProfileFacts.from_json(facts.get("profile")).plan or {}
            test = TestFacts.from_json(facts.get("test")).run or {}
            est, measured = plan.get("est_tokens_per_s"), test.get("gen_tps")
            if not est or not measured or plan.get("rig") != rig:
                continue
            est = float(est) / float(plan.get("speed_ratio") or 1.0)  # the model's own estimate, before calibration
            gpus = [n for n in (plan.get("devices") or {}) if n != "CPU"]
            if (device_backend(gpus[0]) if gpus else "CPU") == backend:
                ratios.append(float(measured) / float(est))
    return statistics.median(ratios) if len(ratios) >= minimum else None


def calibrate_speed(plan, ratio: float | None) -> None:
    """Scale the plan's speed estimates (and those of the strategies it was weighed against, so
    their order stays) by this rig's measured/estimated ratio; near 1 changes nothing."""
    if not ratio or abs(ratio - 1.0) < 0.02:
        return
    plan.speed_ratio = ratio
    if plan.est_tokens_per_s:
        plan.est_tokens_per_s *= ratio
    for alt in plan.alternatives:
        if alt.get("est_tokens_per_s"):
            alt["est_tokens_per_s"] = round(alt["est_tokens_per_s"] * ratio, 1)
    plan.warnings.append(f"generation speed scaled x{ratio:.2f} by earlier measurements on this rig (calibration)")


def device_backend(name: str) -> str:
    """The backend a device name belongs to (``CPU`` for the host), as measurements are keyed."""
    from onboard.llamacpp.hardware import backend_of

    return "CPU" if name == "CPU" else backend_of(name)


def calibrate(plan, compute_ratios: dict[str, float]) -> None:
    """Correct the plan's compute buffers by what earlier launches on this rig measured (median
    measured/predicted per backend, from the test phase). Weights and KV are exact and left alone;
    the plan's ``fits`` follows the corrected figures. Ratios near 1 change nothing."""
    for device in plan.devices:
        ratio = compute_ratios.get(device_backend(device.name))
        if ratio and abs(ratio - 1.0) >= 0.02 and device.compute_mib:
            device.compute_mib *= ratio
            plan.warnings.append(f"{device.name}: compute buffer scaled x{ratio:.2f} by earlier measurements "
                                 "on this rig (calibration)")


def profile_from_plan(ctx: PhaseContext, plan, rig, header) -> tuple[dict[str, str], list[str]]:
    """The models.conf values and comment block for a plan."""
    from onboard.phases.profile_references import NOT_YET_TESTED
    from onboard.store.models_conf import join_extra_args

    values: dict[str, str] = {}
    extra: list[str] = []
    args = list(plan.args)
    i = 0
    while i < len(args):
        key = OWN_FLAGS.get(args[i])
        if key and i + 1 < len(args):
            values[key] = args[i + 1]
            i += 2
            continue
        extra.append(args[i])
        i += 1
    values.setdefault("FIT", "off")
    arch = header.architecture or "unknown"
    quant = ctx.options.get("quant")
    speed = plan.est_tokens_per_s
    profile = {
        "NAME": ctx.options.get("display_name") or ctx.facts_of("evaluate").display_name or ctx.name,
        "DESCRIPTION": f"{arch}, {quant}, strategy {plan.strategy}",
        "SPEED": f"~{speed:.0f} t/s (estimated)" if speed else "unknown (estimated speed not available)",
        "MODEL": str(sources.model_path(ctx).relative_to(ctx.root)),
        **values,
        "EXTRA_ARGS": join_extra_args(extra),
    }
    comments = [
        f"{NOT_YET_TESTED}: written by onboard (profile phase); `onboard advance {ctx.name}` tests it",
        f"architecture facts: GGUF header of {profile['MODEL']} ({arch}, {header.arch_key('block_count')} layers, "
        f"trained context {header.arch_key('context_length')})",
        f"rig: {rig.name or rig.source}; strategy {plan.strategy}: {plan.rationale or 'see docs/gpu-strategy-guide.md'}",
    ]
    for d in plan.devices:
        total = "?" if d.total_mib is None else f"{d.total_mib:.0f}"
        cap = "?" if d.capacity_mib is None else f"{d.capacity_mib:.0f}"
        comments.append(f"predicted {d.name}: {total} MiB of {cap} MiB (weights {d.weights_mib:.0f}, "
                        f"KV {d.kv_mib:.0f}, compute {d.compute_mib or 0:.0f}, margin {d.margin_mib:.0f})")
    return profile, comments


def chat_template_fix(ctx: PhaseContext, profile: dict[str, str], comments: list[str], *, header=None,
                      write: bool = False) -> str | None:
    """Give a chat model whose GGUF lacks its chat template the template of its family: the file
    ``models/<ModelName>/chat_template.jinja`` (written through the journal when ``write``, so that
    rollback removes it) and ``--jinja --chat-template-file <file>`` added to the profile's EXTRA_ARGS.

    Why: without a template llama-server falls back to ChatML, and a model trained on other turn
    tokens answers chat requests with template text. The path is relative to the repository, like
    MODEL. Returns the file's path, or None when no fix applies (or, without ``write``, the file is
    not there). The verdict is ``sources.chat``'s, read again from the model's header when it is local.
    """
    from onboard.llamacpp.chat_template import TEMPLATES, template_flags
    from onboard.store.models_conf import join_extra_args, split_extra_args

    chat = sources.chat(ctx)
    if header is not None and Path(header.source).is_file():
        # the downloaded file's whole vocabulary is at hand now (evaluate may have read a remote header)
        from onboard.llamacpp.chat_template import classify, special_tokens
        from onboard.llamacpp.errors import DomainError

        try:
            fresh = classify(header.metadata, special_tokens(header.source),
                             card_says=(chat or {}).get("card_says")).to_json()
        except (DomainError, OSError):
            fresh = None
        if fresh is not None and fresh != chat:
            chat = fresh
            if write:
                ctx.facts_of("profile").chat = fresh
    family = (chat or {}).get("family")
    if (chat or {}).get("kind") != "chat-no-template" or family not in TEMPLATES:
        return None
    relpath = (sources.model_dir(ctx).parent / "chat_template.jinja").relative_to(ctx.root).as_posix()
    if write:
        ctx.write_file(relpath, TEMPLATES[family])
    elif not (ctx.root / relpath).is_file():
        return None
    args = split_extra_args(profile.get("EXTRA_ARGS", ""))
    if "--chat-template-file" not in args:
        profile["EXTRA_ARGS"] = join_extra_args(args + template_flags(relpath))
    comments.append(f"chat template: {relpath} ({family} turns): the GGUF has none and llama-server would "
                    "fall back to ChatML")
    return relpath


def checked_profile(ctx: PhaseContext, *, required: bool = True):  # -> store.models_conf.Section | None
    """The candidate's profile section, after checking that models.conf parses and that the section
    builds a llama-server command line; else BadInput naming models.conf:line and the key.

    Why before any write: a phase that edits the profile (re-plan, samplers, test write-back) would
    otherwise carry a person's mistaken value into the new text, or fail half-way; refusing first
    leaves every file as it was and tells the person where to look. ``required=False``: a missing
    section is None (the profile phase is about to write it) instead of an error.
    """
    from onboard.llamacpp.errors import BadInput
    from onboard.llamacpp.server_command import build_server_argv
    from onboard.store.models_conf import ModelsConf

    path = ctx.root / "models.conf"
    section = ModelsConf.load(path).section(ctx.profile_id)
    if section is None:
        if not required:
            return None
        raise BadInput(f"models.conf has no [{ctx.profile_id}] profile", path=str(path),
                       fix=f"onboard rollback {ctx.name} back to the profile phase, which writes it")
    try:
        build_server_argv(section.values, binary="llama-server", root=ctx.root)
    except BadInput as err:  # the builder names the key; add the file and its line
        line = section.value_lines.get(err.field or "", section.line)
        raise BadInput(f"[{ctx.profile_id}] {err.message}", path=str(path), line=line,
                       fix=err.fix or f"correct that line (or delete it and run `onboard advance {ctx.name} "
                                      "--ctx N` in the profile phase to re-plan)") from None
    return section


def prepare(ctx: PhaseContext) -> None:
    checked_profile(ctx, required=False)  # a malformed models.conf or profile: refused before planning
    plan, rig, header = make_plan(ctx)
    profile, comments = profile_from_plan(ctx, plan, rig, header)
    chat_template_fix(ctx, profile, comments, header=header, write=True)
    ctx.set_profile(ctx.profile_id, profile, comments)
    ctx.facts.plan = {**_plan_facts(plan), "rig": rig.name or rig.source}
    from onboard.store.atomic import write_atomic

    write_atomic(ctx.work_dir / "plan.json", json.dumps(plan.to_json(), indent=2))
    ctx.report(f"Profile [{ctx.profile_id}] written to models.conf (strategy {plan.strategy}, "
             f"{plan.layers_offloaded} layers on GPUs, {profile['SPEED']}):")
    for line in comments[3:]:
        ctx.report(f"  {line}")
    if not plan.fits:
        ctx.report("The plan does NOT fit this rig with its margins: see the guard below.")
    show_references(ctx, plan, header)


def show_references(ctx: PhaseContext, plan, header) -> None:
    """Print the person's tested profiles nearest to this plan and the lessons of
    docs/lessons_learned.md that apply, and keep them in the profile's facts (``status --json``).

    Why here: the person checks a new plan against what they already tuned and wrote down; a
    repository without tested profiles or lessons (a template repository) shows nothing, and a
    reference file that cannot be read is a warning naming it, never a failed phase.
    """
    from onboard.llamacpp.errors import BadInput
    from onboard.phases import profile_references as refs
    from onboard.phases.bench_profile import is_thinking

    try:
        thinking = is_thinking(ctx)
    except (BadInput, OSError) as err:  # an unreadable card only loses the lessons about thinking models
        ctx.report(f"warning: {ctx.card_path().relative_to(ctx.root)} not read for the lessons: {err}")
        thinking = False
    found = refs.find(ctx.root, refs.plan_facts(plan, header, sources.model_path(ctx), thinking=thinking),
                      exclude=(ctx.profile_id,))
    for line in found.lines():
        ctx.report(line)
    ctx.facts_of("profile").references = found.to_json() if found.near or found.pitfalls else None


def run(ctx: PhaseContext, opts: dict[str, Any]) -> None:
    if opts.get("ctx"):
        try:
            ctx.options["ctx"] = int(opts["ctx"])
        except ValueError:
            from onboard.llamacpp.errors import BadInput

            raise BadInput(f"{opts['ctx']!r} is not a number of tokens", field="--ctx") from None
        prepare(ctx)


def _plan_facts(plan) -> dict[str, Any]:
    return {"strategy": plan.strategy, "fits": plan.fits, "layers_offloaded": plan.layers_offloaded,
            "est_tokens_per_s": plan.est_tokens_per_s, "ctx": plan.settings.ctx,
            "alternatives": list(plan.alternatives), "speed_ratio": plan.speed_ratio,
            "devices": {d.name: {"total_mib": d.total_mib, "capacity_mib": d.capacity_mib,
                                 "margin_mib": d.margin_mib, "weights_mib": d.weights_mib,
                                 "kv_mib": d.kv_mib, "compute_mib": d.compute_mib,
                                 "buffer": d.buffer_name or d.name} for d in plan.devices}}


def _profile_parses(ctx: PhaseContext) -> GuardResult:
    from onboard.llamacpp.errors import BadInput

    try:
        section = checked_profile(ctx, required=False)
        if section is None:
            return GuardResult(False, f"models.conf has no [{ctx.profile_id}] section",
                               fix=f"onboard advance {ctx.name} --ctx N  (re-plans and writes it)")
    except BadInput as err:
        return GuardResult(False, err.message, fix=err.fix or "correct models.conf at that place")
    return GuardResult(True, f"[{ctx.profile_id}] parses and builds a llama-server command line")


def _model_exists(ctx: PhaseContext) -> GuardResult:
    path = sources.model_path(ctx)
    if path.is_file():
        return GuardResult(True, f"{path.relative_to(ctx.root)} exists")
    return GuardResult(False, f"{path.relative_to(ctx.root)} is missing", fix=f"onboard rollback {ctx.name}")


def _fits(ctx: PhaseContext) -> GuardResult:
    plan = ctx.facts.plan
    if not plan:
        return GuardResult(False, "no plan yet", fix=f"onboard advance {ctx.name} --ctx N")
    over = []
    for name, d in plan["devices"].items():
        if d["total_mib"] is None or d["capacity_mib"] is None:
            continue
        if d["total_mib"] + d["margin_mib"] > d["capacity_mib"]:
            over.append(f"{name} needs {d['total_mib']:.0f} + {d['margin_mib']:.0f} MiB margin of "
                        f"{d['capacity_mib']:.0f} MiB")
    if over:
        return GuardResult(False, "; ".join(over), fix=f"onboard advance {ctx.name} --ctx {max(2048, plan['ctx'] // 2)}")
    return GuardResult(True, f"predicted use fits every device with its margin (strategy {plan['strategy']}, "
                             f"ctx {plan['ctx']})")


PHASE = Phase(
    name="profile",
    title="Profile",
    does="plans the placement (strategy A/B/C/D/L, -ngl, -ts, -ot rules, cache types) and writes the "
         "production profile into models.conf, marked NOT YET TESTED with an estimated speed; shows the person's "
         "nearest tested profiles and the lessons from docs/lessons_learned.md that apply",
    guards=(
        Guard("profile parses", "the profile section parses and builds a command line", _profile_parses),
        Guard("model path exists", "the profile's MODEL file is there", _model_exists),
        Guard("fits", "predicted use fits every device with its margin", _fits),
    ),
    prepare=prepare,
    run=run,
    options=(Option("ctx", "context size to plan the profile for", metavar="N"),),
    facts=ProfileFacts,
    owns_choices=("ctx",),
)
