"""A full disk during a write loses nothing, through the real CLI on a real scratch repository.

The disk is "full" for one ``onboard`` process: it runs under ``RLIMIT_FSIZE`` (set by a two-line
wrapper before ``workflow.cli`` runs), so every write that would make any file larger than the
limit fails with EFBIG, as a full disk fails with ENOSPC (Python ignores SIGXFSZ, so the write
raises instead of killing the process). Two kinds of failure are provoked:

- the atomic write's temp file (models.conf, docs/client-settings.md) is larger than the limit,
  while the database still fits: the step's earlier writes must be undone in the same process;
- the database (SQLite in WAL mode) cannot grow: a sweep of limits cuts the command at different
  points (taking the lease, the undo record, the final commit, the guard results afterwards).

Each time: a clear error (which file failed, "free disk space and run the command again"), the
documented exit code (``DISK_FULL_EXIT``), models.conf and docs byte-identical to before (or, when
the failure came after the step's commit, exactly what a normal run writes), no temp file left,
``onboard status`` consistent, the database intact, and the same command succeeding once the
limit is gone.
"""
from __future__ import annotations

import contextlib
import json
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from onboard.store.atomic import TMP_SUFFIX
from tests import reliability
from tests.hub_server import LocalHub
from tests.workflow_repo import PERSON_CONF, REPO_ID, hub_files, make_repo
from onboard.workflow.commands._common import DISK_FULL_EXIT

NAME = "tiny-llama"
SECTION = "full-disk writes (nothing lost)"
FIX = "free disk space and run the command again"
# Set the file size limit, then run the CLI exactly as `python -m onboard.workflow.cli` would.
WRAPPER = ("import resource, runpy, sys; n = int(sys.argv.pop(1)); "
           "resource.setrlimit(resource.RLIMIT_FSIZE, (n, n)); "
           "runpy.run_module('onboard.workflow.cli', run_name='__main__', alter_sys=True)")
# A person's notes at the top of models.conf, large enough that the file outgrows the database.
BIG_NOTES = "".join(f"# note {i:05d}: hardware history, benchmark remarks and other hand-written text\n"
                    for i in range(12000))
CLIENT_SETTINGS = "docs/client-settings.md"


def onboard_limited(repo, limit: int, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", WRAPPER, str(limit), "--root", str(repo.root), *args],
                          capture_output=True, text=True, env=repo.env, timeout=300)


def temp_files(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob(f"*{TMP_SUFFIX}"))


def db_intact(root: Path) -> bool:
    """SQLite's own check of the file. The connection is closed at once: an open reader in this
    process would keep the WAL from being reset, and the next commands' WAL would only grow."""
    with contextlib.closing(sqlite3.connect(root / ".onboard" / "onboard.db")) as conn:
        return conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"


def assert_clear_disk_error(proc: subprocess.CompletedProcess, file_named: str) -> None:
    assert proc.returncode == DISK_FULL_EXIT, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr, proc.stderr
    assert "error: writing " in proc.stderr and file_named in proc.stderr, proc.stderr
    assert FIX in proc.stderr


@pytest.fixture()
def repo(tmp_path):
    files = hub_files(tmp_path)
    with LocalHub({REPO_ID: files}) as hub:
        yield make_repo(tmp_path, hub.url, files)


def _in_download_phase(repo) -> None:
    repo.onboard("start", NAME, check=True)
    repo.onboard("advance", NAME, "--quant", "Q8_0", check=True)
    repo.onboard("advance", NAME, "--download", check=True)  # downloads, then writes the profile
    repo.onboard("rollback", NAME, check=True)  # back to download: the files stay, the profile goes


def test_models_conf_temp_file_cannot_be_written(repo):
    """models.conf outgrows the limit on the write of its new content: the old file stays whole."""
    conf = BIG_NOTES + PERSON_CONF
    (repo.root / "models.conf").write_text(conf)
    _in_download_phase(repo)
    assert repo.conf == conf
    limit = len(conf.encode()) + 16  # the new content (one more profile) cannot be written
    proc = onboard_limited(repo, limit, "advance", NAME)
    assert_clear_disk_error(proc, "models.conf")
    assert repo.conf == conf
    assert temp_files(repo.root) == []
    assert repo.status(NAME)["phase"] == "download" and db_intact(repo.root)
    again = repo.onboard("advance", NAME)
    assert again.returncode == 0, again.stdout + again.stderr
    assert repo.conf.startswith(conf) and "[tiny-llama]" in repo.conf
    assert repo.status(NAME)["phase"] == "profile"
    reliability.count(SECTION, "temp file of models.conf over the limit: old file kept")


