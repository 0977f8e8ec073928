"""Crash safety: a real `onboard` process is killed (SIGKILL, by the test-only hook in
store/crashpoints.py) at every named point of a transition that writes models.conf. Afterwards
`status` tells the truth, models.conf is byte-identical to its state before or after the step, no
temp file is left, and `advance` / `rollback` complete and give the same result as a clean run."""
from __future__ import annotations

import shutil

import pytest

from store.crashpoints import POINTS
from tests.hub_server import LocalHub
from tests.workflow_repo import PERSON_CONF, REPO_ID, WorkflowRepo, hub_files, make_repo

NAME = "tiny-llama"
KILLED = {"advance": 0, "rollback": 0}


@pytest.fixture(scope="module")
def templates(tmp_path_factory):
    """Two repositories, each built once through the real CLI: candidate in download (files present),
    and the same advanced into profile (its profile written). Plus the clean-run texts."""
    tmp = tmp_path_factory.mktemp("crash")
    files = hub_files(tmp)
    with LocalHub({REPO_ID: files}) as hub:
        repo = make_repo(tmp, hub.url, files)
        repo.onboard("start", NAME, check=True)
        repo.onboard("advance", NAME, "--quant", "Q8_0", check=True)
        repo.onboard("advance", NAME, "--download", check=True)  # -> profile
        repo.onboard("rollback", NAME, check=True)  # -> download again, profile removed
        in_download = tmp / "in-download"
        shutil.copytree(repo.root, in_download)
        repo.onboard("advance", NAME, check=True)
        in_profile = tmp / "in-profile"
        shutil.copytree(repo.root, in_profile)
        after = repo.conf
    assert after != PERSON_CONF and after.startswith(PERSON_CONF)
    return {"download": in_download, "profile": in_profile, "before": PERSON_CONF, "after": after,
            "env": repo.env}


def _fresh(templates, which: str, tmp_path) -> WorkflowRepo:
    root = tmp_path / "repo"
    shutil.copytree(templates[which], root)
    return WorkflowRepo(root, {}, dict(templates["env"]))


def _no_temp_files(root):
    return [p for p in root.rglob("*.onboard-tmp")]


@pytest.mark.parametrize("point", POINTS)
def test_kill_during_advance_then_recover(templates, tmp_path, point):
    repo = _fresh(templates, "download", tmp_path)
    killed = repo.onboard("advance", NAME, env={"ONBOARD_TEST_KILL_AT": point})
    assert killed.returncode == -9, (point, killed.stdout, killed.stderr)
    KILLED["advance"] += 1
    assert repo.conf in (templates["before"], templates["after"]), point
    status = repo.status(NAME)
    committed = point == "after_commit"
    assert status["phase"] == ("profile" if committed else "download"), point
    has_open_step = point not in ("lease_taken", "after_commit")
    assert ("interrupted" in status) == has_open_step, (point, status)
    if has_open_step:
        assert status["next"] == f"onboard advance {NAME}"
    go_on = repo.onboard("advance", NAME) if not committed else repo.onboard("status", NAME)
    assert go_on.returncode == 0, (point, go_on.stdout, go_on.stderr)
    if has_open_step:
        assert "interrupted advance (download -> profile) was undone" in go_on.stdout
    if point == "lease_taken":
        assert "took over the lease" in go_on.stdout
    assert repo.status(NAME)["phase"] == "profile"
    assert repo.conf == templates["after"]
    assert _no_temp_files(repo.root) == []
    back = repo.onboard("rollback", NAME)
    assert back.returncode == 0, back.stderr
    assert repo.conf == templates["before"]


@pytest.mark.parametrize("point", POINTS)
def test_kill_during_rollback_then_recover(templates, tmp_path, point):
    repo = _fresh(templates, "profile", tmp_path)
    killed = repo.onboard("rollback", NAME, env={"ONBOARD_TEST_KILL_AT": point})
    assert killed.returncode == -9, (point, killed.stdout, killed.stderr)
    KILLED["rollback"] += 1
    assert repo.conf in (templates["before"], templates["after"]), point
    status = repo.status(NAME)
    assert status["phase"] == ("download" if point == "after_commit" else "profile"), point
    if point != "after_commit":
        done = repo.onboard("rollback", NAME)
        assert done.returncode == 0, (point, done.stdout, done.stderr)
    assert repo.status(NAME)["phase"] == "download"
    assert repo.conf == templates["before"]
    assert _no_temp_files(repo.root) == []
    again = repo.onboard("advance", NAME)
    assert again.returncode == 0, again.stderr
    assert repo.conf == templates["after"]

