"""The benchmark pipeline of a repository: where its files are, what they hold, and one benchmark run
of one ``[bench-<id>]`` profile turned into the files it leaves.

Shared by the benchmark phase (which writes those files through the journal) and
``benchmarks/evalplus/run.py`` (which a person runs over every ``bench-*`` profile), so that both
measure the same way and write the same files.

Data files (JSON, so that the phases can update them and a person can edit them):
- ``benchmarks/evalplus/models.json``: per bench profile, its display name and the official reference
  scores with their source (``null`` = none known yet: add it by hand);
- ``benchmarks/evalplus/client.json``: how our client asks (token budget, timeouts), per bench profile
  a system prompt or budget where the model needs one.
Results: ``results/evalplus/<bench-id>/<dataset>.json`` (the summary the report is rendered from),
``<dataset>-samples.jsonl`` (raw answers) and ``<dataset>-eval_results.json`` (EvalPlus's own output).

A repository that keeps its own pipeline (``phases.owner_pipeline``: its bench-client.conf,
generate-report.py and results layout) shares only :func:`measure` with ours.
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Callable

PIPELINE_DIR = "benchmarks/evalplus"
MODELS_JSON = f"{PIPELINE_DIR}/models.json"
CLIENT_JSON = f"{PIPELINE_DIR}/client.json"
PIPELINE_README = f"{PIPELINE_DIR}/README.md"
RESULTS_DIR = "results/evalplus"
REPORT = "results/REPORT.md"
CHART = "results/pass1_vs_speed.svg"
BENCH_CTX = 10240  # HumanEval+'s worst case is about 8.4K tokens of prompt + answer
BENCH_BATCH = 512
THINKING_MAX_TOKENS = 8192
# a base model completes the task's code: EvalPlus's own budget for direct completion (max_new_tokens)
COMPLETION_MAX_TOKENS = 768
DEFAULT_CLIENT = {"max_tokens": 2048, "thinking_max_tokens": THINKING_MAX_TOKENS,
                  "completion_max_tokens": COMPLETION_MAX_TOKENS, "request_timeout_s": 600, "run_timeout_s": 14400}
DATASET_FILES = {"humaneval": ("HumanEvalPlus.jsonl.gz", "HumanEvalPlus.jsonl"), "mbpp": ("MbppPlus.jsonl.gz", "MbppPlus.jsonl")}


def bench_id(profile_id: str) -> str:
    return f"bench-{profile_id}"


def production_id(bench: str) -> str:
    return bench[len("bench-"):] if bench.startswith("bench-") else bench


def bench_sections(root: Path) -> list:  # -> list[store.models_conf.Section]
    """Every ``[bench-*]`` profile of the repository's models.conf, in file order."""
    from onboard.store.models_conf import ModelsConf

    return [s for s in ModelsConf.load(root / "models.conf").sections if s.id.startswith("bench-")]


def load_json(root: Path, relpath: str) -> dict[str, Any]:
    """A pipeline data file ({} when absent); bad JSON is BadInput naming file and line."""
    from onboard.llamacpp.errors import BadInput
    from onboard.store.json_input import parse_json

    path = root / relpath
    if not path.is_file():
        return {}
    data = parse_json(path.read_text(encoding="utf-8"), relpath)
    if not isinstance(data, dict):
        raise BadInput("expected a JSON object", path=relpath, line=1)
    return data


def dump_json(data: dict[str, Any]) -> str:
    return json.dumps(data, indent=2, ensure_ascii=False) + "\n"


def with_model(models: dict[str, Any], bench: str, display_name: str) -> dict[str, Any]:
    """models.json with an entry for ``bench`` (existing entries, a person's reference scores included, kept)."""
    entry = dict(models.get(bench) or {})
    entry.setdefault("display_name", display_name)
    entry.setdefault("reference", {"humaneval": None, "humaneval_plus": None, "source": None})
    return {**models, bench: entry}


def with_client(client: dict[str, Any], bench: str, *, thinking: bool, system_prompt: str | None,
                mode: str = "chat") -> dict[str, Any]:
    """client.json with the per-profile settings a model needs (a thinking model gets the larger budget;
    a base model is asked for completions: ``"mode": "completion"``)."""
    defaults = {**DEFAULT_CLIENT, **(client.get("defaults") or {})}
    profiles = dict(client.get("profiles") or {})
    entry = dict(profiles.get(bench) or {})
    entry["thinking"] = thinking
    if mode != "chat":
        entry["mode"] = mode
    if system_prompt:
        entry.setdefault("system_prompt", system_prompt)
    profiles[bench] = entry
    return {**client, "defaults": defaults, "profiles": profiles}


def client_config(root: Path, bench: str):  # -> llamacpp.evalplus_run.ClientConfig
    from onboard.llamacpp.evalplus_run import ClientConfig

    client = load_json(root, CLIENT_JSON)
    defaults = {**DEFAULT_CLIENT, **(client.get("defaults") or {})}
    entry = (client.get("profiles") or {}).get(bench) or {}
    mode = entry.get("mode") or "chat"
    # a completion's budget never exceeds the general one: a client.json that lowers max_tokens lowers both
    budget = entry.get("max_tokens") or (defaults["thinking_max_tokens"] if entry.get("thinking")
                                         else min(defaults["completion_max_tokens"], defaults["max_tokens"])
                                         if mode == "completion" else defaults["max_tokens"])
    return ClientConfig(max_tokens=int(budget), request_timeout_s=float(entry.get("request_timeout_s")
                                                                        or defaults["request_timeout_s"]),
                        system_prompt=entry.get("system_prompt"), mode=mode)


def run_timeout(root: Path) -> float:
    return float({**DEFAULT_CLIENT, **(load_json(root, CLIENT_JSON).get("defaults") or {})}["run_timeout_s"])


