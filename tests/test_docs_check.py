"""`onboard docs check|fix` on a real repository layout: seeded inconsistencies are found at their
file:line, fix re-renders the generated blocks only (prose around them byte-for-byte unchanged)
and is idempotent, and the blocks follow models.conf when it changes."""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from onboard.workflow import generated_docs as gd

CONF = """# my profiles
[qwen-7b]
NAME=Qwen 7B
DESCRIPTION=llama, Q4_K_M, strategy B
SPEED=41.2 t/s
MODEL=models/Qwen-7B/Q4_K_M/qwen-7b-q4_k_m.gguf
CTX_SIZE=16384
N_GPU_LAYERS=99
FIT=off
EXTRA_ARGS=-fa on -ts 24,16 -ot 'blk\\.(1[0-9])\\.ffn_.*=CPU' --temp 0.7 --top-k 20 --jinja

[bench-qwen-7b]
NAME=Qwen 7B (benchmark)
DESCRIPTION=EvalPlus bench profile of [qwen-7b]
SPEED=~50 t/s (estimated)
MODEL=models/Qwen-7B/Q4_K_M/qwen-7b-q4_k_m.gguf
CTX_SIZE=10240
N_GPU_LAYERS=99
FIT=off
EXTRA_ARGS=-fa on -b 512 -ub 512 --jinja

[gemma-small]
NAME=Gemma small
DESCRIPTION=gemma3, Q4_K_M, strategy A
SPEED=90.0 t/s
MODEL=models/Gemma/Q4_K_M/gemma.gguf
CTX_SIZE=8192
N_GPU_LAYERS=99
FIT=off
EXTRA_ARGS=--temp 1.0 --top-p 0.95
"""
README_PROSE_TOP = "# My rig\n\nHand-written intro. Start the daily driver with `./start.sh qwen-7b`.\n\n## Models\n"
README_PROSE_BOTTOM = "\n## Notes\nMy own notes, never touched.\n"


def _run(root: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parent.parent)}
    return subprocess.run([sys.executable, "-m", "onboard.workflow.cli", "--root", str(root), "docs", *args],
                          capture_output=True, text=True, env=env, timeout=120)


@pytest.fixture()
def repo(tmp_path: Path) -> Path:
    """A repository whose docs the docs phase has completed, with prose around the blocks."""
    root = tmp_path / "repo"
    (root / "docs").mkdir(parents=True)
    (root / "models.conf").write_text(CONF)
    (root / "README.md").write_text(README_PROSE_TOP)
    (root / "docs" / "gpu-strategy-guide.md").write_text("# GPU strategy guide\n\nProse by another author.\n")
    (root / "docs" / "client-settings.md").write_text(
        "# Client settings\n\n<!-- BEGIN onboard: qwen-7b -->\n## qwen-7b\n<!-- END onboard: qwen-7b -->\n")
    for relpath, text in gd.complete(root).items():
        (root / relpath).parent.mkdir(parents=True, exist_ok=True)
        (root / relpath).write_text(text)
    with open(root / "README.md", "a") as f:
        f.write(README_PROSE_BOTTOM)
    return root


def _line_of(path: Path, needle: str) -> int:
    return next(i for i, line in enumerate(path.read_text().split("\n"), start=1) if needle in line)


