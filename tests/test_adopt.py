"""`onboard adopt` on a hand-written repository laid out like the owner's: every production profile
becomes an onboarded candidate with what its profile says, the map names where the repository keeps
what (docs and benchmark pipeline), only `.onboard/` is written, and a second run changes nothing."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.owner_repo import make_owner_repo, tracked_bytes

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture()
def owner(tmp_path: Path):
    root = make_owner_repo(tmp_path)
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    env.pop("ONBOARD_DB", None)

    def onboard(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "onboard.workflow.cli", "--root", str(root), *args], capture_output=True,
                              text=True, env=env, timeout=120)

    return root, onboard


def test_adopt_registers_every_profile_with_its_measured_facts_and_writes_only_onboards_folder(owner):
    root, onboard = owner
    before = tracked_bytes(root)
    proc = onboard("adopt", "--json")
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    rows = {r["profile"]: r for r in data["registered"]}
    assert sorted(rows) == ["glm-4.5-air", "gpt-oss-120b", "qwen3-32b", "qwen3-coder-30b"]
    assert rows["gpt-oss-120b"]["speed_tps"] == 24.5 and rows["gpt-oss-120b"]["strategy"] == "C"
    assert rows["qwen3-32b"]["memory_gb"] == {"GPU0": 21.2, "GPU1": 13.9}
    assert tracked_bytes(root) == before
    assert (root / ".onboard" / ".gitignore").read_text().strip().endswith("*")  # git status stays clean
    status = subprocess.run(["git", "-C", str(root), "status", "--porcelain"], capture_output=True, text=True).stdout
    assert status == "", status

    roles = {p["role"] for p in data["map"]["places"]}
    assert {"target-models", "switching", "structure", "hierarchy", "roadmap-status", "capabilities", "samplers",
            "model-notes", "model-reference", "bench-profiles"} <= roles
    pipeline = {p["role"]: p for p in data["map"]["pipeline"]}
    assert pipeline["display-names"]["file"] == "benchmarks/evalplus/generate-report.py"
    assert {"client-prompts", "reference-map", "reference-scores", "results", "report"} <= set(pipeline)

    listed = json.loads(onboard("list", "--all", "--json").stdout)["candidates"]
    assert sorted((r["name"], r["phase"]) for r in listed) == [(n, "onboarded") for n in sorted(rows)]
    history = json.loads(onboard("history", "gpt-oss-120b", "--json").stdout)["events"]
    assert history[0]["kind"] == "adopted" and history[0]["detail"]["speed_tps"] == 24.5
    adopted = json.loads(onboard("status", "gpt-oss-120b", "--json").stdout)
    assert adopted["options"] == {}  # nothing the person chose: what adoption found is its record
    assert adopted["facts"]["adopt"]["adopted"] is True and adopted["facts"]["adopt"]["speed_tps"] == 24.5

    again = json.loads(onboard("adopt", "--json").stdout)
    assert again["registered"] == [] and sorted(again["already_known"]) == sorted(rows)


def test_an_adopted_candidate_has_nothing_to_roll_back(owner):
    root, onboard = owner
    assert onboard("adopt").returncode == 0
    conf = (root / "models.conf").read_bytes()
    proc = onboard("rollback", "qwen3-32b")
    assert proc.returncode == 4 and "adopted" in proc.stderr and "nothing to roll back" in proc.stderr
    assert (root / "models.conf").read_bytes() == conf


def test_adopt_prints_the_map_and_what_it_could_not_use(owner):
    root, onboard = owner
    notes = root / "docs" / "notes.md"
    notes.write_text("# Notes\n\n## Models\n\n| Foo | Bar |\n|---|---|\n| qwen3-32b | x |\n")
    proc = onboard("adopt")
    assert proc.returncode == 0, proc.stderr
    assert "README.md:16" in proc.stdout and "generate-report.py:21" in proc.stdout
    assert "docs/notes.md:5" in proc.stdout  # a table that names a model but whose columns mean nothing


def test_adopt_assistant_installs_then_removes_exactly_its_additions(owner):
    root, onboard = owner
    before = tracked_bytes(root)
    installed = onboard("adopt", "--assistant", "--json")
    assert installed.returncode == 0, installed.stderr
    assert ".claude/skills/add-model/SKILL.md" in json.loads(installed.stdout)["assistant_files"]
    agent = (root / ".claude" / "agents" / "gpu-optimizer.md").read_bytes()
    assert agent.startswith(before[".claude/agents/gpu-optimizer.md"]) and b"NOT YET TESTED" in agent
    removed = onboard("adopt", "--remove-assistant")
    assert removed.returncode == 0, removed.stderr
    assert tracked_bytes(root) == before
