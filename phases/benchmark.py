"""Phase 7, benchmark: EvalPlus against the ``[bench-<id>]`` server, results and ``results/REPORT.md``.

``advance NAME`` starts the bench profile's server with the shared launcher, generates the answers with
our own client (a token budget that fits thinking models; EvalPlus's OpenAI backend caps at 768),
scores them with EvalPlus's own ``evaluate`` and writes, through the journal, the summary
``results/evalplus/<bench-id>/<dataset>.json``, the raw answers, EvalPlus's per-task results and the
re-rendered report (the SVG chart is re-drawn beside it). ``--quick N`` runs the first N tasks and the
report says so; ``--dataset FILE`` names the HumanEval+ file (offline runs; EvalPlus's own
``HUMANEVAL_OVERRIDE_PATH`` works too).

A repository that keeps its own pipeline (``phases.owner_pipeline``) gets the same measurement, but
its files where its own results go (the layout of the results already there) and its report written
by its own ``generate-report.py``, each file through the journal, so a rollback restores the old report.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from onboard.phases.contract import Guard, GuardResult, Option, Phase, PhaseContext
from onboard.phases.facts import Facts
from onboard.phases import bench_pipeline as bp


@dataclass
class BenchmarkFacts(Facts):
    """The last EvalPlus run: profile, dataset, tasks, pass@1 base and plus, speed, the results file,
    the report and whose pipeline (ours or the person's) wrote them."""

    LEGACY = {"benchmark": "run"}

    run: dict[str, Any] | None = None


def prepare(ctx: PhaseContext) -> None:
    found = bp.find_dataset(ctx.root, "humaneval")
    ctx.report(f"Next: `onboard advance {ctx.name}` runs EvalPlus HumanEval+ against [{bp.bench_id(ctx.profile_id)}] "
             f"({'dataset ' + str(found) if found else 'EvalPlus downloads the dataset'}); "
             "--quick N for the first N tasks, --dataset FILE for a local copy.")


def run(ctx: PhaseContext, opts: dict[str, Any]) -> None:
    from onboard.llamacpp.errors import BadInput, ExternalFailure
    from onboard.llamacpp.server_command import find_llama_server
    from onboard.phases import docs_blocks, owner_pipeline

    quick = None
    if opts.get("quick"):
        try:
            quick = int(opts["quick"])
        except ValueError:
            raise BadInput(f"{opts['quick']!r} is not a number of tasks", field="--quick") from None
        if quick < 1:
            raise BadInput("must be at least 1", field="--quick")
    dataset = "humaneval"
    path = bp.find_dataset(ctx.root, dataset, opts.get("dataset"))
    if path is None:
        ctx.report("No local HumanEval+ file: asking EvalPlus to download it.")
        path = bp.download_dataset(ctx.root, dataset)
    binary = find_llama_server(str(ctx.root / "rig.toml") if (ctx.root / "rig.toml").is_file() else None)
    if binary is None:
        raise ExternalFailure("llama-server not found", fix="set LLAMA_SERVER, add [llama] server to rig.toml, "
                                                            "or run scripts/install-llama-server.sh")
    bench = bp.bench_id(ctx.profile_id)
    if owner_pipeline.is_owner_pipeline(ctx.root):
        _run_in_owner_pipeline(ctx, bench, binary=binary, dataset=dataset, dataset_path=path, quick=quick)
        return
    summary, files = bp.run_bench(ctx.root, bench, binary=binary, dataset=dataset, dataset_path=path, quick=quick,
                                  work_dir=ctx.work_dir / "bench", mode=client_mode(ctx), progress=ctx.report)
    for relpath, text in files.items():
        ctx.write_file(relpath, text)
    with ctx.writing():  # the report lists every model: rendered and written with no other write between
        rendered = docs_blocks.complete(ctx.root)
        for relpath in (bp.REPORT, bp.CHART):  # the report and its chart follow the new results now
            if relpath in rendered:
                ctx.write_shared(relpath, rendered[relpath], f"{relpath}: with {bench}")
    _record(ctx, summary, f"{bp.RESULTS_DIR}/{bench}/{dataset}.json", bp.REPORT)
    ctx.report(f"Written: {', '.join([*files, *(p for p in (bp.REPORT, bp.CHART) if p in rendered)])}")


def client_mode(ctx: PhaseContext) -> str:
    """How the benchmark asks the model: a base model (evaluate's verdict) completes code, as EvalPlus
    asks base models; every other model is asked through chat."""
    from onboard.phases.bench_profile import client_mode_of

    mode = client_mode_of(ctx)
    if mode == "completion":
        ctx.report("A base model: HumanEval+ is asked as code completion with EvalPlus's stop sequences.")
    return mode


def _run_in_owner_pipeline(ctx: PhaseContext, bench: str, *, binary: str, dataset: str, dataset_path, quick) -> None:
    """Measure as always, then put the answers and EvalPlus's results where the owner's results go and
    let the owner's own generate-report.py write the report, as their benchmark.sh would."""
    from pathlib import Path

    from onboard.phases import owner_pipeline as op

    thinking = bool((ctx.facts_of("bench-profile").plan or {}).get("thinking"))
    summary, result = bp.measure(ctx.root, bench, binary=binary, dataset=dataset, dataset_path=dataset_path,
                                 quick=quick, work_dir=ctx.work_dir / "bench", progress=ctx.report,
                                 config=op.client_config(ctx.root, bench, thinking=thinking), mode=client_mode(ctx))
    name = summary.get("display_name") or bench
    files = op.result_files(ctx.root, bench, name,
                            samples=bp.scored_samples(result).read_text(encoding="utf-8"),
                            raw=Path(result.samples_path).read_text(encoding="utf-8"),
                            eval_results=Path(result.results_path).read_text(encoding="utf-8"))
    layout = op.results_layout(ctx.root)
    with ctx.writing():  # the report lists every model: results and report written with no other write between
        for relpath, text in files.items():
            ctx.write_file(relpath, text)
        report, left_out = op.regenerate_report(ctx.root, ctx.work_dir / "owner-report")
        for relpath, text in report.items():
            ctx.write_shared(relpath, text, f"{relpath}: regenerated with {bench}")
    eval_path = next(p for p in files if p.endswith("eval_results.json"))
    _record(ctx, summary, eval_path, op.REPORT if op.REPORT in report or (ctx.root / op.REPORT).is_file() else None,
            pipeline="owner")
    ctx.report(f"Results laid out {layout.source}: {', '.join(files)}")
    if quick:
        ctx.report(f"A quick run of {summary['n_tasks']} tasks: {op.REPORT_SCRIPT} scores whatever the results hold, "
                 "so its report may show them as the model's score.")
    ctx.report(f"Report by {op.REPORT_SCRIPT}: " + (", ".join(report) if report else "it wrote nothing under results/"))
    if left_out:
        ctx.report(f"Not copied (not text; run {op.REPORT_SCRIPT} by hand for them): {', '.join(left_out)}")


def _record(ctx: PhaseContext, summary: dict[str, Any], results_file: str, report: str | None, *,
            pipeline: str = "ours") -> None:
    """What the run left, for the guard, the docs phase and the history; and the scores, said."""
    done = {k: summary.get(k) for k in ("profile", "dataset", "n_tasks", "total_tasks", "quick", "base_pass1",
                                        "plus_pass1", "gen_tps", "truncated", "request_errors")}
    done.update(file=results_file, report=report, pipeline=pipeline)
    ctx.facts_of("benchmark").run = done
    ctx.data["event"] = dict(done)
    plus = summary.get("plus_pass1")
    ctx.report(f"EvalPlus {summary['dataset']}: pass@1 base {summary['base_pass1']:.3f}, plus "
             f"{'-' if plus is None else f'{plus:.3f}'} over {summary['n_tasks']} of {summary['total_tasks']} tasks"
             f"{' (quick)' if summary.get('quick') else ''}; {summary.get('gen_tps') or 0:.1f} t/s")


def _results_present(ctx: PhaseContext) -> GuardResult:
    done = ctx.facts.run
    if not done:
        return GuardResult(False, "no benchmark run yet", fix=f"onboard advance {ctx.name}  (--quick N for a subset)")
    if not (ctx.root / done["file"]).is_file():
        return GuardResult(False, f"{done['file']} is missing", fix=f"onboard advance {ctx.name}")
    report = done.get("report", bp.REPORT)
    if report and not (ctx.root / report).is_file():
        return GuardResult(False, f"{report} is missing", fix="onboard docs fix" if report == bp.REPORT
                           else f"run {bp.PIPELINE_DIR}/generate-report.py there, or onboard advance {ctx.name}")
    quick = f" (quick: {done['n_tasks']} of {done['total_tasks']} tasks)" if done.get("quick") else ""
    return GuardResult(True, f"{done['file']}: pass@1 base {done['base_pass1']:.3f}{quick}")


PHASE = Phase(
    name="benchmark",
    title="Benchmark",
    does="runs EvalPlus HumanEval+ (greedy, our client with a budget fitting thinking models, EvalPlus's own "
         "evaluate) against the bench profile's server and writes the results and results/REPORT.md",
    guards=(Guard("results present", "the run's summary and the report exist", _results_present),),
    prepare=prepare,
    run=run,
    run_by_default=True,
    options=(Option("quick", "benchmark only the first N tasks, said so in the report", metavar="N"),
             Option("dataset", "HumanEval+ .jsonl(.gz) file to use offline", metavar="FILE")),
    facts=BenchmarkFacts,
    return_forgets_facts=True,
    skippable=True,
)
