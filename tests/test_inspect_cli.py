"""`onboard inspect` end to end: real GGUF files, the real CLI (click's CliRunner and one real
subprocess), and the real huggingface_hub client against the local hub server (tests/hub_server.py)."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from tests.gguf_factory import write_split_model, write_tiny_model
from tests.hub_server import local_hub
from onboard.workflow.cli import cli

REPO = "tester/Tiny-GGUF"


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("inspect")
    out = {
        "moe": write_tiny_model(d / "Tiny-Q8_0.gguf", "qwen3moe", default_type="Q8_0"),
        "gemma": write_tiny_model(d / "gemma.gguf", "gemma3"),
        "mla": write_tiny_model(d / "mla.gguf", "deepseek2", nextn_layers=1),
    }
    (d / "split").mkdir()
    shards = write_split_model(d / "split" / "Tiny-F16.gguf", "llama", n_shards=2)
    out["shard1"], out["shard2"] = shards
    bad = d / "bad.gguf"
    bad.write_bytes(b"GGUF" + bytes(6))
    out["bad"] = bad
    return out


def _run(*args: str):
    return CliRunner().invoke(cli, ["inspect", *args], catch_exceptions=False)


def test_local_human_summary(models: dict[str, Path]) -> None:
    r = _run(str(models["moe"]))
    assert r.exit_code == 0, r.output
    out = r.stdout
    assert "[qwen3moe]" in out and "moe," in out and "active" in out
    assert "8 total, 2 used, 0 shared" in out
    assert "GQA, 4 heads / 2 kv" in out and "Q8_0" in out
    r = _run(str(models["gemma"]))
    assert "5 SWA + 1 full" in r.stdout
    r = _run(str(models["mla"]))
    assert "+1 MTP/nextn" in r.stdout and "latent cache yes" in r.stdout


def test_local_json(models: dict[str, Path]) -> None:
    r = _run(str(models["moe"]), "--json")
    assert r.exit_code == 0
    data = json.loads(r.stdout)
    assert data["architecture"] == "qwen3moe" and data["kind"] == "moe"
    assert (data["experts_total"], data["experts_used"]) == (8, 2)
    assert data["active_params"] < data["total_params"]
    assert data["attention"]["kv_heads"] == 2 and data["complete"] is True


def test_any_shard_reads_the_whole_model(models: dict[str, Path]) -> None:
    r = _run(str(models["shard2"]), "--json")
    assert r.exit_code == 0
    data = json.loads(r.stdout)
    assert data["shards"] == 2 and data["n_tensors"] == 21 and data["architecture"] == "llama"
    r = _run(str(models["shard1"].parent))  # a folder holding one quant
    assert r.exit_code == 0 and "2 file(s)" in r.stdout


def test_bad_files_exit_6_without_traceback(models: dict[str, Path], tmp_path: Path) -> None:
    r = _run(str(models["bad"]))
    assert r.exit_code == 6
    assert "bad.gguf" in r.stderr and "truncated" in r.stderr and "Traceback" not in r.stderr
    assert r.stdout == ""
    r = _run(str(tmp_path / "missing.gguf"))
    assert r.exit_code == 6 and "file not found" in r.stderr
    r = _run("not a thing")
    assert r.exit_code == 6 and "OWNER/REPO" in r.stderr


def test_missing_shard_exit_6(models: dict[str, Path], tmp_path: Path) -> None:
    (tmp_path / "m-00001-of-00002.gguf").write_bytes(models["shard1"].read_bytes())
    r = _run(str(tmp_path / "m-00001-of-00002.gguf"))
    assert r.exit_code == 6 and "m-00002-of-00002.gguf" in r.stderr


def test_remote_repo_quant(models: dict[str, Path]) -> None:
    files = {"Tiny-Q8_0.gguf": models["moe"], "F16/Tiny-F16-00001-of-00002.gguf": models["shard1"],
             "F16/Tiny-F16-00002-of-00002.gguf": models["shard2"], "README.md": b"# tiny\n"}
    with local_hub({REPO: files}) as hub:
        r = _run(f"{REPO}:Q8_0", "--json")
        assert r.exit_code == 0, r.stderr
        data = json.loads(r.stdout)
        assert data["source"] == f"hf://{REPO}@main/Tiny-Q8_0.gguf" and data["kind"] == "moe"
        # only the header was fetched: one ranged GET of the model file, nothing of the other quant
        gets = [q for q in hub.requests if q.method == "GET" and q.file is not None]
        assert [q.file for q in gets] == ["Tiny-Q8_0.gguf"] and gets[0].range is not None

        r = _run(f"{REPO}:F16")
        assert r.exit_code == 0 and "2 file(s)" in r.stdout
        r = _run(f"{REPO}:F16/Tiny-F16-00002-of-00002.gguf", "--json")
        assert r.exit_code == 0 and json.loads(r.stdout)["shards"] == 2

        r = _run(REPO)  # two quants: the person must choose
        assert r.exit_code == 6 and "Q8_0" in r.stderr and "F16" in r.stderr
        r = _run(f"{REPO}:Q2_K")
        assert r.exit_code == 6 and "no quant 'Q2_K'" in r.stderr
        r = _run("nobody/Nothing-GGUF:Q4_K_M")
        assert r.exit_code == 8 and "not found" in r.stderr


def test_real_subprocess(models: dict[str, Path]) -> None:
    """The installed console script, as a person runs it."""
    exe = Path(sys.executable).with_name("onboard")
    cmd = [str(exe)] if exe.exists() else [sys.executable, "-m", "onboard.workflow.cli"]
    p = subprocess.run([*cmd, "inspect", str(models["gemma"]), "--json"], capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr
    assert json.loads(p.stdout)["attention"]["sliding_window"]["window"] == 128
    p = subprocess.run([*cmd, "inspect", str(models["bad"])], capture_output=True, text=True, timeout=120)
    assert p.returncode == 6 and "Traceback" not in p.stderr
