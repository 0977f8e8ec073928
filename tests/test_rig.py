"""Rig files, --device options, precedence and detection (no NVIDIA here is the normal case)."""
from __future__ import annotations

import sys
from pathlib import Path

import pytest

from onboard.llamacpp.errors import BadInput
from onboard.llamacpp.hardware import (detect_gpus, detect_rig, memory_bandwidth_gbs, parse_device_option, pcie_link_gbs,
                               resolve_rig)
from onboard.llamacpp.rig_file import load_rig, parse_rig

REPO = Path(__file__).resolve().parent.parent
REFERENCE = REPO / "rigs" / "reference-4090-5070ti.toml"
RPC_EXAMPLE = REPO / "rigs" / "example-rpc.toml"

GOOD = """\
name = "test rig"
[[device]]
name = "CUDA0"
backend = "CUDA"
usable_mib = 20000
total_mib = 24564
[host]
ram_mib = 32768
"""


def test_reference_rig_is_the_4090_and_5070ti() -> None:
    rig = load_rig(REFERENCE)
    assert [(d.name, d.backend, d.bandwidth_gbs) for d in rig.devices] == [("CUDA0", "CUDA", 1008.0),
                                                                          ("CUDA1", "CUDA", 896.0)]
    for d in rig.devices:
        assert d.total_mib is not None and d.usable_mib < d.total_mib and d.margin_mib > 0
    assert rig.devices[0].total_mib > 24000 and 16000 < rig.devices[1].total_mib < 16384
    assert rig.host.ram_mib == 65536 and rig.host.bandwidth_gbs == 80
    assert rig.source == str(REFERENCE) and rig.warnings == []


def test_rpc_servers_become_devices_after_the_local_ones() -> None:
    rig = load_rig(RPC_EXAMPLE)
    assert [d.name for d in rig.devices] == ["CUDA0", "RPC0"]
    rpc = rig.devices[1]
    assert rpc.buffer_name == "RPC0[192.168.1.20:50052]"  # the name -ot and the log use
    assert (rpc.backend, rpc.rpc_endpoint, rpc.usable_mib, rpc.link_gbs) == ("RPC", "192.168.1.20:50052", 23000, 1.25)
    assert rig.llama_build == 6500


@pytest.mark.parametrize("text, line, field, words", [
    ('[[device]]\nname = "CUDA0\nbackend = "CUDA"\n', 2, None, "not valid TOML"),
    ('[[device]]\nname = "CUDA0"\nbackend = "CUDA"\nusable_mb = 3\n', 4, "device[0].usable_mb", "unknown key"),
    ('[[device]]\nname = "CUDA0"\nbackend = "CUDA"\nusable_mib = "22000"\n', 4, "device[0].usable_mib",
     "expected a number, got str"),
    ('[[device]]\nname = "CUDA0"\nbackend = "CUDA"\nusable_mib = true\n', 4, "device[0].usable_mib", "expected a number"),
    ('[[device]]\nname = "CUDA0"\nbackend = "CUDA"\nusable_mib = -5\n', 4, "device[0].usable_mib", "negative"),
    ('[[device]]\nname = "CUDA0"\nbackend = "CUDA"\nusable_mib = 1\n\n[[device]]\nname = "CUDA1"\nusable_mib = 1\n',
     6, "device[1].backend", "missing required field `backend`"),
    ('[[device]]\nname = "CUDA0"\nbackend = "CUDA"\nusable_mib = 1\n[[device]]\nname = "CUDA0"\nbackend = "CUDA"\n'
     'usable_mib = 2\n', 6, "device[1].name", "repeats device[0]"),
    ('[[device]]\nname = "CUDA0"\nbackend = "CUDA"\nusable_mib = 30000\ntotal_mib = 24564\n', 4, "device[0].usable_mib",
     "more than total_mib"),
    ('[gpu]\nname = "x"\n', 1, "gpu", "unknown key or table"),
    ('device = "CUDA0"\n', 1, "device", "expected tables [[device]]"),
    ('[[rpc]]\nendpoint = "192.168.1.20"\nusable_mib = 1000\n', 2, "rpc[0].endpoint", 'expected "host:port"'),
    ('[host]\nusable_ram_mib = 1000\n', 1, "host.ram_mib", "missing required field `ram_mib`"),
    ('[host]\nram_mib = 1000\nusable_ram_mib = 2000\n', 3, "host.usable_ram_mib", "more than ram_mib"),
    ('[host]\nram_mib = 1000\nthreads = 8.5\n', 3, "host.threads", "expected an integer"),
    ('[host]\nram_mib = 1000\n[llama]\nbuild = "6500"\n', 4, "llama.build", "expected an integer"),
])
def test_malformed_rig_files_name_file_line_and_field(tmp_path: Path, text: str, line: int, field: str | None,
                                                      words: str) -> None:
    path = tmp_path / "rig.toml"
    path.write_text(text)
    with pytest.raises(BadInput) as err:
        load_rig(path)
    assert (err.value.path, err.value.line, err.value.field) == (str(path), line, field)
    assert words in str(err.value)
    assert str(err.value).startswith(f"{path}:{line}: ")


