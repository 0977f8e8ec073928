"""Ctrl-C and SIGTERM in the middle of a write: the command ends with 130 / 143 (the shell's
convention; 1 would read as "a guard held it back"), says so without a traceback, leaves every file
and the database as before the step, and the same command then goes on. Real processes, signals,
SQLite and files: the process is held between writing models.conf's new text and renaming it."""
from __future__ import annotations

import signal
import time
from pathlib import Path

import pytest

from tests import reliability
from tests.hub_server import LocalHub
from tests.workflow_repo import REPO_ID, hub_files, make_repo

FIGURES = "signals (SIGINT/SIGTERM mid-write, journal consistent)"


def _wait_for(path: Path, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        assert time.monotonic() < deadline, f"{path} never appeared"
        time.sleep(0.05)


@pytest.mark.parametrize(("signum", "code"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_a_signal_mid_write_undoes_the_step_and_exits_by_convention(tmp_path, signum, code):
    files = hub_files(tmp_path)
    with LocalHub({REPO_ID: files}) as hub:
        repo = make_repo(tmp_path, hub.url, files)
        repo.onboard("start", "tiny-llama", check=True)
        repo.onboard("advance", "tiny-llama", "--quant", "Q8_0", check=True)
        before = (repo.root / "models.conf").read_bytes()
        hold = tmp_path / "hold"
        proc = repo.start_onboard("advance", "tiny-llama", "--download",
                                  env={"ONBOARD_TEST_HOLD_AT": "before_rename", "ONBOARD_TEST_HOLD_FILE": str(hold)})
        _wait_for(Path(f"{hold}.reached"))
        proc.send_signal(signum)
        out, err = proc.communicate(timeout=120)

        assert proc.returncode == code, out + err
        assert "Traceback" not in err and "Aborted!" not in err
        assert "undone" in err and "onboard status" in err
        assert (repo.root / "models.conf").read_bytes() == before
        assert not list(repo.root.glob(".models.conf.*"))  # no temp file left
        status = repo.status("tiny-llama")
        assert status["phase"] == "download" and "interrupted" not in status

        again = repo.onboard("advance", "tiny-llama", "--download", check=True)
        assert again.returncode == 0 and repo.status("tiny-llama")["phase"] == "profile"
    reliability.count(FIGURES, f"{signal.Signals(signum).name} mid-write: exit {code}, files as before, command goes on")
