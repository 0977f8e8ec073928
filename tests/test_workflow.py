"""The workflow through the real CLI, as separate processes, on a real repository layout:
start, evaluate (remote header through the real huggingface_hub client against a local hub),
choose a quant, download, profile into models.conf, rollback by meaning, status, list, history."""
from __future__ import annotations

import json
import re

import pytest

from tests.hub_server import LocalHub
from tests.workflow_repo import PERSON_CONF, REPO_ID, hub_files, make_repo

NAME = "tiny-llama"


@pytest.fixture()
def repo(tmp_path):
    files = hub_files(tmp_path)
    with LocalHub({REPO_ID: files}) as hub:
        yield make_repo(tmp_path, hub.url, files)


def _advance_to_profile(repo):
    repo.onboard("start", NAME, check=True)
    repo.onboard("advance", NAME, "--quant", "Q8_0", check=True)
    repo.onboard("advance", NAME, "--download", check=True)


def test_start_evaluates_from_the_remote_header_and_waits_for_a_quant(repo):
    proc = repo.onboard("start", NAME)
    assert proc.returncode == 0, proc.stderr
    assert "Fit table" in proc.stdout and "Q8_0" in proc.stdout and "F16" in proc.stdout
    status = repo.status(NAME)
    assert status["phase"] == "evaluate" and status["phase_index"] == 1 and not status["final"]
    guards = {g["name"]: g for g in status["guards"]}
    assert guards["architecture known"]["passed"] is True
    assert guards["quant chosen"]["passed"] is False
    assert status["next"].startswith(f"onboard advance {NAME} --quant ")
    held = repo.onboard("advance", NAME)
    assert held.returncode == 1 and "quant chosen" in held.stdout + held.stderr
    assert repo.conf == PERSON_CONF


def test_download_guard_names_the_missing_file_then_passes_after_download(repo):
    repo.onboard("start", NAME, check=True)
    moved = repo.onboard("advance", NAME, "--quant", "Q8_0")
    assert moved.returncode == 0, moved.stderr
    assert "hf download test-org/Tiny-Llama-GGUF --include Tiny-Llama-Q8_0.gguf" in moved.stdout
    held = repo.onboard("advance", NAME)
    assert held.returncode == 1
    assert "missing: models/Tiny-Llama/Q8_0/Tiny-Llama-Q8_0.gguf" in held.stdout
    done = repo.onboard("advance", NAME, "--download")
    assert done.returncode == 0, done.stdout + done.stderr
    model = repo.root / "models" / "Tiny-Llama" / "Q8_0" / "Tiny-Llama-Q8_0.gguf"
    assert model.read_bytes() == repo.hub_files["Tiny-Llama-Q8_0.gguf"]
    assert repo.status(NAME)["phase"] == "profile"


def test_profile_is_written_beside_the_persons_profile_and_rollback_removes_only_it(repo):
    _advance_to_profile(repo)
    conf = repo.conf
    assert conf.startswith(PERSON_CONF)
    assert "[tiny-llama]" in conf and "NOT YET TESTED" in conf and "(estimated)" in conf
    assert "MODEL=models/Tiny-Llama/Q8_0/Tiny-Llama-Q8_0.gguf" in conf and "FIT=off" in conf
    rolled = repo.onboard("rollback", NAME)
    assert rolled.returncode == 0, rolled.stderr
    assert repo.conf == PERSON_CONF
    assert repo.status(NAME)["phase"] == "download"
    # the downloaded file is never deleted
    assert (repo.root / "models" / "Tiny-Llama" / "Q8_0" / "Tiny-Llama-Q8_0.gguf").exists()


def test_rollback_refuses_to_overwrite_a_hand_edit_of_the_profile(repo):
    _advance_to_profile(repo)
    head, profile = repo.conf.split("[tiny-llama]\n", 1)
    assert "\nNAME=" in "\n" + profile
    edited = head + "[tiny-llama]\n" + re.sub(r"^NAME=.*$", "NAME=Tiny (renamed by me)", profile, count=1, flags=re.M)
    assert edited != repo.conf
    (repo.root / "models.conf").write_text(edited)
    proc = repo.onboard("rollback", NAME)
    assert proc.returncode == 7, proc.stdout + proc.stderr
    assert "[tiny-llama]" in proc.stderr and "changed since onboard wrote it" in proc.stderr
    assert repo.conf == edited
    assert repo.status(NAME)["phase"] == "profile"


def test_rollback_of_download_forgets_the_quant_choice(repo):
    repo.onboard("start", NAME, check=True)
    repo.onboard("advance", NAME, "--quant", "Q8_0", check=True)
    repo.onboard("rollback", NAME, check=True)
    status = repo.status(NAME)
    assert status["phase"] == "evaluate" and "quant" not in status["options"]


def test_list_and_history_json(repo):
    _advance_to_profile(repo)
    rows = json.loads(repo.onboard("list", "--json", check=True).stdout)["candidates"]
    assert [(r["name"], r["phase"], r["final"]) for r in rows] == [(NAME, "profile", False)]
    assert set(rows[0]) == {"name", "phase", "final", "updated_at", "guards_passed", "guards_total"}
    history = json.loads(repo.onboard("history", NAME, "--json", check=True).stdout)
    assert history["name"] == NAME
    events = history["events"]
    assert [h["seq"] for h in events] == list(range(1, len(events) + 1))
    moves = [(h["from_phase"], h["to_phase"]) for h in events if h["kind"] == "transition"]
    assert moves == [("evaluate", "download"), ("download", "profile")]
    assert all(set(h) == {"seq", "at", "kind", "trigger", "from_phase", "to_phase", "argv", "ok", "detail"}
               for h in events)
    assert any(h["argv"][:3] == ["onboard", "--root", str(repo.root)] for h in events)
    assert any(h["kind"] == "guards" and not h["ok"] for h in events)
    # status without NAME: the same candidate objects as with NAME, under "candidates"
    everyone = json.loads(repo.onboard("status", "--json", check=True).stdout)
    assert everyone == {"candidates": [repo.status(NAME)]}


def test_errors_name_the_problem_and_use_the_documented_exit_codes(repo):
    repo.onboard("start", NAME, check=True)
    unknown = repo.onboard("status", "tiny-lama")
    assert unknown.returncode == 3 and "did you mean tiny-llama" in unknown.stderr
    wrong_phase = repo.onboard("advance", NAME, "--download")
    assert wrong_phase.returncode == 4 and "--download applies to the download phase" in wrong_phase.stderr
    bad_quant = repo.onboard("advance", NAME, "--quant", "Q3_K_XL")
    assert bad_quant.returncode == 6 and "Q8_0" in bad_quant.stderr
    escape = repo.onboard("start", "../etc")
    assert escape.returncode == 6 and "not allowed" in escape.stderr
    no_card = repo.onboard("start", "nothing-here")
    assert no_card.returncode == 6 and "README_nothing-here.md" in no_card.stderr
    first = repo.onboard("rollback", NAME)
    assert first.returncode == 4 and "first phase" in first.stderr


def test_abandon_keeps_edits_unless_undo(repo):
    _advance_to_profile(repo)
    repo.onboard("abandon", NAME, check=True)
    assert "[tiny-llama]" in repo.conf
    assert repo.status(NAME)["final"] is True
    assert json.loads(repo.onboard("list", "--json", check=True).stdout) == {"candidates": []}
    listed = json.loads(repo.onboard("list", "--all", "--json", check=True).stdout)["candidates"]
    assert [r["name"] for r in listed] == [NAME]
