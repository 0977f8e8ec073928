"""Phase 5, test: launch llama-server with the profile (or read a log the person ran elsewhere),
read the log like an expert, and on success write the measured speed and memory back.

``advance NAME`` launches the same command ``start.sh`` runs (one builder: llamacpp.server_command)
on 127.0.0.1 with ``-lv 4``; ``advance NAME --log FILE`` analyses a log from elsewhere. On failure
the phase proposes an edited profile (what moves where and why); ``--apply-suggestion`` writes it
and tests again. Every launch is kept in the history and its log under ``.onboard/logs/``.
"""
from __future__ import annotations

import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from onboard.phases.contract import Guard, GuardResult, Option, Phase, PhaseContext
from onboard.phases.facts import Facts
from onboard.phases import profile_values, sources


@dataclass
class TestFacts(Facts):
    """The last test: what the log (and the launch) showed, the proposed profile change after a failure,
    and whether the measured values were written back. Redone whenever a rollback returns to the test."""

    __test__ = False  # not a pytest test class
    LEGACY = {"test": "run"}

    run: dict[str, Any] | None = None  # log, oom, layers_offloaded, gen_tps, prompt_tps, answer, buffers, ...
    suggestion: dict[str, Any] | None = None  # {why, values, comments, files}
    measured: bool = False



def prepare(ctx: PhaseContext) -> None:
    ctx.report(f"Next: `onboard advance {ctx.name}` launches llama-server with [{ctx.profile_id}] and measures it,")
    ctx.report(f"      or `onboard advance {ctx.name} --log FILE` reads a log you ran elsewhere (with -lv 4).")


def run(ctx: PhaseContext, opts: dict[str, Any]) -> None:
    from onboard.llamacpp.log_analysis import analyze_file, diagnose, require_text_log
    from onboard.phases.profile import checked_profile

    # Inputs first, before anything is written: the profile under test (its result is written back
    # into it) and a given log. A malformed one is refused with its file:line, nothing touched.
    checked_profile(ctx)
    given = None
    if opts.get("log"):
        source = Path(opts["log"])
        if not source.is_file():
            from onboard.llamacpp.errors import BadInput

            raise BadInput("no such log file", path=str(source), fix="give the path of a llama-server log")
        given = analyze_file(source)
        require_text_log(given, source)  # empty or binary: no log at all
    if given is None:  # every rpc-server worker of the profile answers, before anything is written
        from onboard.llamacpp.rpc_workers import check_profile_workers

        check_profile_workers(profile_values.current(ctx).values, root=ctx.root)
    if opts.get("apply_suggestion"):
        _apply_suggestion(ctx)
    logs = ctx.root / ".onboard" / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime())
    launch_info: dict[str, Any] = {}
    if given is not None:
        log_path = logs / f"{ctx.name}-{stamp}-given.log"
        shutil.copyfile(opts["log"], log_path)
    else:
        log_path = logs / f"{ctx.name}-{stamp}.log"
        launch_info = _launch(ctx, log_path)
    report = analyze_file(log_path)
    result = {**report.to_json(), "log": str(log_path.relative_to(ctx.root)), **launch_info,
              "unfinished": report.unfinished}
    if result.get("gen_tps") is None and launch_info.get("gen_tps") is not None:
        result["gen_tps"], result["prompt_tps"] = launch_info["gen_tps"], launch_info.get("prompt_tps")
    record: TestFacts = ctx.facts
    record.run = result
    ctx.data["event"] = {k: result.get(k) for k in ("log", "oom", "oom_device", "oom_phase", "layers_offloaded",
                                                   "gen_tps", "prompt_tps", "fatal_error")}
    for sentence in diagnose(report):
        ctx.report(f"  {sentence}")
    if launch_info.get("error"):
        ctx.report(f"  launch: {launch_info['error']}")
    if launch_info.get("answer"):
        ctx.report(f"  {_answer_line(launch_info['answer'])}")
    passed = _verdict(ctx)
    record.suggestion = None
    if passed:
        _write_back(ctx, result)
    else:
        suggestion = _suggest(ctx, result) or _template_suggestion(ctx, result)
        if suggestion:
            record.suggestion = suggestion
            ctx.report(f"Suggestion: {suggestion['why']}")
            ctx.report(f"  apply and test again: onboard advance {ctx.name} --apply-suggestion")


