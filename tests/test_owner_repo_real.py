"""The person's own repository, as it is, end to end with real parts and no network.

A hand-written repository laid out like the owner's plan (tests/fixtures/owner_repo: four tuned
profiles, their own README tables and trees, roadmap, client settings, strategy guide with CRLF line
endings, agents, and an EvalPlus pipeline with generate-report.py) is adopted; its docs check clean;
a new model, whose card is a Hugging Face README saved verbatim and whose GGUF the person already
downloaded, goes through all eight phases with a real llama-server and a real EvalPlus quick run,
the hub unreachable. Then `git diff` shows only added lines (rows, entries, sections, the new profiles,
the pipeline entries, the report and results), and rolling back to the first phase and `abandon --undo`
leave every file byte-identical.
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

from tests.owner_repo import git_diff, make_owner_repo, tracked_bytes
from tests.test_benchmark_real import DATASET, _require_evalplus
from tests.test_launcher_real import gemma_gguf  # noqa: F401  (the real model, as a fixture)

pytestmark = pytest.mark.real_server
REPO = Path(__file__).resolve().parent.parent
NAME = "gemma-3-270m"
CPU_RIG = 'name = "test rig (CPU only)"\n[host]\nram_mib = 16384\nbandwidth_gbs = 20\n'
# files where one model is listed once per place: each must gain the new model and lose nothing
PLACES = ("README.md", "AI_INSTRUCTIONS.md", "ROADMAP.md", "docs/client-settings.md", "docs/gpu-strategy-guide.md",
          "benchmarks/evalplus/README.md")


@pytest.fixture()
def owner(tmp_path: Path, gemma_gguf: Path, llama_server_bin: Path):  # noqa: F811
    _require_evalplus()
    root = make_owner_repo(tmp_path)
    model_dir = root / "models" / "gemma-3-270m-Q4_K_M" / "Q4_K_M"  # where the card's GGUF repo puts it
    model_dir.mkdir(parents=True)
    shutil.copyfile(gemma_gguf, model_dir / "gemma-3-270m-q4_k_m.gguf")
    rig = tmp_path / "rig.toml"  # the person's rig file lives outside the repository here
    rig.write_text(CPU_RIG)
    env = {**os.environ, "PYTHONPATH": str(REPO), "LLAMA_SERVER": str(llama_server_bin), "ONBOARD_RIG": str(rig),
           "HF_HUB_OFFLINE": "1", "HF_ENDPOINT": "http://127.0.0.1:9", "GGML_VK_VISIBLE_DEVICES": "",
           "HF_HUB_CACHE": str(tmp_path / "hf-cache")}
    for key in ("ONBOARD_DB", "HF_TOKEN", "HUGGING_FACE_HUB_TOKEN", "HUMANEVAL_OVERRIDE_PATH"):
        env.pop(key, None)

    def onboard(*args: str, code: int = 0, timeout: float = 900) -> subprocess.CompletedProcess:
        proc = subprocess.run([sys.executable, "-m", "onboard.workflow.cli", "--root", str(root), *args], capture_output=True,
                              text=True, env=env, timeout=timeout)
        assert proc.returncode == code, f"onboard {' '.join(args)} -> {proc.returncode}\n{proc.stdout[-4000:]}\n{proc.stderr[-4000:]}"
        assert "Traceback" not in proc.stderr, proc.stderr
        return proc

    return root, onboard


REPORT = "benchmarks/evalplus/results/REPORT.md"  # regenerated whole by the person's own script


def _added_only(diff: str) -> list[str]:
    """The diff's changed lines that are not additions (must be none), outside the person's report,
    which their own generate-report.py rewrites (its "latest run" line changes)."""
    removed, in_report = [], False
    for line in diff.splitlines():
        if line.startswith("diff --git"):
            in_report = line.endswith(f" b/{REPORT}")
        elif line.startswith("-") and not line.startswith("---") and not in_report:
            removed.append(line)
    return removed


def test_adopted_repository_onboards_a_model_offline_and_undoes_it_byte_for_byte(owner):
    root, onboard = owner
    original = tracked_bytes(root)

    adopted = json.loads(onboard("adopt", "--json").stdout)
    assert sorted(r["profile"] for r in adopted["registered"]) == ["glm-4.5-air", "gpt-oss-120b", "qwen3-32b",
                                                                  "qwen3-coder-30b"]
    listed = json.loads(onboard("list", "--all", "--json").stdout)["candidates"]
    assert {r["phase"] for r in listed} == {"onboarded"} and len(listed) == 4
    assert tracked_bytes(root) == original, "adopt writes only under .onboard/"
    assert json.loads(onboard("adopt", "--json").stdout)["registered"] == []  # safe to run twice
    onboard("docs", "check")

    onboard("start", NAME)  # a Hugging Face README saved verbatim; the GGUF already downloaded; no hub
    onboard("advance", NAME, "--quant", "Q4_K_M")
    onboard("advance", NAME)  # download: the files are present -> profile
    onboard("advance", NAME)  # profile -> samplers
    onboard("advance", NAME, "--accept-defaults")  # this base model's card recommends no settings -> test
    onboard("advance", NAME)  # test: a real llama-server, measured -> bench-profile
    assert json.loads(onboard("status", NAME, "--json").stdout)["phase"] == "bench-profile"
    onboard("advance", NAME)  # bench-profile -> benchmark
    onboard("advance", NAME, "--quick", "1", "--dataset", str(DATASET))  # benchmark -> docs
    onboard("advance", NAME)  # docs -> onboarded
    assert json.loads(onboard("status", NAME, "--json").stdout)["phase"] == "onboarded"
    onboard("docs", "check")

    diff = git_diff(root)
    assert _added_only(diff) == [], diff
    conf = (root / "models.conf").read_text()
    assert f"[{NAME}]" in conf and f"[bench-{NAME}]" in conf
    for relpath in PLACES:
        assert re.search(r"gemma", git_diff(root, relpath), re.IGNORECASE), f"{relpath} gained no entry:\n{diff}"
    report = git_diff(root, "benchmarks/evalplus/generate-report.py")
    assert f'"bench-{NAME}"' in report
    assert (root / "docs" / "gpu-strategy-guide.md").read_bytes().count(b"\r\n") == \
        (root / "docs" / "gpu-strategy-guide.md").read_bytes().count(b"\n"), "the CRLF file stays CRLF"
    script = subprocess.run([sys.executable, "generate-report.py"], cwd=root / "benchmarks" / "evalplus",
                            capture_output=True, text=True, timeout=120)
    assert script.returncode == 0, script.stderr  # the edited script still runs

    for _ in range(8):  # onboarded -> docs -> ... -> evaluate
        onboard("rollback", NAME)
    assert json.loads(onboard("status", NAME, "--json").stdout)["phase"] == "evaluate"
    onboard("abandon", NAME, "--undo")
    after = tracked_bytes(root)
    assert sorted(after) == sorted(original), set(after) ^ set(original)
    for relpath, data in original.items():
        assert after.get(relpath) == data, f"{relpath} is not byte-identical after rollback and abandon --undo"
    assert git_diff(root) == ""