def test_missing_and_binary_rig_files(tmp_path: Path) -> None:
    with pytest.raises(BadInput) as err:
        load_rig(tmp_path / "nope.toml")
    assert "rig file not found" in str(err.value) and "rigs/*.toml" in str(err.value)
    (tmp_path / "bin.toml").write_bytes(b'name = "a"\n\xff\xfe\n')
    with pytest.raises(BadInput) as err:
        load_rig(tmp_path / "bin.toml")
    assert err.value.line == 2 and "UTF-8" in str(err.value)


def test_a_rig_file_without_host_uses_this_machines_ram() -> None:
    rig = parse_rig('[[device]]\nname = "Vulkan0"\nbackend = "Vulkan"\nusable_mib = 2048\nmax_alloc_mib = 128\n',
                    "r.toml")
    assert rig.devices[0].max_alloc_mib == 128
    assert rig.host.ram_mib > 0 and any("no [host] table" in w for w in rig.warnings)


# ---- --device ------------------------------------------------------------------------------------
@pytest.mark.parametrize("text, expected", [
    ("CUDA0=22000", ("CUDA0", 22000.0)),
    ("Vulkan1=7.5GiB", ("Vulkan1", 7680.0)),
    ("CUDA0 = 1024 MiB", ("CUDA0", 1024.0)),
    ("RPC[10.0.0.2:50052]=11000", ("RPC[10.0.0.2:50052]", 11000.0)),
    ("Metal=12g", ("Metal", 12288.0)),
])
def test_device_option_parses(text: str, expected: tuple[str, float]) -> None:
    assert parse_device_option(text) == expected


@pytest.mark.parametrize("text, words", [
    ("CUDA0:22000", "expected NAME=MiB"),
    ("CUDA0=", "expected NAME=MiB"),
    ("=22000", "expected NAME=MiB"),
    ("CUDA0=lots", "is not a memory size"),
    ("CUDA0=0", "more than 0"),
    ("my gpu=100", "not a llama.cpp device name"),
    ("RPC[host]=100", "not a llama.cpp device name"),
])
def test_bad_device_options_say_how_to_write_them(text: str, words: str) -> None:
    with pytest.raises(BadInput) as err:
        parse_device_option(text)
    assert err.value.field == "--device" and words in str(err.value)
    assert "fix:" in str(err.value)