def _launch(ctx: PhaseContext, log_path: Path) -> dict[str, Any]:
    from onboard.llamacpp.errors import BadInput
    from onboard.llamacpp.launcher import launch
    from onboard.llamacpp.server_command import build_server_argv, find_llama_server

    section = profile_values.current(ctx)
    if section is None:
        raise BadInput(f"models.conf has no [{ctx.profile_id}] profile", path=str(ctx.root / "models.conf"))
    binary = find_llama_server(str(ctx.root / "rig.toml") if (ctx.root / "rig.toml").is_file() else None)
    if binary is None:
        from onboard.llamacpp.errors import ExternalFailure

        raise ExternalFailure("llama-server not found", fix="set LLAMA_SERVER, add [llama] server to rig.toml, "
                                                            "or run scripts/install-llama-server.sh")
    argv = build_server_argv(section.values, binary=binary, verbosity=4, root=ctx.root, extra=["--no-warmup"])
    ctx.report(f"Launching: {' '.join(argv)}")
    # the server runs in the repository, where the profile's relative paths (a template file) point
    result = launch(argv, log_path=log_path, answer_check=answer_mode(ctx), cwd=ctx.root)
    peaks = result.peak_memory_mib()
    return {"launch_ok": result.ok, "error": result.error, "gen_tps_measured": result.gen_tps,
            "gen_tps": result.gen_tps, "prompt_tps": result.prompt_tps, "gpu_peak_mib": peaks,
            "memory_note": result.memory_note, "answer": result.answer}


def answer_mode(ctx: PhaseContext) -> str:
    """How the model is asked: "completion" for a base model (the chat verdict, else the model
    file's own metadata), "chat" otherwise."""
    chat = sources.chat(ctx)
    if chat is None:
        from onboard.llamacpp.errors import DomainError
        from onboard.llamacpp.gguf_header import read_header
        from onboard.phases.evaluation import chat_verdict

        try:
            chat = chat_verdict(read_header(sources.model_path(ctx)), None, ctx.name).to_json()
        except (DomainError, OSError, KeyError):
            chat = {}
    return "completion" if chat.get("kind") == "base" else "chat"


def _answer_line(answer: dict[str, Any]) -> str:
    from onboard.llamacpp.chat_template import preview

    how = "stopped" if answer.get("stopped") else f"no stop within {answer.get('max_tokens')} tokens"
    verdict = "clean" if answer.get("clean") else "NOT clean: " + "; ".join(answer.get("problems") or [])
    return (f"{answer.get('mode')} request ({answer.get('endpoint')}): {preview(answer.get('answer') or '', 80)!r}, "
            f"{how}, {answer.get('tokens')} tokens: {verdict}")


def _verdict(ctx: PhaseContext) -> bool:
    return all(guard.check(ctx).passed for guard in PHASE.guards)


# comment lines each test run writes anew: a second run replaces the first one's, never adds to them
_REPLACED_COMMENTS = ("predicted ", "tested by onboard ", "measured ")


def _write_back(ctx: PhaseContext, result: dict[str, Any]) -> None:
    from onboard.phases.profile_references import NOT_YET_TESTED

    section = profile_values.current(ctx)
    comments = [c for c in section.comments
                if NOT_YET_TESTED not in c and not c.lstrip("# ").startswith(_REPLACED_COMMENTS)]
    comments.append(f"tested by onboard {time.strftime('%Y-%m-%d', time.gmtime())}: "
                    f"{result['gen_tps']:.1f} t/s generation, {result.get('prompt_tps') or 0:.1f} t/s prompt, "
                    f"layers {result.get('layers_offloaded') or '?'}, graph splits {result.get('graph_splits')}")
    from onboard.llamacpp.rpc_workers import device_label

    plan_devices = (ctx.facts_of("profile").plan or {}).get("devices") or {}
    devices = set(result["model_buffers_mib"]) | set(result["kv_buffers_mib"]) | set(result["compute_buffers_mib"])
    for dev in sorted(devices):
        parts = [(label, result[key].get(dev)) for label, key in
                 (("weights", "model_buffers_mib"), ("KV", "kv_buffers_mib"), ("compute", "compute_buffers_mib"))]
        comments.append(f"measured {device_label(dev, plan_devices)}: " + ", ".join(f"{label} {v:.0f} MiB" for label, v in parts if v is not None))
    profile_values.update(ctx, {"SPEED": f"{result['gen_tps']:.1f} t/s"}, comments=comments)
    _record_measurements(ctx, result)
    ctx.facts.measured = True
    ctx.report(f"[{ctx.profile_id}] updated: SPEED={result['gen_tps']:.1f} t/s, NOT YET TESTED removed.")


