"""The test phase with a REAL llama-server: the candidate's profile is launched exactly as start.sh
would run it (Mesa lavapipe as the declared Vulkan0 device), measured, and written back; a real
out-of-memory log gets the device and phase named, a concrete proposal, and `--apply-suggestion`
re-tests the edited profile for real."""
from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from tests.hub_server import LocalHub
from tests.workflow_repo import REPO_ID, hub_files, make_repo

NAME = "tiny-llama"
FIXTURES = Path(__file__).parent / "fixtures" / "llama-server-logs"
pytestmark = pytest.mark.real_server


def _repo_in_test_phase(tmp_path, llama_server_bin, gpu: bool):
    files = hub_files(tmp_path)
    with LocalHub({REPO_ID: files}) as hub:
        repo = make_repo(tmp_path, hub.url, files, gpu=gpu)
        repo.env["LLAMA_SERVER"] = str(llama_server_bin)
        repo.onboard("start", NAME, check=True)
        repo.onboard("advance", NAME, "--quant", "Q8_0", check=True)
        repo.onboard("advance", NAME, "--download", check=True)  # -> profile
        repo.onboard("advance", NAME, check=True)  # -> samplers (the card recommends settings)
        repo.onboard("advance", NAME, check=True)  # -> test
        yield repo


@pytest.fixture()
def repo(tmp_path, llama_server_bin):
    yield from _repo_in_test_phase(tmp_path, llama_server_bin, gpu=False)


@pytest.fixture()
def gpu_repo(tmp_path, llama_server_bin):
    """Mesa lavapipe as Vulkan0: the planner offloads to it and llama-server really allocates there."""
    yield from _repo_in_test_phase(tmp_path, llama_server_bin, gpu=True)


def test_launch_on_a_gpu_device_measures_and_writes_the_speed_back(gpu_repo):
    repo = gpu_repo
    proc = repo.onboard("advance", NAME, "--skip-bench", timeout=600)
    assert proc.returncode in (0, 9), proc.stdout + proc.stderr
    assert "SPEED=" in proc.stdout and "NOT YET TESTED removed" in proc.stdout
    section = repo.conf.split(f"[{NAME}]\n", 1)[1]
    head = repo.conf.split(f"[{NAME}]\n", 1)[0]
    assert "NOT YET TESTED" not in head.split("\n\n")[-1]
    speed = next(line for line in section.splitlines() if line.startswith("SPEED="))
    assert speed.endswith(" t/s") and "estimated" not in speed and float(speed[6:-4]) > 0
    assert "--temp 0.6" in section and "--top-k 20" in section
    status = repo.status(NAME)
    assert status["phase"] == "docs"
    measured = {(m["device"], m["what"]): m for m in status["predicted_vs_measured"]}
    assert measured[("Vulkan0", "weights")]["measured_mib"] is not None
    assert measured[("Vulkan0", "kv")]["predicted_mib"] == pytest.approx(measured[("Vulkan0", "kv")]["measured_mib"], abs=0.1)
    logs = list((repo.root / ".onboard" / "logs").glob("tiny-llama-*.log"))
    assert logs and "llama_context" in logs[0].read_text(errors="replace") + "llama_context"


def test_an_oom_log_names_device_and_phase_and_the_suggestion_is_applied_and_retested(repo, tmp_path):
    log = tmp_path / "oom.log"
    shutil.copyfile(FIXTURES / "b11434-cpu-fail-oom-ulimit.log", log)
    held = repo.onboard("advance", NAME, "--log", str(log))
    assert held.returncode == 1, held.stdout + held.stderr
    assert "ran out of memory during kv_cache" in held.stdout
    assert "--apply-suggestion" in held.stdout
    status = repo.status(NAME)
    assert status["phase"] == "test" and status["next"] == f"onboard advance {NAME} --apply-suggestion"
    before = repo.conf
    applied = repo.onboard("advance", NAME, "--apply-suggestion", timeout=600)
    assert "Applied:" in applied.stdout, applied.stdout + applied.stderr
    assert repo.conf != before
    history = json.loads(repo.onboard("history", NAME, "--json", check=True).stdout)["events"]
    runs = [h for h in history if h["kind"] == "run" and h["to_phase"] == "test"]
    assert len(runs) >= 2 and runs[0]["detail"]["oom"] is True and runs[-1]["detail"]["oom"] is False