# ---- precedence ----------------------------------------------------------------------------------
@pytest.fixture
def root_with_rig(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.delenv("ONBOARD_RIG", raising=False)
    (tmp_path / "rig.toml").write_text(GOOD)
    return tmp_path


def test_root_rig_toml_beats_detection(root_with_rig: Path) -> None:
    rig = resolve_rig(root=root_with_rig)
    assert rig.name == "test rig" and rig.source == str(root_with_rig / "rig.toml")


def test_onboard_rig_beats_root_and_rig_option_beats_both(root_with_rig: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ONBOARD_RIG", str(RPC_EXAMPLE))
    assert resolve_rig(root=root_with_rig).source == str(RPC_EXAMPLE)
    assert resolve_rig(root=root_with_rig, rig_path=str(REFERENCE)).source == str(REFERENCE)


def test_device_options_beat_every_rig_and_keep_the_given_order(root_with_rig: Path) -> None:
    rig = resolve_rig(root=root_with_rig, rig_path=str(REFERENCE), devices=["CUDA1=8000", "CUDA0=20GiB"])
    assert [(d.name, d.usable_mib) for d in rig.devices] == [("CUDA1", 8000), ("CUDA0", 20480)]
    # a device the rig file knows keeps its other figures; the host comes from the file
    assert rig.devices[0].bandwidth_gbs == 896 and rig.devices[0].margin_mib == 512
    assert rig.host.ram_mib == 65536 and rig.source == f"--device over {REFERENCE}"


def test_device_options_alone_do_not_detect_gpus(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ONBOARD_RIG", raising=False)
    monkeypatch.setitem(sys.modules, "pynvml", None)  # were NVML asked, the warning would say so
    rig = resolve_rig(root=tmp_path, devices=["CUDA0=22000"])
    assert [(d.name, d.backend, d.bandwidth_gbs) for d in rig.devices] == [("CUDA0", "CUDA", None)]
    assert rig.source == "--device" and rig.host.ram_mib > 0
    assert not any("nvidia-ml-py" in w for w in rig.warnings)


def test_duplicate_device_option_is_refused() -> None:
    with pytest.raises(BadInput) as err:
        resolve_rig(rig_path=str(REFERENCE), devices=["CUDA0=1", "CUDA0=2"])
    assert "CUDA0 given twice" in str(err.value)


# ---- detection -----------------------------------------------------------------------------------
def test_detection_without_nvidia_library_is_normal(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "pynvml", None)  # as on a machine without nvidia-ml-py
    rig = detect_rig()
    assert rig.devices == [] and rig.source == "detected"
    assert any("nvidia-ml-py is not installed" in w and "--device" in w for w in rig.warnings)
    assert rig.host.ram_mib > 0 and rig.host.threads


def test_detection_on_this_machine() -> None:
    """Here: NVML either finds GPUs (named CUDA0.. in PCI bus order, free <= total) or warns."""
    warnings: list[str] = []
    gpus = detect_gpus(warnings)
    if gpus:
        assert [d.name for d in gpus] == [f"CUDA{i}" for i in range(len(gpus))]
        assert [d.pci_bus_id for d in gpus] == sorted(d.pci_bus_id for d in gpus)
        for d in gpus:
            assert 0 < d.usable_mib <= d.total_mib and d.backend == "CUDA"
            assert d.bandwidth_gbs is None or 100 < d.bandwidth_gbs < 20000
    else:
        assert len(warnings) == 1 and ("NVML" in warnings[0] or "nvidia-ml-py" in warnings[0])
    flags = detect_rig().host.cpu_flags
    if Path("/proc/cpuinfo").exists() and "avx2" in Path("/proc/cpuinfo").read_text():
        assert "avx2" in flags


def test_bandwidth_and_link_estimates_from_nvml_figures() -> None:
    assert memory_bandwidth_gbs(384, 10501) == pytest.approx(1008.1)  # RTX 4090 as NVML reports it
    assert memory_bandwidth_gbs(5120, 2619) == pytest.approx(3352.3)  # H100 SXM
    assert memory_bandwidth_gbs(None, 10501) is None
    assert pcie_link_gbs(4, 16) == 31.5 and pcie_link_gbs(5, 16) == 63.0 and pcie_link_gbs(None, 16) is None
