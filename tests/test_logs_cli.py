"""`onboard logs analyze` as a person and a script use it: through click (CliRunner) and as a real
process reading standard input."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from click.testing import CliRunner

from onboard.workflow.cli import cli

REPO = Path(__file__).resolve().parent.parent
LOGS = Path(__file__).parent / "fixtures" / "llama-server-logs"


def run(*args: str, input: str | None = None):
    return CliRunner().invoke(cli, ["logs", "analyze", *args], input=input)


def test_json_is_the_contract_for_a_good_log():
    result = run(str(LOGS / "skulk-lavapipe-gemma-startup-lv4-faoff.log"), "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["build"] == "1 (7e4c0a9)"
    assert data["devices"] == [{"id": "Vulkan0", "name": "llvmpipe (LLVM 15.0.6, 256 bits)",
                                "free_mib": 2048, "total_mib": 2048}]
    assert data["kv_buffers_mib"] == {"Vulkan0": 27.0}
    assert (data["graph_splits"], data["prompt_tps"], data["gen_tps"]) == (3, 1.75, 2.73)
    assert data["oom"] is False and data["fatal_error"] is None


def test_an_oom_log_exits_0_and_says_where_it_ran_out():
    result = run(str(LOGS / "ext-ik_llama.cpp-749-11gpu-compute-oom.log"))
    assert result.exit_code == 0
    assert "CUDA0 ran out while allocating the compute buffer: asked 272.8 GiB" in result.stdout
    as_json = json.loads(run(str(LOGS / "ext-ik_llama.cpp-749-11gpu-compute-oom.log"), "--json").stdout)
    assert (as_json["oom"], as_json["oom_phase"], as_json["oom_device"]) == (True, "compute_buffer", "CUDA0")


def test_human_output_has_diagnosis_and_figures():
    result = run(str(LOGS / "ext-llama.cpp-pr6122-cuda-2gpu-old-format.log"))
    assert result.exit_code == 0
    out = result.stdout
    assert "all 41/41 layers offloaded" in out
    assert "CUDA1: 17.2 GiB (model 13.7 GiB, KV 3.5 GiB)" in out
    assert "device CUDA0: NVIDIA GeForce RTX 4070 Ti" in out
    assert "KV buffers (MiB): CUDA0 1536.00, CUDA1 3584.00" in out


def test_dash_reads_standard_input():
    text = (LOGS / "cpu-fail-garbage-gguf.log").read_text()
    result = run("-", "--json", input=text)
    assert result.exit_code == 0
    assert json.loads(result.stdout)["fatal_error"] == \
        "gguf_init_from_reader: invalid magic characters: 'NOTA', expected 'GGUF'"


def test_unreadable_file_exits_6_naming_it(tmp_path):
    missing = tmp_path / "server.log"
    result = run(str(missing))
    assert result.exit_code == 6
    assert str(missing) in result.stderr and "No such file" in result.stderr
    assert "Traceback" not in result.output
    assert run(str(tmp_path), "--json").exit_code == 6  # a directory


def test_real_process_pipes_a_log_through_stdin():
    log = (LOGS / "b11434-cpu-fail-oom-ulimit.log").read_bytes()
    proc = subprocess.run([sys.executable, "-m", "onboard.workflow.cli", "logs", "analyze", "-", "--json"],
                          input=log, capture_output=True, cwd=REPO, timeout=60)
    assert proc.returncode == 0, proc.stderr.decode()
    data = json.loads(proc.stdout)
    assert (data["oom"], data["oom_phase"], data["oom_device"], data["oom_asked_mib"]) == \
        (True, "kv_cache", "CPU", 8192.0)