def test_completed_repository_is_consistent_and_blocks_come_from_models_conf(repo):
    assert gd.check(repo) == []
    readme = (repo / "README.md").read_text()
    assert readme.startswith(README_PROSE_TOP) and readme.endswith(README_PROSE_BOTTOM)
    for block in ("target-models", "switching-models", "repository-structure"):
        assert f"<!-- BEGIN GENERATED: {block} -->" in readme
    assert "| `qwen-7b` | Qwen 7B (`models/Qwen-7B/Q4_K_M/qwen-7b-q4_k_m.gguf`) | 16384 | 41.2 t/s |" in readme
    assert "./start.sh gemma-small" in readme and "bench-qwen-7b" not in readme.split("target-models")[1].split("END")[0]
    settings = (repo / "docs" / "client-settings.md").read_text()
    assert "| `qwen-7b` | 0.7 | - | 20 | - | - | - |" in settings  # the sampler table read EXTRA_ARGS
    guide = (repo / "docs" / "gpu-strategy-guide.md").read_text()
    assert guide.startswith("# GPU strategy guide\n\nProse by another author.\n")
    assert "| `qwen-7b` | `models/Qwen-7B/Q4_K_M/qwen-7b-q4_k_m.gguf` | B | 16384 | 99 | -ts 24,16, 1 -ot rule | 41.2 t/s |" in guide
    pipeline = (repo / "benchmarks" / "evalplus" / "README.md").read_text()
    assert "| `bench-qwen-7b` | `qwen-7b` |" in pipeline
    proc = _run(repo, "check")
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_seeded_inconsistencies_are_reported_at_their_file_and_line(repo):
    readme = repo / "README.md"
    text = readme.read_text().replace("| 41.2 t/s | llama, Q4_K_M", "| 99.9 t/s | llama, Q4_K_M")
    text = text.replace("My own notes, never touched.", "Try `./start.sh ghost-model` too.")
    readme.write_text(text)
    (repo / "benchmarks" / "evalplus" / "models.json").write_text(
        json.dumps({"bench-qwen-7b": {"display_name": "Qwen"}, "bench-gone": {"display_name": "Gone"}}, indent=2))
    settings = repo / "docs" / "client-settings.md"
    settings.write_text(settings.read_text() + "\n<!-- BEGIN onboard: old-model -->\n## old\n<!-- END onboard: old-model -->\n")
    guide = repo / "docs" / "gpu-strategy-guide.md"
    guide.write_text(guide.read_text().replace("<!-- END GENERATED: model-reference -->", "<!-- END: oops -->"))
    (repo / "models.conf").write_text(CONF + "\n[bench-orphan]\nMODEL=m.gguf\n")

    problems = gd.check(repo)
    expected = {
        f"README.md:{_line_of(readme, '99.9 t/s')}: generated block 'target-models' is out of date",
        f"README.md:{_line_of(readme, 'ghost-model')}: refers to profile [ghost-model]",
        f"benchmarks/evalplus/models.json:{_line_of(repo / 'benchmarks/evalplus/models.json', 'bench-gone')}: 'bench-gone' has no",
        f"docs/client-settings.md:{_line_of(settings, 'old-model -->')}: per-model section 'old-model'",
        "docs/gpu-strategy-guide.md:1: generated block 'model-reference' is missing",
        f"models.conf:{_line_of(repo / 'models.conf', '[bench-orphan]')}: [bench-orphan] has no production profile",
    }
    for want in expected:
        assert any(p.startswith(want) for p in problems), (want, problems)
    # the new [bench-orphan] profile also makes the pipeline README's table stale
    assert any(p.startswith("benchmarks/evalplus/README.md:") and "bench-profiles" in p for p in problems)
    assert all(re.match(r"^[\w./-]+:\d+: ", p) for p in problems)
    proc = _run(repo, "check")
    assert proc.returncode == 1
    assert proc.stdout.strip().split("\n") == problems


def test_fix_rewrites_only_the_blocks_and_is_idempotent(repo):
    conf = (repo / "models.conf").read_text().replace("SPEED=41.2 t/s", "SPEED=44.0 t/s")
    (repo / "models.conf").write_text(conf)
    readme = repo / "README.md"
    readme.write_text(readme.read_text().replace("My own notes, never touched.", "My own notes, edited by hand."))
    before = readme.read_text()
    stale = gd.check(repo)
    assert {p.split(":")[0] for p in stale} == {"README.md", "docs/gpu-strategy-guide.md"}
    proc = _run(repo, "fix")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    after = readme.read_text()
    assert "44.0 t/s" in after and "41.2 t/s" not in after

    def prose(text: str) -> str:
        return re.sub(r"<!-- BEGIN GENERATED: (\S+) -->.*?<!-- END GENERATED: \1 -->", "", text, flags=re.S)

    assert prose(after) == prose(before)  # every byte outside the blocks
    assert "My own notes, edited by hand." in after
    snapshot = {p: p.read_bytes() for p in repo.rglob("*") if p.is_file()}
    again = _run(repo, "fix")
    assert again.returncode == 0 and "nothing to change" in again.stdout
    assert {p: p.read_bytes() for p in repo.rglob("*") if p.is_file()} == snapshot
    assert gd.check(repo) == []


