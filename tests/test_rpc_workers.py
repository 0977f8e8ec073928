"""rpc-server workers (llamacpp.rpc_workers): the reachability check that comes before a launch,
and measured buffers matched to plan devices by the plan's buffer name. A listening socket on
127.0.0.1 stands in for a running worker (the check is a TCP connect); a closed port for one down."""
from __future__ import annotations

import socket
from pathlib import Path

import pytest

from onboard.llamacpp.errors import ExternalFailure
from onboard.llamacpp.rig_file import load_rig
from onboard.llamacpp.rpc_workers import (device_label, device_of_buffer, measured_mib, probe, probe_all,
                                  require_reachable, rpc_endpoints, workers_of)


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def listening():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen(4)
        yield f"127.0.0.1:{s.getsockname()[1]}"


def rig_file(tmp_path: Path, endpoints: list[str]) -> Path:
    text = 'name = "two workers"\n[host]\nram_mib = 16384\n'
    for i, e in enumerate(endpoints):
        text += f'\n[[rpc]]\nendpoint = "{e}"\nusable_mib = {1000 * (i + 1)}\n'
    path = tmp_path / "rig.toml"
    path.write_text(text)
    return path


def test_workers_are_named_as_llama_cpp_names_them_with_the_line_that_declares_them(tmp_path, listening) -> None:
    down = f"127.0.0.1:{closed_port()}"
    path = rig_file(tmp_path, [listening, down])
    workers = probe_all(workers_of(load_rig(path)), timeout=1.0)
    assert [(w.device, w.endpoint, w.buffer, w.usable_mib) for w in workers] == [
        ("RPC0", listening, f"RPC0[{listening}]", 1000.0), ("RPC1", down, f"RPC0[{down}]", 2000.0)]
    assert [w.declared_at for w in workers] == [f"{path}:6", f"{path}:10"]
    assert [w.reachable for w in workers] == [True, False]
    assert "connection refused" in workers[1].error
    assert workers[1].start_command == f"rpc-server -H 0.0.0.0 -p {down.rsplit(':', 1)[1]}"


def test_a_command_line_with_a_worker_down_is_refused_naming_the_worker_and_how_to_start_it(tmp_path, listening) -> None:
    port = closed_port()
    down = f"127.0.0.1:{port}"
    path = rig_file(tmp_path, [listening, down])
    argv = ["llama-server", "-m", "m.gguf", "--rpc", f"{listening},{down}", "-ngl", "99"]
    assert rpc_endpoints(argv) == [listening, down]
    with pytest.raises(ExternalFailure) as err:
        require_reachable(argv, load_rig(path), timeout=1.0)
    text = str(err.value)
    assert f"worker RPC1 at {down} (declared at {path}:10) does not answer: connection refused" in text
    assert "worker RPC0" not in text  # the one that answers is not blamed
    assert f"on 127.0.0.1: rpc-server -H 0.0.0.0 -p {port}" in err.value.fix
    # all up (or no --rpc at all): nothing raised, the workers checked are returned
    assert [w.device for w in require_reachable(["llama-server", "--rpc", listening], load_rig(path))] == ["RPC0"]
    assert require_reachable(["llama-server", "-m", "m.gguf"]) == []


def test_an_undeclared_endpoint_is_still_checked_by_its_place_in_rpc() -> None:
    down = f"127.0.0.1:{closed_port()}"
    with pytest.raises(ExternalFailure, match=rf"worker RPC0 at {down} does not answer"):
        require_reachable(["llama-server", f"--rpc={down}"])
    assert probe("no-such-host.invalid:50052", timeout=1.0) is not None


def test_measured_buffers_go_to_the_plan_device_by_its_buffer_name() -> None:
    plan = {"RPC0": {"buffer": "RPC0[127.0.0.1:5001]"}, "RPC1": {"buffer": "RPC0[127.0.0.1:5002]"},
            "Vulkan0": {}, "CPU": {}}
    log = {"RPC0[127.0.0.1:5001]": 40.5, "RPC0[127.0.0.1:5002]": 60.25, "Vulkan0": 10.0, "CPU_Mapped": 3.0}
    assert measured_mib("RPC1", plan["RPC1"], log) == 60.25  # never the device name: RPC1 is printed RPC0[...]
    assert measured_mib("RPC0", plan["RPC0"], log) == 40.5
    assert measured_mib("Vulkan0", plan["Vulkan0"], log) == 10.0
    assert measured_mib("RPC0", None, log) is None  # a plan without buffer names: the device name alone
    assert device_of_buffer("RPC0[127.0.0.1:5002]", plan) == "RPC1"
    assert device_label("RPC0[127.0.0.1:5002]", plan) == "RPC1 (RPC0[127.0.0.1:5002])"
    assert device_label("Vulkan0", plan) == "Vulkan0"


def test_a_profile_is_checked_against_the_repository_s_rig(tmp_path, listening, monkeypatch) -> None:
    from onboard.llamacpp.rpc_workers import check_profile_workers, check_workers

    monkeypatch.delenv("ONBOARD_RIG", raising=False)
    down = f"127.0.0.1:{closed_port()}"
    rig_file(tmp_path, [listening, down])  # <root>/rig.toml
    assert check_workers(["llama-server", "-m", "m.gguf"], root=tmp_path) == []  # no --rpc: no rig read, no probe
    with pytest.raises(ExternalFailure, match=rf"worker RPC1 at {down} \(declared at {tmp_path / 'rig.toml'}:10\)"):
        check_workers(["llama-server", "--rpc", f"{listening},{down}"], root=tmp_path, timeout=1.0)
    # a models.conf profile: --rpc in its EXTRA_ARGS, as the profile phase writes it
    profile = {"MODEL": "models/m.gguf", "N_GPU_LAYERS": "99", "EXTRA_ARGS": f"-ts 1,1 --rpc {listening},{down}"}
    with pytest.raises(ExternalFailure, match=rf"worker RPC1 at {down}"):
        check_profile_workers(profile, root=tmp_path, timeout=1.0)
    assert [w.reachable for w in check_profile_workers({**profile, "EXTRA_ARGS": f"--rpc {listening}"},
                                                       root=tmp_path)] == [True]
