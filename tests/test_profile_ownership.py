"""Ownership of profiles: onboard writes only the models.conf sections it created. A hand-written
profile with the candidate's id (in any letter case), or a name that slugs to another candidate's
id, is refused at `start` before anything is created, naming the section and `--profile-id`; with
`--profile-id` the candidate goes on under its own id. The same `start` typed several times at once:
one proceeds, the others exit 5. Real processes, SQLite, files and the local hub."""
from __future__ import annotations

import json
import shutil

import pytest

from tests import reliability
from tests.hub_server import LocalHub
from tests.workflow_repo import REPO_ID, hub_files, make_repo

FIGURES = "profile ownership (no section onboard did not create is written)"


@pytest.fixture()
def repo(tmp_path):
    files = hub_files(tmp_path)
    with LocalHub({REPO_ID: files}) as hub:
        yield make_repo(tmp_path, hub.url, files)


def _card(repo, name: str) -> None:
    cards = repo.root / "models" / "documentation" / "CANDIDATES"
    shutil.copyfile(cards / "README_tiny-llama.md", cards / f"README_{name}.md")


def test_a_hand_written_section_with_the_candidates_id_is_refused_before_anything_is_created(repo):
    _card(repo, "Qwen-7B")  # slugs to [qwen-7b], the person's own profile
    before = repo.conf
    proc = repo.onboard("start", "Qwen-7B")
    assert proc.returncode == 6 and "models.conf:2: section [qwen-7b] exists" in proc.stderr, proc.stderr
    assert "--profile-id" in proc.stderr
    assert json.loads(repo.onboard("list", "--all", "--json").stdout) == {"candidates": []}
    ok = repo.onboard("start", "Qwen-7B", "--profile-id", "qwen-7b-new", check=True)
    assert ok.returncode == 0
    repo.onboard("advance", "Qwen-7B", "--quant", "Q8_0", check=True)
    repo.onboard("advance", "Qwen-7B", "--download", check=True)  # -> profile: writes [qwen-7b-new]
    assert "[qwen-7b-new]" in repo.conf and repo.conf.startswith(before)
    reliability.count(FIGURES, "hand-written [id] refused at start; --profile-id goes on, the person's section intact")


def test_names_that_slug_to_one_id_cannot_share_a_profile(repo):
    repo.onboard("start", "tiny-llama", check=True)
    for other in ("Tiny-Llama", "tiny-llama-"):
        _card(repo, other)
        proc = repo.onboard("start", other)
        assert proc.returncode == 6 and "candidate tiny-llama's already" in proc.stderr, proc.stderr
    names = [r["name"] for r in json.loads(repo.onboard("list", "--all", "--json").stdout)["candidates"]]
    assert names == ["tiny-llama"]
    reliability.count(FIGURES, "names differing in case or a trailing '-': refused, no shared profile", 2)


def test_a_profile_id_that_is_no_slug_is_refused(repo):
    proc = repo.onboard("start", "tiny-llama", "--profile-id", "My Model")
    assert proc.returncode == 6 and "--profile-id" in proc.stderr


def test_the_same_start_typed_three_times_at_once_one_proceeds_the_others_exit_5(repo):
    procs = [repo.start_onboard("start", "tiny-llama") for _ in range(3)]
    results = [(p.wait(timeout=300), p.stderr.read()) for p in procs]
    codes = sorted(code for code, _ in results)
    assert codes.count(0) == 1 and all(c in (0, 4, 5) for c in codes), results
    assert all("Traceback" not in err and "IntegrityError" not in err for _, err in results), results
    assert repo.status("tiny-llama")["phase"] == "evaluate"
    reliability.count(FIGURES, "the same start three times at once: one proceeds, no traceback")
