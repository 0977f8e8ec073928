"""`onboard hardware`: the rig plans are made for, as text or JSON, and its errors as exit codes."""
from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from onboard.workflow.cli import cli

REPO = Path(__file__).resolve().parent.parent
REFERENCE = REPO / "rigs" / "reference-4090-5070ti.toml"


@pytest.fixture
def run(monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    monkeypatch.delenv("ONBOARD_RIG", raising=False)
    monkeypatch.delenv("ONBOARD_ROOT", raising=False)
    monkeypatch.chdir(tmp_path)  # no models.conf above: no rig.toml is found by walking up

    def invoke(*args: str):
        return CliRunner().invoke(cli, list(args), catch_exceptions=False)

    return invoke


def test_json_is_the_rig_with_source_and_warnings(run) -> None:
    result = run("hardware", "--rig", str(REFERENCE), "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert [d["name"] for d in data["devices"]] == ["CUDA0", "CUDA1"]
    assert data["devices"][0]["usable_mib"] == 23500 and data["devices"][1]["bandwidth_gbs"] == 896
    assert data["host"]["ram_mib"] == 65536 and data["host"]["cpu_flags"] == []
    assert data["source"] == str(REFERENCE) and data["warnings"] == []
    assert set(data) >= {"devices", "host", "name", "source", "llama_server", "llama_build", "warnings"}


def test_text_lists_each_device(run) -> None:
    result = run("hardware", "--rig", str(REFERENCE))
    assert result.exit_code == 0
    lines = result.stdout.splitlines()
    assert lines[0].startswith("Rig: reference: RTX 4090")
    assert any(l.split()[:3] == ["CUDA0", "CUDA", "23,500"] for l in lines)
    assert any(l.split()[:3] == ["CUDA1", "CUDA", "15,700"] for l in lines)
    assert any("65,536 MiB RAM" in l and "80 GB/s" in l for l in lines)


def test_device_option_replaces_devices(run) -> None:
    result = run("hardware", "--rig", str(REFERENCE), "--device", "CUDA0=12000", "--json")
    data = json.loads(result.stdout)
    assert [(d["name"], d["usable_mib"]) for d in data["devices"]] == [("CUDA0", 12000)]
    assert data["source"] == f"--device over {REFERENCE}"


def test_root_rig_toml_is_found(run, tmp_path: Path) -> None:
    (tmp_path / "repo").mkdir()
    (tmp_path / "repo" / "models.conf").write_text("")
    (tmp_path / "repo" / "rig.toml").write_text('name = "mine"\n[host]\nram_mib = 4096\n')
    result = run("--root", str(tmp_path / "repo"), "hardware", "--json")
    assert json.loads(result.stdout)["name"] == "mine"


def test_detection_without_nvidia_is_exit_0_with_a_warning(run, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "pynvml", None)
    result = run("hardware", "--json")
    assert result.exit_code == 0
    data = json.loads(result.stdout)
    assert data["devices"] == [] and data["source"] == "detected"
    assert any("nvidia-ml-py" in w for w in data["warnings"])
    text = run("hardware")
    assert "no GPU devices" in text.stdout and "warning:" in text.stdout


def test_bad_input_is_exit_6_with_file_line_field(run, tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text('[[device]]\nname = "CUDA0"\nbackend = "CUDA"\nusable_mb = 3\n')
    result = run("hardware", "--rig", str(bad))
    assert result.exit_code == 6
    assert f"{bad}:4: device[0].usable_mb: unknown key" in result.stderr
    assert "Traceback" not in result.output
    result = run("hardware", "--device", "CUDA0:22000")
    assert result.exit_code == 6 and "expected NAME=MiB" in result.stderr and "fix:" in result.stderr


def test_workers_are_shown_with_endpoint_usable_memory_and_whether_they_answer(run, tmp_path: Path) -> None:
    import socket

    with socket.socket() as up, socket.socket() as gone:
        up.bind(("127.0.0.1", 0))
        up.listen(1)
        gone.bind(("127.0.0.1", 0))  # bound, never listening: a worker that is down
        alive, down = (f"127.0.0.1:{s.getsockname()[1]}" for s in (up, gone))
        rig = tmp_path / "rig.toml"
        rig.write_text(f'name = "spans machines"\n[host]\nram_mib = 8192\n[[rpc]]\nendpoint = "{alive}"\n'
                       f'usable_mib = 11000\n[[rpc]]\nendpoint = "{down}"\nusable_mib = 7000\n')
        data = json.loads(run("hardware", "--rig", str(rig), "--json", "--probe-timeout", "1").stdout)
        text = run("hardware", "--rig", str(rig), "--probe-timeout", "1").stdout
    assert [(w["device"], w["endpoint"], w["buffer"], w["usable_mib"], w["reachable"]) for w in data["workers"]] == [
        ("RPC0", alive, f"RPC0[{alive}]", 11000, True), ("RPC1", down, f"RPC0[{down}]", 7000, False)]
    assert data["workers"][0]["declared_at"] == f"{rig}:5" and "refused" in data["workers"][1]["error"]
    assert [d["name"] for d in data["devices"]] == ["RPC0", "RPC1"]
    lines = text.splitlines()
    assert "workers (rpc-server, in --rpc order):" in text
    assert any(l.split()[:5] == ["RPC0", alive, "usable", "11,000", "MiB"] and "reachable" in l for l in lines)
    port = down.rsplit(":", 1)[1]
    assert any(l.split()[:2] == ["RPC1", down] and "NOT reachable" in l
               and f"start it there: rpc-server -H 0.0.0.0 -p {port}" in l for l in lines), text


def test_a_rig_without_workers_shows_none(run) -> None:
    data = json.loads(run("hardware", "--rig", str(REFERENCE), "--json").stdout)
    assert data["workers"] == []
    assert "workers" not in run("hardware", "--rig", str(REFERENCE)).stdout
