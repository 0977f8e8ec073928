"""The factory's tiny models LOAD AND RUN in a real llama-server (CPU): every architecture, mixed
tensor types (Q8_0, Q4_0, BF16, K-quants), tied embeddings, a split model given by its first shard,
and a deepseek2 with an MTP block (which llama.cpp skips). Other tests rely on this: a header test
on a factory file is a test on a file llama.cpp accepts."""
from __future__ import annotations

import json
import socket
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from tests.gguf_factory import write_split_model, write_tiny_model

pytestmark = pytest.mark.real_server

MIXED = {"*attn_q.*": "Q8_0", "*attn_k.*": "Q4_0", "*attn_v.*": "BF16", "*attn_output*": "Q3_K",
         "*ffn_gate*": "Q5_K", "*ffn_up*": "Q6_K", "*ffn_down*": "Q4_K", "token_embd.weight": "Q2_K"}
CASES = {
    "llama": lambda d: write_tiny_model(d / "llama.gguf", "llama"),
    "llama-mixed-tied": lambda d: write_tiny_model(d / "mixed.gguf", "llama", tied_embeddings=True, tensor_types=MIXED),
    "qwen3": lambda d: write_tiny_model(d / "qwen3.gguf", "qwen3"),
    "qwen3moe": lambda d: write_tiny_model(d / "moe.gguf", "qwen3moe", tensor_types={"*_exps*": "Q8_0"}),
    "gemma3": lambda d: write_tiny_model(d / "gemma3.gguf", "gemma3"),
    "gemma3-swa-array": lambda d: write_tiny_model(d / "gemma3a.gguf", "gemma3", swa_pattern="array"),
    "deepseek2-mla-mtp": lambda d: write_tiny_model(d / "ds2.gguf", "deepseek2", nextn_layers=1),
    "split": lambda d: write_split_model(d / "split.gguf", "qwen3moe", n_shards=3)[0],
}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _get(url: str, timeout: float = 5) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


@pytest.mark.parametrize("case", list(CASES))
def test_factory_model_runs_in_llama_server(llama_server_bin: Path, tmp_path: Path, case: str) -> None:
    model = CASES[case](tmp_path)
    port = _free_port()
    log = tmp_path / "server.log"
    argv = [str(llama_server_bin), "-m", str(model), "-c", "512", "-ngl", "0", "--device", "none", "-t", "2",
            "--host", "127.0.0.1", "--port", str(port), "-np", "1"]
    with open(log, "wb") as out:
        proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT)
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 180
        while True:
            assert proc.poll() is None, f"llama-server exited {proc.returncode}:\n{log.read_text()[-3000:]}"
            try:
                status, _ = _get(base + "/health")
                if status == 200:
                    break
            except OSError:
                pass
            assert time.monotonic() < deadline, f"no /health in 180 s:\n{log.read_text()[-3000:]}"
            time.sleep(0.3)
        req = urllib.request.Request(base + "/completion", method="POST", headers={"Content-Type": "application/json"},
                                     data=json.dumps({"prompt": "the cat is on", "n_predict": 8,
                                                      "temperature": 0}).encode())
        with urllib.request.urlopen(req, timeout=120) as r:
            body = json.loads(r.read())
        assert body["tokens_predicted"] >= 1 and body["timings"]["predicted_n"] >= 1
        assert isinstance(body["content"], str)
        status, raw = _get(base + "/v1/models")
        assert status == 200 and json.loads(raw)["data"]
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