def _record_measurements(ctx: PhaseContext, result: dict[str, Any]) -> None:
    """Predicted (the profile phase's plan) beside measured (the log), per device and buffer kind."""
    plan = ctx.facts_of("profile").plan or {}
    rows = []
    from onboard.llamacpp.rpc_workers import measured_mib
    from onboard.phases.profile import device_backend

    for device, predicted in plan.get("devices", {}).items():
        backend = device_backend(device)
        for what, plan_key, log_key in (("weights", "weights_mib", "model_buffers_mib"),
                                        ("kv", "kv_mib", "kv_buffers_mib"),
                                        ("compute", "compute_mib", "compute_buffers_mib")):
            measured = measured_mib(device, predicted, result[log_key])
            if device == "CPU":  # the host's buffers carry several names in the log
                host = [v for k, v in result[log_key].items() if k.startswith("CPU") or k.endswith("_Host")]
                measured = sum(host) if host else None
            rows.append((backend, device, what, predicted.get(plan_key), measured))
    ctx.record_measurements(plan.get("rig") or "unknown rig", rows)


def _suggest(ctx: PhaseContext, result: dict[str, Any]) -> dict[str, Any] | None:
    """A concrete proposal: re-plan with the device that ran out made smaller by what it lacked."""
    if not result.get("oom"):
        return None
    from onboard.phases.profile import make_plan, profile_from_plan

    device = result.get("oom_device")
    asked, free = result.get("oom_asked_mib"), result.get("oom_free_mib")
    lacking = (asked - free) if asked is not None and free is not None else None
    plan_facts = ctx.facts_of("profile").plan or {}
    if device and device in plan_facts.get("devices", {}):
        cut = (lacking or 1024.0) + 512.0
        plan, rig, header = make_plan(ctx, capacity_cut={device: cut})
        why = (f"{device} ran out ({result.get('oom_phase')}); re-planned with {cut:.0f} MiB less on {device}: "
               f"strategy {plan.strategy}, {plan.layers_offloaded} layers on GPUs")
    else:
        current_ctx = int(plan_facts.get("ctx") or 4096)
        new_ctx = max(1024, current_ctx // 2)
        plan, rig, header = make_plan(ctx, ctx_size=new_ctx)
        why = (f"out of memory on {device or 'the host'} ({result.get('oom_phase')}); halve the context "
               f"{current_ctx} -> {new_ctx}")
    values, comments = profile_from_plan(ctx, plan, rig, header)
    from onboard.phases.profile import chat_template_fix

    chat_template_fix(ctx, values, comments, header=header)  # the re-planned profile keeps the template
    return {"why": why, "values": values, "comments": comments}


def _template_error(result: dict[str, Any]) -> str | None:
    """The log's words when llama-server refused the GGUF's chat template at start."""
    import re

    text = "\n".join(str(result.get(k) or "") for k in ("error", "fatal_error"))
    line = next((line for line in text.splitlines() if re.search(r"chat[ _]template", line)), None)
    return re.sub(r"^\s*[\d.]+\s+[EWI]\s+", "", line).strip() if line else None


def _template_suggestion(ctx: PhaseContext, result: dict[str, Any]) -> dict[str, Any] | None:
    """A chat model whose template failed (the server refused it, or the answer was template text):
    propose the template of the family whose turn tokens its vocabulary holds, as a file in the
    repository passed with ``--jinja --chat-template-file``. None when no family fits or the
    profile already names a template file (then it is the person's template that is wrong)."""
    from onboard.llamacpp.chat_template import TEMPLATES, family_of, special_tokens, template_flags
    from onboard.llamacpp.errors import DomainError
    from onboard.phases import sources
    from onboard.store.models_conf import join_extra_args, split_extra_args

    answer = result.get("answer") or {}
    refused = _template_error(result)
    if not refused and (answer.get("mode") != "chat" or answer.get("clean", True)):
        return None
    section = profile_values.current(ctx)
    if section is None:
        return None
    try:
        args = split_extra_args(section.values.get("EXTRA_ARGS", ""))
        family = family_of(special_tokens(sources.model_path(ctx)))
        relpath = (sources.model_dir(ctx).parent / "chat_template.jinja").relative_to(ctx.root).as_posix()
    except (DomainError, OSError, KeyError, ValueError):
        return None
    if family not in TEMPLATES or "--chat-template-file" in args or "--chat-template" in args:
        return None
    problem = f"llama-server refused the GGUF's chat template ({refused})" if refused else \
        "the chat answer was not clean"
    values = {**section.values, "EXTRA_ARGS": join_extra_args(args + template_flags(relpath))}
    comments = [*section.comments, f"chat template: {relpath} ({family} turns): the GGUF's own did not work"]
    return {"why": f"{problem}; use the {family} template (the turn tokens of its vocabulary) from {relpath} with "
                   f"--jinja --chat-template-file", "values": values, "comments": comments,
            "files": {relpath: TEMPLATES[family]}}


def _apply_suggestion(ctx: PhaseContext) -> None:
    suggestion = ctx.facts.suggestion
    if not suggestion:
        from onboard.llamacpp.errors import BadInput

        raise BadInput("there is no suggestion to apply", field="--apply-suggestion",
                       fix=f"onboard status {ctx.name}")
    for relpath, text in (suggestion.get("files") or {}).items():
        ctx.write_file(relpath, text)
    ctx.set_profile(ctx.profile_id, suggestion["values"], suggestion["comments"])
    ctx.report(f"Applied: {suggestion['why']}")


def _log_exists(ctx: PhaseContext) -> GuardResult:
    test = ctx.facts.run
    if test and test.get("unfinished") and not test.get("launch_ok"):
        from onboard.llamacpp.log_analysis import phase_text

        return GuardResult(False, f"log {test['log']} is incomplete: it ends while {phase_text(test['unfinished'])} "
                                  "(no line says the model loaded or the server is listening)",
                           fix=f"give the whole log, once the server says it is listening: onboard advance "
                               f"{ctx.name} --log FILE; or launch here: onboard advance {ctx.name}")
    if test and (ctx.root / test["log"]).is_file():
        return GuardResult(True, f"log {test['log']}")
    return GuardResult(False, "no llama-server log yet",
                       fix=f"onboard advance {ctx.name}  (or --log FILE for a log run elsewhere)")


def _no_oom(ctx: PhaseContext) -> GuardResult:
    test = ctx.facts.run or {}
    if not test:
        return GuardResult(False, "not tested yet", fix=f"onboard advance {ctx.name}")
    if test.get("oom"):
        where = test.get("oom_device") or "a device"
        asked = test.get("oom_asked_mib")
        detail = f" (asked {asked:.0f} MiB" + (f" with {test['oom_free_mib']:.0f} MiB free)" if test.get("oom_free_mib") is not None else ")") if asked else ""
        return GuardResult(False, f"{where} ran out of memory during {test.get('oom_phase') or 'the load'}{detail}",
                           fix=f"onboard advance {ctx.name} --apply-suggestion" if ctx.facts.suggestion
                           else f"onboard rollback {ctx.name} twice and re-plan with a smaller --ctx")
    if test.get("fatal_error"):
        return GuardResult(False, f"the server failed: {test['fatal_error']}", fix="see the log named above")
    return GuardResult(True, "no out-of-memory in the log")


def _layers_offloaded(ctx: PhaseContext) -> GuardResult:
    test = ctx.facts.run or {}
    planned = (ctx.facts_of("profile").plan or {}).get("layers_offloaded")
    seen = test.get("layers_offloaded")
    if not test:
        return GuardResult(False, "not tested yet", fix=f"onboard advance {ctx.name}")
    if planned is None or seen is None:
        return GuardResult(seen is not None or planned is None,
                           f"planned {planned}, log shows {seen}" if seen or planned else "no offload line in the log "
                           "(launch with -lv 4)", fix=None)
    if planned.split("/")[0] == seen.split("/")[0]:
        return GuardResult(True, f"{seen} layers offloaded as planned")
    return GuardResult(False, f"planned {planned} layers on GPUs, the log shows {seen}",
                       fix="check the profile's N_GPU_LAYERS and the devices llama-server saw")


def _speed_measured(ctx: PhaseContext) -> GuardResult:
    test = ctx.facts.run or {}
    if test.get("gen_tps"):
        return GuardResult(True, f"{test['gen_tps']:.1f} t/s generation, {test.get('prompt_tps') or 0:.1f} t/s prompt")
    return GuardResult(False, "no generation speed measured",
                       fix=f"onboard advance {ctx.name}  (the launch sends a short prompt)")


def _answers_cleanly(ctx: PhaseContext) -> GuardResult:
    test = ctx.facts.run or {}
    if not test:
        return GuardResult(False, "not tested yet", fix=f"onboard advance {ctx.name}")
    answer = test.get("answer")
    if answer is None:
        refused = _template_error(test)
        if refused:
            return GuardResult(False, f"llama-server refused the GGUF's chat template: {refused}",
                               fix=_answer_fix(ctx, {"mode": "chat"}))
        if "launch_ok" not in test:  # a log run elsewhere: there is no server here to ask
            return GuardResult(True, "not asked: the log was run elsewhere (launch here to check an answer: "
                                     f"onboard advance {ctx.name})")
        return GuardResult(False, "no answer was asked for: the server did not come up or failed the measurement",
                           fix="see the launch error above and the log")
    from onboard.llamacpp.chat_template import preview

    shown = preview(answer.get("answer") or "", 80)
    if answer.get("clean"):
        how = (f"stopped after {answer.get('tokens')} tokens" if answer.get("stopped") else
               f"ran to the {answer.get('max_tokens')}-token limit, without template text")
        return GuardResult(True, f"{answer.get('mode')} answer {how}: {shown!r}")
    return GuardResult(False, f"{answer.get('mode')} answer is not clean: {'; '.join(answer.get('problems') or [])} "
                              f"(answer: {shown!r})", fix=_answer_fix(ctx, answer))


def _answer_fix(ctx: PhaseContext, answer: dict[str, Any]) -> str:
    suggestion = ctx.facts.suggestion or {}
    if suggestion.get("files"):
        return f"onboard advance {ctx.name} --apply-suggestion  ({suggestion['why']})"
    from onboard.llamacpp.errors import DomainError
    from onboard.phases import sources

    try:
        folder = sources.model_dir(ctx).parent.relative_to(ctx.root).as_posix()
    except (DomainError, KeyError, ValueError):
        folder = "models/<ModelName>"
    if answer.get("mode") == "completion":
        return ("the base model does not stop where the code ends: check the GGUF's end token "
                "(tokenizer.ggml.eos_token_id) or try another file of the model; then onboard advance " + ctx.name)
    template = f"{folder}/chat_template.jinja"
    return (f"write the model's own chat template (chat_template in its tokenizer_config.json on the hub) to "
            f"{template}, add `--jinja --chat-template-file {template}` to EXTRA_ARGS of [{ctx.profile_id}] in "
            f"models.conf, then onboard advance {ctx.name}; a base model is asked for completions (/completion), "
            "not chat")


PHASE = Phase(
    name="test",
    title="Test",
    does="launches llama-server with the profile (or reads a log run elsewhere), measures speed, reads "
         "per-device memory, asks one real question (chat, or completion for a base model); on pass writes "
         "SPEED and measured values back and removes NOT YET TESTED",
    guards=(
        Guard("log exists", "a llama-server log of this profile", _log_exists),
        Guard("no OOM", "no out-of-memory (device and buffer named)", _no_oom),
        Guard("planned layers offloaded", "the log offloaded the planned layers", _layers_offloaded),
        Guard("speed measured", "prompt and generation speed measured", _speed_measured),
        Guard("answers cleanly", "a real request (chat, or completion for a base model) gets an answer without "
                                 "template text that stops", _answers_cleanly),
    ),
    prepare=prepare,
    run=run,
    run_by_default=True,
    options=(Option("log", "analyse this llama-server log instead of launching", metavar="FILE"),
             Option("apply_suggestion", "write the proposed profile change and test again")),
    facts=TestFacts,
    return_forgets_facts=True,
)
