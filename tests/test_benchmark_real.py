"""The benchmark pipeline for real: benchmarks/evalplus/benchmark.sh finds the `[bench-*]` profile of a
scratch repository by itself, starts the real llama-server with the real Gemma 3 270M through the
shared launcher, our client asks it the tasks of a tiny HumanEval+-format dataset written for these
tests (tests/fixtures/humaneval_tiny.jsonl), and EvalPlus's own evaluate scores the answers.

The score of a 270M model is low and not asserted; what is asserted is that every figure is real:
the answers came from the server, pass@1 is what EvalPlus's own per-task results say, the report has
the row and its chart is an SVG drawing of it.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.test_launcher_real import gemma_gguf  # noqa: F401  (the real model, as a fixture)

pytestmark = pytest.mark.real_server
REPO = Path(__file__).resolve().parent.parent
DATASET = REPO / "tests" / "fixtures" / "humaneval_tiny.jsonl"


def _require_evalplus() -> None:
    proc = subprocess.run([sys.executable, "-c", "import evalplus.evaluate, matplotlib"], capture_output=True, text=True)
    if proc.returncode != 0:
        msg = f"the bench extra is not installed (bash scripts/install-bench.sh): {proc.stderr.strip()[-200:]}"
        if os.environ.get("CI"):
            pytest.fail(msg)
        pytest.skip(msg)


@pytest.fixture()
def bench_repo(tmp_path: Path, gemma_gguf: Path, llama_server_bin: Path) -> tuple[Path, dict[str, str]]:  # noqa: F811
    _require_evalplus()
    root = tmp_path / "repo"
    model_dir = root / "models" / "Gemma-3-270m-it" / "Q4_K_M"
    model_dir.mkdir(parents=True)
    (model_dir / gemma_gguf.name).symlink_to(gemma_gguf)
    model = f"models/Gemma-3-270m-it/Q4_K_M/{gemma_gguf.name}"
    (root / "models.conf").write_text(
        "# a person's production profile, and the bench profile the bench-profile phase writes\n"
        f"[gemma]\nNAME=Gemma 3 270M\nMODEL={model}\nCTX_SIZE=4096\nN_GPU_LAYERS=0\nFIT=off\n"
        "EXTRA_ARGS=--temp 1.0 --top-k 64\n\n"
        f"[bench-gemma]\nNAME=Gemma 3 270M (benchmark)\nMODEL={model}\nCTX_SIZE=10240\nN_GPU_LAYERS=0\nFIT=off\n"
        "EXTRA_ARGS=-b 512 -ub 512 -t 2\n")
    pipeline = root / "benchmarks" / "evalplus"
    pipeline.mkdir(parents=True)
    for name in ("benchmark.sh", "run.py"):
        shutil.copy2(REPO / "benchmarks" / "evalplus" / name, pipeline / name)
    # a small budget keeps the run short on two shared cores; the pipeline is the same. Gemma 3 270M is the
    # base model (no chat template): asked for completions, as EvalPlus asks base models
    (pipeline / "client.json").write_text(json.dumps({"defaults": {"max_tokens": 64, "request_timeout_s": 300,
                                                                   "run_timeout_s": 900},
                                                      "profiles": {"bench-gemma": {"mode": "completion"}}}))
    (pipeline / "models.json").write_text(json.dumps({"bench-gemma": {
        "display_name": "Gemma 3 270M", "reference": {"humaneval": None, "humaneval_plus": 40.0, "source": "made up for the test"}}}))
    env = {**os.environ, "PYTHONPATH": str(REPO), "PYTHON": sys.executable, "LLAMA_SERVER": str(llama_server_bin),
           "GGML_VK_VISIBLE_DEVICES": "", "HF_HUB_OFFLINE": "1"}
    env.pop("HUMANEVAL_OVERRIDE_PATH", None)
    env.pop("ONBOARD_QUIET", None)  # the progress lines are asserted
    return root, env


def _bench(root: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["bash", str(root / "benchmarks" / "evalplus" / "benchmark.sh"), "--dataset", str(DATASET), *args],
                          capture_output=True, text=True, env=env, timeout=900, cwd=root)


def test_evalplus_scores_real_answers_of_the_real_server_and_the_report_shows_them(bench_repo):
    root, env = bench_repo
    listed = _bench(root, env, "--list")
    assert listed.returncode == 0 and listed.stdout.split() == ["bench-gemma"]

    proc = _bench(root, env)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "[4/4] Onboard/3" in proc.stdout  # progress, task by task
    # and the run as a whole, in the progress style of downloads and server starts (stderr, a line per update)
    lines = proc.stderr.splitlines()
    start = [l for l in lines if l.startswith("llama-server start: elapsed ")]
    assert start and re.fullmatch(r"llama-server start: elapsed [\dhms]+ of at most [\dhms]+: ready after [\d.]+s",
                                  start[-1]), start
    bench = [l for l in lines if l.startswith("benchmark: ")]
    assert re.fullmatch(r"benchmark: 1/4 tasks \(25%\), [\d.]+ tasks/s, [\d.]+ tokens/s, elapsed [\dhms]+, "
                        r"ETA [\dhms]+: Onboard/0", bench[0]), bench
    assert re.fullmatch(r"benchmark: 4/4 tasks \(100%\), [\d.]+ tasks/s, [\d.]+ tokens/s, elapsed [\dhms]+, "
                        r"ETA 0s: all tasks answered", bench[-1]), bench

    results = root / "results" / "evalplus" / "bench-gemma"
    summary = json.loads((results / "humaneval.json").read_text())
    assert summary["n_tasks"] == summary["total_tasks"] == 4 and summary["quick"] is False
    assert summary["request_errors"] == 0 and summary["max_tokens"] == 64
    assert summary["gen_tps"] > 0 and summary["server_gen_tps"] > 0
    samples = [json.loads(line) for line in (results / "humaneval-samples.jsonl").read_text().splitlines()]
    assert [s["task_id"] for s in samples] == [f"Onboard/{i}" for i in range(4)]
    assert all(isinstance(s["raw"], str) and 0 < s["tokens"] <= 64 for s in samples)  # the real model answered each task
    # pass@1 is EvalPlus's: it matches EvalPlus's own per-task verdicts (one greedy sample per task)
    evaluated = json.loads((results / "humaneval-eval_results.json").read_text())["eval"]
    assert sorted(evaluated) == [f"Onboard/{i}" for i in range(4)]
    base_passed = sum(r[0]["base_status"] == "pass" for r in evaluated.values())
    plus_passed = sum(r[0]["base_status"] == r[0]["plus_status"] == "pass" for r in evaluated.values())
    assert summary["base_pass1"] == pytest.approx(base_passed / 4, abs=1e-3)
    assert summary["plus_pass1"] == pytest.approx(plus_passed / 4, abs=1e-3)
    assert "pass@1 base" in proc.stdout and "x the reference 40.0" in proc.stdout

    report = (root / "results" / "REPORT.md").read_text()
    row = (f"| Gemma 3 270M | `bench-gemma` | humaneval | 4 | {summary['base_pass1'] * 100:.1f} | "
           f"{summary['plus_pass1'] * 100:.1f} | {summary['gen_tps']:.1f} | - / 40.0 (made up for the test) |")
    assert row in report
    assert "![pass@1 (plus) against generation speed](pass1_vs_speed.svg)" in report
    from xml.etree import ElementTree

    chart = root / "results" / "pass1_vs_speed.svg"
    assert ElementTree.parse(chart).getroot().tag == "{http://www.w3.org/2000/svg}svg"
    assert "Gemma 3 270M (humaneval)" in chart.read_text()
    from onboard.workflow import generated_docs

    assert not [p for p in generated_docs.check(root) if p.startswith("results/")]


def test_quick_mode_scores_a_subset_and_the_report_says_so(bench_repo):
    root, env = bench_repo
    proc = _bench(root, env, "--quick", "2")
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    summary = json.loads((root / "results" / "evalplus" / "bench-gemma" / "humaneval.json").read_text())
    assert (summary["n_tasks"], summary["total_tasks"], summary["quick"]) == (2, 4, True)
    evaluated = json.loads((root / "results" / "evalplus" / "bench-gemma" / "humaneval-eval_results.json").read_text())
    assert sorted(evaluated["eval"]) == ["Onboard/0", "Onboard/1"]
    report = (root / "results" / "REPORT.md").read_text()
    assert "| humaneval | 2 of 4 (quick) |" in report and "Quick runs" in report


def test_a_dead_server_is_an_external_failure_not_a_hang(bench_repo, tmp_path):
    root, env = bench_repo
    conf = (root / "models.conf").read_text().replace("[bench-gemma]\nNAME=Gemma 3 270M (benchmark)\nMODEL=",
                                                        "[bench-gemma]\nNAME=Gemma 3 270M (benchmark)\nMODEL=missing/")
    (root / "models.conf").write_text(conf)
    proc = _bench(root, env)
    assert proc.returncode == 8
    assert "FAILED: llama-server did not come up" in proc.stderr
    assert not (root / "results" / "evalplus" / "bench-gemma" / "humaneval.json").exists()


def test_workflow_through_bench_profile_benchmark_and_docs_to_onboarded(tmp_path, llama_server_bin):
    """The real CLI, phases 1-8, on the tiny llama model of tests/gguf_factory (it answers nonsense
    fast): the bench profile is written beside the person's profile, the quick benchmark runs for
    real, the docs phase leaves a clean `docs check`, and rollback undoes the benchmark's files."""
    _require_evalplus()
    from tests.hub_server import LocalHub
    from tests.workflow_repo import PERSON_CONF, REPO_ID, hub_files, make_repo

    files = hub_files(tmp_path)
    with LocalHub({REPO_ID: files}) as hub:
        repo = make_repo(tmp_path, hub.url, files)
        repo.env["LLAMA_SERVER"] = str(llama_server_bin)
        name = "tiny-llama"
        repo.onboard("start", name, check=True)
        repo.onboard("advance", name, "--quant", "Q8_0", check=True)
        repo.onboard("advance", name, "--download", check=True)
        for _phase in ("profile", "samplers", "test"):
            repo.onboard("advance", name, check=True)
        status = repo.status(name)
        assert status["phase"] == "bench-profile", status
        conf = repo.conf
        assert conf.startswith(PERSON_CONF) and "[bench-tiny-llama]" in conf
        bench = conf.split("[bench-tiny-llama]")[1]
        assert "CTX_SIZE=10240" in bench and "-b 512 -ub 512" in bench and "--temp" not in bench
        assert "bench-tiny-llama" in json.loads((repo.root / "benchmarks/evalplus/models.json").read_text())
        repo.onboard("advance", name, check=True)
        assert repo.status(name)["phase"] == "benchmark"
        ran = repo.onboard("advance", name, "--quick", "2", "--dataset", str(DATASET), timeout=900)
        assert ran.returncode == 0, ran.stdout[-3000:] + ran.stderr[-3000:]
        assert repo.status(name)["phase"] == "docs"
        summary = json.loads((repo.root / "results/evalplus/bench-tiny-llama/humaneval.json").read_text())
        assert (summary["n_tasks"], summary["total_tasks"], summary["quick"]) == (2, 4, True)
        assert "`bench-tiny-llama` | humaneval | 2 of 4 (quick)" in (repo.root / "results/REPORT.md").read_text()
        done = repo.onboard("advance", name)
        assert done.returncode == 0, done.stdout + done.stderr
        assert repo.status(name)["phase"] == "onboarded"
        check = repo.onboard("docs", "check")
        assert check.returncode == 0, check.stdout
        readme = (repo.root / "README.md").read_text()
        assert "./start.sh tiny-llama" in readme and "./start.sh qwen-7b" in readme
        # back to the benchmark phase and before it: its results and report go, the person's profile stays
        for _ in range(4):
            if repo.status(name)["phase"] == "bench-profile":
                break
            repo.onboard("rollback", name, check=True)
        assert repo.status(name)["phase"] == "bench-profile"
        assert not (repo.root / "results/evalplus/bench-tiny-llama/humaneval.json").exists()
        assert repo.conf.startswith(PERSON_CONF)
