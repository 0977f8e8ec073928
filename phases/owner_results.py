"""The owner's results and report: where a run's files go, the report regenerated, the scores read back.

Why follow their layout: ``generate-report.py`` finds results where the owner's scripts put them
(``results/<bench-id>/<folder>/<name>eval_results.json``); a run of ours is written the same way, and
the report is the owner's script's, run on a scratch copy of the pipeline folder so that what it
writes goes through the journal like any write.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from onboard.phases import bench_pipeline as bp
from onboard.phases.owner_layout import REFERENCE_SCORES, REPORT_SCRIPT, RESULTS_DIR, read_file

REPORT_TIMEOUT_S = 90.0  # the report runs under the repository's write lock (other writers wait up to 120 s)
SCRATCH_SKIP = (".venv", "venv", "__pycache__", ".git", ".pytest_cache")


@dataclass(frozen=True)
class ResultsLayout:
    """Where one bench profile's files go: ``results/<bench>/<subdir>/`` and three file names, each a
    template in which ``{bench}`` is the bench profile id and ``{name}`` its NAME as EvalPlus writes
    a model name into a file name (``/`` -> ``--``)."""

    subdir: str  # "" or e.g. "humaneval"
    samples: str  # e.g. "{bench}_openai_temp_0.0-sanitized.jsonl": the answers EvalPlus scored
    raw: str  # e.g. "{bench}_openai_temp_0.0.jsonl": the answers as the model gave them
    eval_results: str  # e.g. "{bench}_openai_temp_0.0-sanitized_eval_results.json"
    source: str  # how it was found, for the message

    def paths(self, bench: str, name: str) -> tuple[str, str, str]:
        """(samples, raw answers, EvalPlus results) repository paths."""
        base = "/".join(p for p in (RESULTS_DIR, bench, self.subdir) if p)
        safe_name = name.strip("./").replace("/", "--")
        return tuple(f"{base}/{t.replace('{bench}', bench).replace('{name}', safe_name)}"  # type: ignore[return-value]
                     for t in (self.samples, self.raw, self.eval_results))


def _profile_names(root: Path) -> dict[str, str]:
    from onboard.store.models_conf import ModelsConf

    try:
        return {s.id: s.values.get("NAME", "") for s in ModelsConf.load(Path(root) / "models.conf").sections}
    except Exception:  # noqa: BLE001  (a layout hint only; models.conf errors are reported where it is read)
        return {}


def eval_result_files(root: Path, bench: str | None = None) -> list[Path]:
    """The EvalPlus result files under the owner's results/ (one bench profile's, or every one's), as
    generate-report.py finds them (hidden and ``archive*`` folders skipped)."""
    base = Path(root) / RESULTS_DIR
    if not base.is_dir():
        return []
    dirs = [base / bench] if bench else sorted(p for p in base.iterdir() if p.is_dir())
    return [f for d in dirs if d.is_dir() and not d.name.startswith((".", "archive"))
            for f in sorted(d.rglob("*eval_results.json")) if f.is_file()]


def _layout_of(example: Path, root: Path) -> ResultsLayout:
    """The layout one existing result file shows: its folder under ``results/<bench>/`` and its names
    with the bench id (or the profile's NAME) they contain made a template."""
    rel = example.relative_to(root / RESULTS_DIR)
    bench, subdir, name = rel.parts[0], "/".join(rel.parts[1:-1]), rel.parts[-1]
    source = f"as {RESULTS_DIR}/{rel.as_posix()}"
    if name == "eval_results.json":
        return ResultsLayout(subdir, "samples.jsonl", "samples.raw.jsonl", name, source)
    sep = "." if name.endswith(".eval_results.json") else "_"
    stem = name[:-len(sep + "eval_results.json")]
    profile_name = _profile_names(root).get(bench, "").strip("./").replace("/", "--")
    if stem.startswith(bench):
        template = "{bench}" + stem[len(bench):]
    elif profile_name and stem.startswith(profile_name):
        template = "{name}" + stem[len(profile_name):]
    else:  # the same name in every profile's folder
        template = stem
    if (example.parent / f"{stem}.raw.jsonl").is_file() or not stem.endswith("-sanitized"):
        raw = template + ".raw.jsonl"
    else:  # EvalPlus's own pair: X.jsonl as generated, X-sanitized.jsonl as scored
        raw = template[:-len("-sanitized")] + ".jsonl"
    return ResultsLayout(subdir, template + ".jsonl", raw, template + sep + "eval_results.json", source)


def results_layout(root: Path) -> ResultsLayout:
    """The layout of the newest results already there; else what the pipeline's shell scripts name
    (``$RESULTS_DIR/$id/<folder>``, ``${id}<suffix>.jsonl``); else ``results/<bench-id>/<bench-id>.jsonl``."""
    root = Path(root)
    found = eval_result_files(root)
    if found:
        return _layout_of(max(found, key=lambda f: (f.stat().st_mtime, str(f))), root)
    subdir, stem, named = "", "{bench}", []
    folder = re.compile(r"RESULTS(?:_DIR)?\}?\"?/\"?\$\{?[A-Za-z_]+\}?\"?/([A-Za-z0-9_.-]+)")
    file_name = re.compile(r"/\$\{?[A-Za-z_]+\}?(_[A-Za-z0-9_.+-]+?)\.jsonl\b")
    for script in sorted((root / bp.PIPELINE_DIR).glob("*.sh"), key=lambda p: (p.name != "benchmark.sh", p.name)):
        text = script.read_text(encoding="utf-8", errors="replace")
        if not subdir and (match := folder.search(text)):
            subdir = match.group(1)
            named.append(script.name)
        if stem == "{bench}" and (match := file_name.search(text)):
            stem = "{bench}" + match.group(1)
            named.append(script.name)
    raw = stem[:-len("-sanitized")] + ".jsonl" if stem.endswith("-sanitized") else stem + ".raw.jsonl"
    source = f"as {', '.join(sorted(set(named)))} names them" if named else "default (no results yet to follow)"
    return ResultsLayout(subdir, stem + ".jsonl", raw, stem + "_eval_results.json", source)


def result_files(root: Path, bench: str, name: str, *, samples: str, raw: str, eval_results: str) -> dict[str, str]:
    """The run's files at their places in the owner's layout ({repository path: text})."""
    samples_path, raw_path, eval_path = results_layout(root).paths(bench, name)
    return {samples_path: samples, raw_path: raw, eval_path: eval_results}


def _report_args(script: str) -> list[str]:
    """The arguments benchmark.sh gives the report script, where the script declares them."""
    args = []
    if re.search(r"""["']--results-dir["']""", script):
        args += ["--results-dir", "results"]
    if re.search(r"""["']--reference["']""", script):
        args += ["--reference", Path(REFERENCE_SCORES).name]
    return args


def _snapshot(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in folder.rglob("*")
            if p.is_file() and "__pycache__" not in p.parts} if folder.is_dir() else {}


def regenerate_report(root: Path, scratch: Path, *,
                      timeout_s: float = REPORT_TIMEOUT_S) -> tuple[dict[str, str], list[str]]:
    """Run the owner's generate-report.py as benchmark.sh does, on a scratch copy of the pipeline
    folder (results included), and return what it wrote under results/ ({repository path: text}), for
    the caller to write through the journal, and the files it wrote that are not text (left out: the
    journal keeps text). A failing script is ExternalFailure with its stderr."""
    from onboard.llamacpp.errors import ExternalFailure

    root = Path(root)
    script = read_file(root, REPORT_SCRIPT)
    if script is None:
        return {}, []
    if scratch.exists():
        shutil.rmtree(scratch)
    shutil.copytree(root / bp.PIPELINE_DIR, scratch, symlinks=True,
                    ignore=shutil.ignore_patterns(*SCRATCH_SKIP))
    results = scratch / "results"
    before = _snapshot(results)
    argv = [sys.executable, Path(REPORT_SCRIPT).name, *_report_args(script)]
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONSTARTUP")}
    try:
        proc = subprocess.run(argv, cwd=scratch, capture_output=True, text=True, timeout=timeout_s,
                              stdin=subprocess.DEVNULL, env=env)
    except subprocess.TimeoutExpired:
        raise ExternalFailure(f"{REPORT_SCRIPT} did not finish in {timeout_s:.0f} s",
                              fix=f"run it by hand in {bp.PIPELINE_DIR}/ and look") from None
    if proc.returncode != 0:
        raise ExternalFailure(f"{REPORT_SCRIPT} failed (exit {proc.returncode}): {proc.stderr.strip()[-1200:]}",
                              fix=f"correct the script (it ran as: {' '.join(argv[1:])} in a copy of "
                                  f"{bp.PIPELINE_DIR}/), then `onboard docs fix` or advance again")
    out, binary = {}, []
    for rel, data in sorted(_snapshot(results).items()):
        if before.get(rel) != data:
            try:
                out[f"{RESULTS_DIR}/{rel}"] = data.decode("utf-8")
            except UnicodeDecodeError:
                binary.append(f"{RESULTS_DIR}/{rel}")
    return out, binary


# -- scores --------------------------------------------------------------------------------------------
def eval_scores(data: Any) -> dict[str, float] | None:
    """pass@1 (fractions) from an EvalPlus eval_results.json: its ``pass_at_k`` summary where it has
    one, else counted from the per-task verdicts as EvalPlus counts them (plus = base and plus pass)."""
    if not isinstance(data, dict):
        return None
    pass_at_k = data.get("pass_at_k")
    if isinstance(pass_at_k, dict) and (pass_at_k.get("base") or {}).get("pass@1") is not None:
        out = {"humaneval": float(pass_at_k["base"]["pass@1"])}
        if (pass_at_k.get("plus") or {}).get("pass@1") is not None:
            out["humaneval_plus"] = float(pass_at_k["plus"]["pass@1"])
        return out
    tasks = data.get("eval")
    if not isinstance(tasks, dict) or not tasks:
        return None
    firsts = [v[0] for v in tasks.values() if isinstance(v, list) and v and isinstance(v[0], dict)]
    if len(firsts) != len(tasks):
        return None
    out = {"humaneval": sum(r.get("base_status") == "pass" for r in firsts) / len(firsts)}
    if any("plus_status" in r for r in firsts):
        plus = sum(r.get("base_status") == r.get("plus_status") == "pass" for r in firsts)
        out["humaneval_plus"] = plus / len(firsts)
    return out


def latest_scores(root: Path, bench_id: str) -> dict[str, float] | None:
    """pass@1 base (``humaneval``) and plus (``humaneval_plus``) as fractions from the newest results of
    ``bench_id`` in either pipeline (the owner's EvalPlus result files, our summaries); None = none."""
    root = Path(root)
    found: list[tuple[float, dict[str, float]]] = []
    for path in eval_result_files(root, bench_id):
        try:
            scores = eval_scores(json.loads(path.read_text(encoding="utf-8")))
        except (OSError, json.JSONDecodeError):
            continue
        if scores:
            found.append((path.stat().st_mtime, scores))
    for summary in bp.summaries(root):
        if summary.get("profile") == bench_id and summary.get("dataset", "humaneval") == "humaneval":
            scores = {"humaneval": float(summary["base_pass1"])}
            if summary.get("plus_pass1") is not None:
                scores["humaneval_plus"] = float(summary["plus_pass1"])
            found.append(((root / summary["_file"]).stat().st_mtime, scores))
    return max(found, key=lambda item: item[0])[1] if found else None