def find_dataset(root: Path, dataset: str, given: str | None = None) -> Path | None:
    """The dataset file: given, else EvalPlus's own override variable, else a copy in
    ``benchmarks/evalplus/data/``; None = let EvalPlus download it (needs the internet)."""
    from onboard.llamacpp.evalplus_run import DATASETS

    for candidate in (given, os.environ.get(DATASETS[dataset])):
        if candidate:
            return Path(candidate)
    for name in DATASET_FILES[dataset]:
        path = root / PIPELINE_DIR / "data" / name
        if path.is_file():
            return path
    return None


def download_dataset(root: Path, dataset: str) -> Path:
    """Ask EvalPlus for its dataset (its own download) and keep it in the pipeline's data folder."""
    import subprocess
    import sys

    from onboard.llamacpp.errors import ExternalFailure

    out = root / PIPELINE_DIR / "data" / DATASET_FILES[dataset][1]
    out.parent.mkdir(parents=True, exist_ok=True)
    proc = subprocess.run([sys.executable, "-m", "onboard.llamacpp.evalplus_child", "export", dataset, str(out)],
                          capture_output=True, text=True)
    if proc.returncode != 0:
        raise ExternalFailure(f"EvalPlus could not provide the {dataset} dataset: {proc.stderr.strip()[-500:]}",
                              fix="give --dataset FILE (a HumanEval+ .jsonl.gz), or connect to the internet")
    return out


def measure(root: Path, bench: str, *, binary: str, dataset: str = "humaneval", dataset_path: Path,
            quick: int | None = None, timeout_s: float | None = None, work_dir: Path, config=None,
            mode: str | None = None,
            progress: Callable[[str], None] = lambda _s: None):  # -> tuple[dict, evalplus_run.RunResult]
    """Benchmark ``[bench]`` (our client, EvalPlus's evaluate): its summary and the run's result (with
    the paths of its files in ``work_dir``). ``config`` = how the client asks (default: client.json);
    ``mode`` ("chat" or "completion", from evaluate's verdict) overrides the config's."""
    import dataclasses
    import time

    from onboard.llamacpp import evalplus_run
    from onboard.llamacpp.errors import BadInput
    from onboard.llamacpp.server_command import build_server_argv
    from onboard.store.models_conf import ModelsConf

    section = ModelsConf.load(root / "models.conf").section(bench)
    if section is None:
        raise BadInput(f"models.conf has no [{bench}] profile", path="models.conf",
                       fix="the bench-profile phase writes it (onboard advance NAME)")
    argv = build_server_argv(section.values, binary=binary, root=root, extra=["--no-warmup"])
    progress(f"Launching: {' '.join(argv)}")
    out_dir = work_dir / f"{bench}-{dataset}-{time.strftime('%Y%m%dT%H%M%S', time.gmtime())}"
    config = config or client_config(root, bench)
    if mode is not None:
        config = dataclasses.replace(config, mode=mode)
    result = evalplus_run.run(argv, dataset=dataset, dataset_path=dataset_path, out_dir=out_dir, config=config,
                              quick=quick, timeout_s=timeout_s or run_timeout(root), progress=progress, cwd=root)
    models = load_json(root, MODELS_JSON)
    summary = {
        "profile": bench, "display_name": (models.get(bench) or {}).get("display_name") or section.values.get("NAME"),
        "dataset": dataset, "dataset_file": dataset_path.name, "date": time.strftime("%Y-%m-%d", time.gmtime()),
        **{k: v for k, v in result.to_json().items() if not k.endswith("_path")},
        "profile_values": {k: section.values.get(k) for k in ("MODEL", "CTX_SIZE", "N_GPU_LAYERS", "EXTRA_ARGS")},
    }
    return summary, result


def scored_samples(result) -> Path:  # (evalplus_run.RunResult) -> Path
    """The samples EvalPlus scored: its sanitized copy of the answers (``llamacpp.evalplus_run.score``
    writes ``<samples>-sanitized.jsonl`` beside them), else the raw answers."""
    raw = Path(result.samples_path)
    sanitized = raw.with_name(raw.stem + "-sanitized.jsonl")
    return sanitized if sanitized.is_file() else raw


def run_bench(root: Path, bench: str, *, binary: str, dataset: str = "humaneval", dataset_path: Path,
              quick: int | None = None, timeout_s: float | None = None, work_dir: Path, mode: str | None = None,
              progress: Callable[[str], None] = lambda _s: None) -> tuple[dict[str, Any], dict[str, str]]:
    """Benchmark ``[bench]``; returns its summary and the files to write ({relpath: text}) in our layout."""
    summary, result = measure(root, bench, binary=binary, dataset=dataset, dataset_path=dataset_path, quick=quick,
                              timeout_s=timeout_s, work_dir=work_dir, mode=mode, progress=progress)
    base = f"{RESULTS_DIR}/{bench}/{dataset}"
    files = {
        f"{base}.json": dump_json(summary),
        f"{base}-samples.jsonl": Path(result.samples_path).read_text(encoding="utf-8"),
        f"{base}-eval_results.json": Path(result.results_path).read_text(encoding="utf-8"),
    }
    return summary, files


def summaries(root: Path) -> list[dict[str, Any]]:
    """Every stored result summary (``results/evalplus/<bench-id>/<dataset>.json``), sorted."""
    out = []
    base = root / RESULTS_DIR
    if not base.is_dir():
        return out
    for path in sorted(base.glob("*/*.json")):
        if path.name.endswith("-eval_results.json"):
            continue
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError:
            continue  # reported by `onboard docs check`
        if isinstance(data, dict) and "base_pass1" in data:
            data["_file"] = str(path.relative_to(root))
            out.append(data)
    return out
