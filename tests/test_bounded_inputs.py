"""Bounded work on any input: a FIFO nobody writes, a device that never ends, a file far larger than
any real one of its kind. Each is refused at once, naming the file and what it is (exit 6), by every
command that reads such a file: never a hang, never a traceback. Real FIFOs, devices and files."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests import reliability

REPO = Path(__file__).resolve().parent.parent
FIGURES = "inputs that would hang or never end (refused at once)"


def _onboard(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    env.pop("ONBOARD_RIG", None)
    return subprocess.run([sys.executable, "-m", "onboard.workflow.cli", *args], capture_output=True, text=True,
                          cwd=cwd, env=env, timeout=60)  # a hang fails the test instead of the run


@pytest.fixture()
def fifo(tmp_path: Path) -> Path:
    path = tmp_path / "pipe"
    os.mkfifo(path)
    return path


@pytest.mark.parametrize("command", [("inspect", "{}"), ("logs", "analyze", "{}"), ("hardware", "--rig", "{}")])
def test_a_fifo_nobody_writes_is_refused_not_waited_on(tmp_path, fifo, command):
    proc = _onboard(*(a.format(fifo) for a in command), cwd=tmp_path)
    assert proc.returncode == 6 and "FIFO" in proc.stderr and str(fifo) in proc.stderr, proc.stderr
    assert "Traceback" not in proc.stderr
    reliability.count(FIGURES, f"FIFO to `onboard {command[0]}`: refused at once")


def test_a_models_conf_that_is_a_fifo_or_a_device_is_refused(tmp_path, fifo):
    root = tmp_path / "repo"
    root.mkdir()
    (root / "models.conf").symlink_to(fifo)
    proc = _onboard("--root", str(root), "serve", "x", "--dry-run", cwd=root)
    assert proc.returncode == 6 and "FIFO" in proc.stderr, proc.stderr
    (root / "models.conf").unlink()
    (root / "models.conf").symlink_to("/dev/zero")
    proc = _onboard("--root", str(root), "serve", "x", "--dry-run", cwd=root)
    assert proc.returncode == 6 and "device" in proc.stderr, proc.stderr
    reliability.count(FIGURES, "models.conf as a FIFO or /dev/zero: refused at once", 2)


def test_a_file_far_larger_than_its_kind_is_refused_by_size(tmp_path):
    root = tmp_path / "repo"
    root.mkdir()
    with open(root / "models.conf", "wb") as handle:  # sparse: 20 GiB that take no disk
        handle.truncate(20 * 1024 ** 3)
    proc = _onboard("--root", str(root), "serve", "x", "--dry-run", cwd=root)
    assert proc.returncode == 6 and "MiB" in proc.stderr and "models.conf" in proc.stderr, proc.stderr
    rig = tmp_path / "rig.toml"
    with open(rig, "wb") as handle:
        handle.truncate(2 * 1024 ** 2)
    proc = _onboard("hardware", "--rig", str(rig), cwd=tmp_path)
    assert proc.returncode == 6 and "MiB" in proc.stderr, proc.stderr
    reliability.count(FIGURES, "a 20 GiB models.conf and a 2 MiB rig file: refused by size", 2)


def test_a_card_with_thousands_of_front_matter_keys_is_read_in_linear_time(tmp_path):
    """5,000 keys took 44-52 s when each key's line was searched for separately; the card is read in
    one pass now. The timeout only guards against a hang; the figures belong to benchmarks."""
    card = tmp_path / "README_many.md"
    card.write_text("---\ngguf_repo: a/b-GGUF\n" + "".join(f"key{i}: value {i}\n" for i in range(5000)) + "---\n# Many\n")
    script = ("import sys; from onboard.llamacpp.candidate_card import load_card\n"
              "c = load_card(sys.argv[1]); print(c.repo_id, c.key_lines['key4999'], len(c.key_lines))")
    proc = subprocess.run([sys.executable, "-c", script, str(card)], capture_output=True, text=True, timeout=60,
                          cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO)})
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["a/b-GGUF", "5002", "5001"]
    reliability.count(FIGURES, "a card with 5,000 front-matter keys: read in one pass")
