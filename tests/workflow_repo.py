"""A scratch llama-server repository for workflow tests, as a person would have it: a models.conf
with their own hand-written profile, a rig.toml, a candidate card, and the candidate's GGUF files
served by a local hub (tests/hub_server.py: the real huggingface_hub client against 127.0.0.1).

``onboard`` runs as a real separate process (``python -m onboard.workflow.cli``), so the crash-safety tests
can SIGKILL it at named points and the concurrency tests can run two at once.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from tests.gguf_factory import write_tiny_model

REPO_ID = "test-org/Tiny-Llama-GGUF"
PERSON_CONF = """# Profiles of my llama-server rig. Hand-written; onboard must never touch these.
[qwen-7b]
NAME=Qwen 7B
DESCRIPTION=my daily driver
SPEED=41.2 t/s
MODEL=models/Qwen-7B/Q4_K_M/qwen-7b-q4_k_m.gguf
CTX_SIZE=16384
N_GPU_LAYERS=99
FIT=off
EXTRA_ARGS=-fa on -ot 'blk\\.(1[0-9]|2[0-3])\\.ffn_.*=CPU' --temp 0.7
"""
HOST = """[host]
ram_mib = 16384
bandwidth_gbs = 20
"""
CPU_RIG = 'name = "test rig (CPU only)"\n' + HOST
# Mesa's software Vulkan driver (lavapipe) as a GPU: real per-device buffers, but slow to generate
# (shader compilation on the first request), so only the tests that check GPU placement use it.
VULKAN_RIG = """name = "test rig (Mesa lavapipe as Vulkan0)"
[[device]]
name = "Vulkan0"
backend = "Vulkan"
usable_mib = 2048
total_mib = 2048
bandwidth_gbs = 200
margin_mib = 128
""" + HOST
CARD = """---
gguf_repo: {repo}
base_model: test-org/Tiny-Llama
license: apache-2.0
---
# Tiny Llama

A tiny llama-architecture model written for onboard's tests. Context length: 4K tokens.

## Best practices
We recommend temperature=0.6, top_p=0.95, top_k=20 and min_p=0.
"""


@dataclass
class WorkflowRepo:
    root: Path
    hub_files: dict[str, bytes]
    env: dict[str, str]

    def onboard(self, *args: str, env: dict[str, str] | None = None, timeout: float = 300,
                check: bool = False) -> subprocess.CompletedProcess:
        proc = subprocess.run([sys.executable, "-m", "onboard.workflow.cli", "--root", str(self.root), *args],
                              capture_output=True, text=True, env={**self.env, **(env or {})}, timeout=timeout)
        if check and proc.returncode != 0:
            raise AssertionError(f"onboard {' '.join(args)} -> {proc.returncode}\n{proc.stdout}\n{proc.stderr}")
        return proc

    def start_onboard(self, *args: str, env: dict[str, str] | None = None) -> subprocess.Popen:
        return subprocess.Popen([sys.executable, "-m", "onboard.workflow.cli", "--root", str(self.root), *args],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                env={**self.env, **(env or {})})

    def status(self, name: str) -> dict:
        proc = self.onboard("status", name, "--json", check=True)
        return json.loads(proc.stdout)

    @property
    def conf(self) -> str:
        return (self.root / "models.conf").read_text()


def hub_files(tmp: Path) -> dict[str, bytes]:
    """The candidate's GGUF repository: two quants of one tiny llama model."""
    files = {}
    (tmp / "hubfiles").mkdir(exist_ok=True)
    for quant, default_type in (("Q8_0", "Q8_0"), ("F16", "F16")):
        path = write_tiny_model(tmp / "hubfiles" / f"Tiny-Llama-{quant}.gguf", "llama", default_type=default_type)
        files[f"Tiny-Llama-{quant}.gguf"] = path.read_bytes()
    return files


def make_repo(tmp: Path, hub_url: str, files: dict[str, bytes], name: str = "tiny-llama", *,
              gpu: bool = False) -> WorkflowRepo:
    """A repository with the person's files and the candidate card; ``gpu`` declares lavapipe's
    Vulkan0 in rig.toml and makes it visible to llama-server (else the rig is the CPU alone)."""
    root = tmp / "repo"
    (root / "models" / "documentation" / "CANDIDATES").mkdir(parents=True)
    (root / "models.conf").write_text(PERSON_CONF)
    (root / "rig.toml").write_text(VULKAN_RIG if gpu else CPU_RIG)
    (root / "models" / "documentation" / "CANDIDATES" / f"README_{name}.md").write_text(CARD.format(repo=REPO_ID))
    repo_root = Path(__file__).resolve().parent.parent
    env = {**os.environ, "HF_ENDPOINT": hub_url, "HF_HUB_CACHE": str(tmp / "hf-cache"),
           "HF_HUB_DISABLE_TELEMETRY": "1", "PYTHONPATH": str(repo_root)}
    if gpu:
        env["GGML_VK_VISIBLE_DEVICES"] = "0"
    for key in (*(() if gpu else ("GGML_VK_VISIBLE_DEVICES",)), "HF_TOKEN", "HUGGING_FACE_HUB_TOKEN", "ONBOARD_DB", "ONBOARD_RIG", "ONBOARD_TEST_KILL_AT",
                "ONBOARD_TEST_HOLD_AT"):
        env.pop(key, None)
    return WorkflowRepo(root, files, env)