def test_docs_write_fails_after_models_conf_was_written_and_both_stay_as_before(repo):
    """The samplers step writes models.conf (EXTRA_ARGS), then docs/client-settings.md; the docs
    write fails: the step is undone in the same command, so models.conf is back as it was too."""
    (repo.root / "docs").mkdir()
    docs = ("# Client settings\n\nMy own notes on clients, per model.\n\n" + BIG_NOTES.replace("# note", "- note"))
    (repo.root / CLIENT_SETTINGS).write_text(docs)
    repo.onboard("start", NAME, check=True)
    repo.onboard("advance", NAME, "--quant", "Q8_0", check=True)
    repo.onboard("advance", NAME, "--download", check=True)
    conf = repo.conf
    limit = len(docs.encode()) + 16
    assert len(conf.encode()) + 200 < limit  # models.conf itself fits: its write succeeds first
    proc = onboard_limited(repo, limit, "advance", NAME)
    assert_clear_disk_error(proc, CLIENT_SETTINGS)
    assert (repo.root / CLIENT_SETTINGS).read_text() == docs
    assert repo.conf == conf  # EXTRA_ARGS, already written, was undone
    assert temp_files(repo.root) == []
    assert repo.status(NAME)["phase"] == "profile" and db_intact(repo.root)
    history = json.loads(repo.onboard("history", NAME, "--json", check=True).stdout)["events"]
    assert history[-1]["kind"] != "transition" or history[-1]["to_phase"] != "samplers"
    again = repo.onboard("advance", NAME)
    assert again.returncode == 0, again.stdout + again.stderr
    assert "--temp 0.6" in repo.conf and "<!-- BEGIN onboard: tiny-llama -->" in (repo.root / CLIENT_SETTINGS).read_text()
    assert (repo.root / CLIENT_SETTINGS).read_text().startswith(docs)
    reliability.count(SECTION, "docs write over the limit after models.conf: both kept")


# File size limits from 4 KiB up by half each time: the smallest stop the first commit (the lease),
# the largest let the whole command through; those between stop it at different points. The sweep
# ends once both commands went through.
LIMITS = [int(4096 * 1.5 ** i) for i in range(12)]


def _check_after(repo, proc: subprocess.CompletedProcess, command: str, before: str, after: str, moved_to: str,
                 stayed_in: str) -> str:
    """Invariants after a limited command; returns the outcome's name."""
    assert temp_files(repo.root) == []
    status = repo.onboard("status", NAME, "--json")
    assert status.returncode == 0, status.stderr
    phase = json.loads(status.stdout)["phase"]
    assert phase in (moved_to, stayed_in), phase
    assert db_intact(repo.root)
    if proc.returncode == 0:
        assert phase == moved_to and repo.conf == after
        return "succeeded under the limit"
    assert_clear_disk_error(proc, str(Path(".onboard") / "onboard.db"))
    if phase == moved_to:  # committed; what failed came after (guard results, the lease's release)
        assert repo.conf == after
        return "database full after the commit"
    if repo.conf == before:
        return "database full before the commit, files untouched"
    # The step's files were written but its commit could not be, and putting them back at once
    # failed too (the engine tries): as after a crash at that point, models.conf holds the step's
    # complete new text (never half of it), status says so, and the next command undoes the step first.
    assert repo.conf == after
    interrupted = json.loads(status.stdout).get("interrupted")
    assert interrupted and f"{command} ({stayed_in} -> {moved_to})" in interrupted, status.stdout
    return "database full at the commit, files written, step left to undo"


def test_the_database_cannot_grow_at_many_points_of_an_advance_and_a_rollback(repo):
    """A sweep of limits cuts `advance` (download -> profile, which writes models.conf) and
    `rollback` (which removes that profile) at different points. Whatever the point, nothing is
    lost, and the same command, without the limit, goes on from there."""
    _in_download_phase(repo)
    original = repo.conf
    repo.onboard("advance", NAME, check=True)
    expected = repo.conf  # what an unlimited advance writes
    repo.onboard("rollback", NAME, check=True)
    assert repo.conf == original
    outcomes: dict[str, int] = {}
    for limit in LIMITS:
        for command, moved_to, stayed_in, before, after in (("advance", "profile", "download", original, expected),
                                                            ("rollback", "download", "profile", expected, original)):
            proc = onboard_limited(repo, limit, command, NAME)
            outcome = _check_after(repo, proc, command, before, after, moved_to, stayed_in)
            key = f"{command}: {outcome}"
            outcomes[key] = outcomes.get(key, 0) + 1
            reliability.count(SECTION, f"sweep, {key}")
            if "after the commit" not in outcome and "succeeded" not in outcome:
                again = repo.onboard(command, NAME)  # the same command goes on once there is space
                assert again.returncode == 0, f"limit {limit}: {again.stdout}{again.stderr}"
                if "step left to undo" in outcome:
                    assert "was undone" in again.stdout
                assert repo.conf == after and repo.status(NAME)["phase"] == moved_to
                assert "interrupted" not in repo.status(NAME)
        if all(outcomes.get(f"{c}: succeeded under the limit") for c in ("advance", "rollback")):
            break  # larger limits only let the commands through again
    print("database sweep:", outcomes)
    assert outcomes.get("advance: database full before the commit, files untouched", 0) >= 1, outcomes
    assert outcomes.get("advance: succeeded under the limit", 0) >= 1, outcomes
