"""Absurd numbers are refused with the option named (exit 2, click's usage code), and the plan says
aloud what llama.cpp does with a physical batch larger than the logical one instead of hiding it."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.gguf_factory import write_tiny_model

REPO = Path(__file__).resolve().parent.parent


def _plan(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "onboard.workflow.cli", "plan", *args], capture_output=True, text=True,
                          cwd=REPO, timeout=120)


@pytest.mark.parametrize(("option", "value"), [("--ctx", "99999999999999999999"), ("--ctx", "0"), ("--batch", "-5"),
                                               ("--parallel", "100000"), ("--ngl", "-7"), ("--n-cpu-moe", "-1")])
def test_absurd_numbers_are_refused_naming_the_option(tmp_path, option, value):
    model = write_tiny_model(tmp_path / "tiny.gguf", "llama")
    proc = _plan(str(model), option, value, "--device", "GPU0=4096")
    assert proc.returncode == 2 and option in proc.stderr and "Traceback" not in proc.stderr, proc.stderr


def test_a_ubatch_above_the_batch_is_capped_as_llama_cpp_does_and_said(tmp_path):
    model = write_tiny_model(tmp_path / "tiny.gguf", "llama")
    proc = _plan(str(model), "--batch", "256", "--ubatch", "1024", "--device", "GPU0=4096", "--json")
    assert proc.returncode == 0, proc.stderr
    assert "llama.cpp uses 256" in proc.stderr
    capped = json.loads(proc.stdout)
    same = json.loads(_plan(str(model), "--batch", "256", "--ubatch", "256", "--device", "GPU0=4096", "--json").stdout)
    def buffers(plan: dict) -> list[dict]:  # free RAM (the CPU's capacity) moves between two runs
        return [{k: v for k, v in d.items() if k != "capacity_mib"} for d in plan["devices"]]

    assert buffers(capped) == buffers(same)
