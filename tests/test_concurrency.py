"""Two commands at once. On one candidate: exactly one proceeds, the other exits 5 naming the
holder, and nothing is lost. On two candidates: both proceed, and when both write models.conf at the
same moment neither profile is lost. Real processes, real SQLite, real files."""
from __future__ import annotations

import shutil
import time
from pathlib import Path

import pytest

from tests import reliability
from tests.hub_server import LocalHub
from tests.workflow_repo import PERSON_CONF, REPO_ID, hub_files, make_repo

FIGURES = "concurrent commands (no lost update)"


def _wait_for(path: Path, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        assert time.monotonic() < deadline, f"{path} never appeared"
        time.sleep(0.05)


@pytest.fixture()
def repo(tmp_path):
    files = hub_files(tmp_path)
    with LocalHub({REPO_ID: files}) as hub:
        repo = make_repo(tmp_path, hub.url, files)
        cards = repo.root / "models" / "documentation" / "CANDIDATES"
        shutil.copyfile(cards / "README_tiny-llama.md", cards / "README_other.md")
        for name in ("tiny-llama", "other"):
            repo.onboard("start", name, check=True)
        yield repo


def test_two_advances_on_one_candidate_one_proceeds_the_other_is_told_who_holds_it(repo, tmp_path):
    hold = tmp_path / "hold"
    first = repo.start_onboard("advance", "tiny-llama", "--quant", "Q8_0",
                               env={"ONBOARD_TEST_HOLD_AT": "lease_taken", "ONBOARD_TEST_HOLD_FILE": str(hold)})
    _wait_for(Path(f"{hold}.reached"))
    second = repo.onboard("advance", "tiny-llama", "--quant", "F16")
    assert second.returncode == 5, second.stdout + second.stderr
    assert "busy" in second.stderr and f"pid {first.pid}" in second.stderr and "--quant Q8_0" in second.stderr
    Path(f"{hold}.release").write_text("")
    out, err = first.communicate(timeout=120)
    assert first.returncode == 0, out + err
    status = repo.status("tiny-llama")
    assert status["phase"] == "download" and status["options"]["quant"] == "Q8_0"
    reliability.count(FIGURES, "one candidate, two advances: one proceeds, the other told who holds it")


def test_two_candidates_advance_at_the_same_time(repo, tmp_path):
    procs = {}
    for name in ("tiny-llama", "other"):
        hold = tmp_path / f"hold-{name}"
        procs[name] = (hold, repo.start_onboard(
            "advance", name, "--quant", "Q8_0",
            env={"ONBOARD_TEST_HOLD_AT": "lease_taken", "ONBOARD_TEST_HOLD_FILE": str(hold)}))
    for hold, _ in procs.values():  # both hold their own lease at the same time
        _wait_for(Path(f"{hold}.reached"))
    for hold, _ in procs.values():
        Path(f"{hold}.release").write_text("")
    for name, (_, proc) in procs.items():
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, (name, out, err)
        assert repo.status(name)["phase"] == "download"
    reliability.count(FIGURES, "two candidates advancing at once: both proceed")


def test_two_candidates_writing_models_conf_at_once_lose_neither_profile(repo, tmp_path):
    """The first holds still between reading models.conf and renaming its new text into place; the
    second, writing its own profile meanwhile, waits for it instead of being overwritten."""
    for name in ("tiny-llama", "other"):
        repo.onboard("advance", name, "--quant", "Q8_0", check=True)
    hold = tmp_path / "hold"
    first = repo.start_onboard("advance", "tiny-llama", "--download",
                               env={"ONBOARD_TEST_HOLD_AT": "before_rename", "ONBOARD_TEST_HOLD_FILE": str(hold)})
    _wait_for(Path(f"{hold}.reached"))
    second = repo.start_onboard("advance", "other", "--download")
    time.sleep(3)
    assert second.poll() is None, "the second write went ahead while the first held models.conf"
    Path(f"{hold}.release").write_text("")
    for proc in (first, second):
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, out + err
    conf = repo.conf
    assert "[tiny-llama]" in conf and "[other]" in conf and conf.startswith(PERSON_CONF), conf
    assert {repo.status(n)["phase"] for n in ("tiny-llama", "other")} == {"profile"}
    reliability.count(FIGURES, "two candidates writing models.conf at the same moment: no profile lost")
