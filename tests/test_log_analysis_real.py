"""The log analyser on logs a real llama-server writes in front of us: a tiny model (written with
gguf.GGUFWriter by tests/gguf_factory.py) served and asked once, and a real out-of-memory provoked
with an address-space limit and a huge context. What the report says is checked against what we
know independently: the KV size from the model's shape, the speeds from the server's own JSON.
"""
from __future__ import annotations

import json
import resource
import socket
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from onboard.llamacpp.log_analysis import analyze_file, diagnose
from tests.gguf_factory import write_tiny_model

pytestmark = pytest.mark.real_server

# tiny llama defaults of the factory: 2 layers, 2 KV heads of 64 -> K and V rows of 128 values
N_LAYER, KV_WIDTH = 2, 2 * 64


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _start(binary: Path, model: Path, log: Path, extra: list[str], *, address_space: int | None = None):
    port = _free_port()
    argv = [str(binary), "-m", str(model), "--host", "127.0.0.1", "--port", str(port), "-lv", "4",
            "-t", "2", "-np", "1", "--no-warmup", *extra]

    def limit() -> None:
        if address_space is not None:
            resource.setrlimit(resource.RLIMIT_AS, (address_space, address_space))

    out = open(log, "wb")
    proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, preexec_fn=limit)
    out.close()
    return proc, port


def _wait_healthy(proc: subprocess.Popen, port: int, timeout: float = 120.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return False
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2) as resp:
                if resp.status == 200:
                    return True
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.2)
    return False


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def test_a_real_server_log_reads_like_the_server_itself(llama_server_bin: Path, tmp_path: Path):
    model = write_tiny_model(tmp_path / "tiny-llama.gguf", "llama")
    log = tmp_path / "server.log"
    proc, port = _start(llama_server_bin, model, log, ["-c", "2048", "-ngl", "99"])
    try:
        assert _wait_healthy(proc, port), log.read_text(errors="replace")[-3000:]
        body = json.dumps({"prompt": "Hello there", "n_predict": 16, "temperature": 0}).encode()
        request = urllib.request.Request(f"http://127.0.0.1:{port}/completion", data=body,
                                         headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=120) as resp:
            timings = json.load(resp)["timings"]
    finally:
        _stop(proc)

    report = analyze_file(log)
    assert report.oom is False and report.fatal_error is None
    assert report.build is not None
    assert report.n_ctx == 2048
    assert (report.type_k, report.type_v) == ("f16", "f16")
    kv_mib = 2048 * N_LAYER * KV_WIDTH * 2 * 2 / 1048576  # cells x layers x width x (K, V) x f16 bytes
    assert sum(report.kv_buffers_mib.values()) == pytest.approx(kv_mib, abs=0.01)
    assert 0 < sum(report.model_buffers_mib.values()) <= model.stat().st_size / 1048576 + 1
    assert report.compute_buffers_mib and report.graph_splits >= 1
    assert report.layers_offloaded in (None, f"{N_LAYER + 1}/{N_LAYER + 1}")  # CPU-only builds omit it
    # the log's final timing lines agree with the server's JSON (printed with two decimals)
    assert report.gen_tps == pytest.approx(timings["predicted_per_second"], abs=0.006)
    assert report.prompt_tps == pytest.approx(timings["prompt_per_second"], abs=0.006)
    assert any(sentence.startswith("last completed request") for sentence in diagnose(report))


def test_a_real_out_of_memory_is_found_with_its_phase_device_and_size(llama_server_bin: Path, tmp_path: Path):
    model = write_tiny_model(tmp_path / "tiny-llama.gguf", "llama")
    log = tmp_path / "oom.log"
    ctx = 4_194_304  # KV f16: 4 Mi cells x 2 layers x 128 x 2 x 2 bytes = 4096 MiB, over the 3 GB limit
    proc, _port = _start(llama_server_bin, model, log, ["-c", str(ctx), "-fit", "off"],
                         address_space=3_000_000 * 1024)
    try:
        proc.wait(timeout=120)
    finally:
        _stop(proc)
    assert proc.returncode != 0

    report = analyze_file(log)
    assert report.oom is True, log.read_text(errors="replace")[-3000:]
    assert (report.oom_phase, report.oom_device) == ("kv_cache", "CPU")
    assert report.oom_asked_mib == pytest.approx(ctx * N_LAYER * KV_WIDTH * 2 * 2 / 1048576)
    assert report.fatal_error is None
    assert diagnose(report)[0].startswith("CPU ran out while allocating the KV cache: asked 4.0 GiB")