def test_fix_leaves_missing_blocks_and_dangling_references_to_a_person(repo):
    readme = repo / "README.md"
    text = readme.read_text()
    start, end = text.index("<!-- BEGIN GENERATED: switching-models -->"), text.index("<!-- END GENERATED: switching-models -->")
    readme.write_text(text[:start] + text[end + len("<!-- END GENERATED: switching-models -->\n"):] + "See [bench-nope].\n")
    before = readme.read_text()
    proc = _run(repo, "fix")
    assert proc.returncode == 1
    assert readme.read_text() == before
    assert "README.md:1: generated block 'switching-models' is missing" in proc.stdout
    assert f"README.md:{_line_of(readme, '[bench-nope]')}: refers to profile [bench-nope]" in proc.stdout


def test_report_block_and_chart_follow_the_results(repo):
    pytest.importorskip("matplotlib")
    from xml.etree import ElementTree

    from onboard.phases import bench_pipeline as bp

    summary = {"profile": "bench-qwen-7b", "dataset": "humaneval", "n_tasks": 10, "total_tasks": 164, "quick": True,
               "base_pass1": 0.5, "plus_pass1": 0.4, "gen_tps": 42.5, "truncated": 1, "date": "2026-11-26"}
    target = repo / bp.RESULTS_DIR / "bench-qwen-7b" / "humaneval.json"
    target.parent.mkdir(parents=True)
    target.write_text(json.dumps(summary))
    problems = gd.check(repo)
    assert "results/REPORT.md:1: generated block 'benchmark-results' is missing" in " ".join(problems)
    assert any("pass1_vs_speed.svg is missing" in p for p in problems)
    for relpath, text in gd.complete(repo).items():
        (repo / relpath).parent.mkdir(parents=True, exist_ok=True)
        (repo / relpath).write_text(text)
    gd.fix(repo)
    assert gd.check(repo) == []
    report = (repo / bp.REPORT).read_text()
    assert "| Qwen 7B (benchmark) |" not in report  # no models.json entry: the summary's name or the id
    assert "| `bench-qwen-7b` | humaneval | 10 of 164 (quick) | 50.0 | 40.0 | 42.5 |" in report
    assert "Quick runs" in report and "![pass@1 (plus) against generation speed](pass1_vs_speed.svg)" in report
    chart = ElementTree.parse(repo / bp.CHART).getroot()
    assert chart.tag == "{http://www.w3.org/2000/svg}svg" and chart.get("width") == "504pt"
    assert "bench-qwen-7b (humaneval, quick)" in (repo / bp.CHART).read_text()
    # the same results draw the same chart (so `check` can tell a stale one), new results a new one
    assert gd.fix(repo) == []
    summary["gen_tps"] = 80.0
    target.write_text(json.dumps(summary))
    assert any("pass1_vs_speed.svg is out of date" in p for p in gd.check(repo))


def test_broken_pipeline_json_is_reported_at_its_line_not_a_crash(repo):
    (repo / "benchmarks" / "evalplus" / "client.json").write_text('{\n  "profiles": {\n    "bench-qwen-7b": {,\n  }\n}\n')
    problems = gd.check(repo)
    assert any(p.startswith("benchmarks/evalplus/client.json:3: not valid JSON") for p in problems), problems
    proc = _run(repo, "check")
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
