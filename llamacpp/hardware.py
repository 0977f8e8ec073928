"""Find the rig to plan for: detect this machine, or take what the person declared.

Detection reads NVIDIA GPUs through nvidia-ml-py (NVML) and RAM through psutil. No NVIDIA
library or no GPU is a normal case (a CPU-only machine, or planning for another rig): detection
then returns zero devices and a warning, never an error. Devices are ordered by PCI bus id and
named ``CUDA0``.. because the launcher sets ``CUDA_DEVICE_ORDER=PCI_BUS_ID``, which makes CUDA's
numbering (and so llama.cpp's names) follow the bus order too.

Precedence (``resolve_rig``): ``--device NAME=MiB`` > ``--rig FILE`` / ``ONBOARD_RIG`` >
``<root>/rig.toml`` > detection.
"""
from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Sequence

from .errors import BadInput
from .rig import Device, Host, Rig

# PCIe throughput per lane and direction, GB/s, after line coding (gen 1-2: 8b/10b, gen 3+: 128b/130b)
PCIE_LANE_GBS = {1: 0.25, 2: 0.5, 3: 0.985, 4: 1.969, 5: 3.938, 6: 7.563}
# CPU flags that matter to llama.cpp's CPU kernels (repacking, AMX buffers)
CPU_FLAGS_OF_INTEREST = ("avx", "avx2", "fma", "f16c", "avx512f", "avx512bw", "avx512_vnni",
                         "avx512_bf16", "amx_tile", "amx_int8", "amx_bf16")
NO_GPU_HINT = "declare GPUs with --device NAME=MiB or a rig file (--rig, rigs/*.toml) to plan for them"

# CUDA0, Vulkan1, RPC0, Metal; a worker may also be given by its buffer name RPC<k>[host:port]
# (or the old onboard spelling RPC[host:port], read with a deprecation warning)
_DEVICE_NAME = re.compile(r"^(?:RPC(?P<rpc_index>\d*)\[(?P<endpoint>[^\]]+:\d+)\]"
                          r"|(?P<backend>[A-Za-z][A-Za-z_]*?)(?P<index>\d+)|Metal)$")
_SIZE = re.compile(r"^\s*(?P<num>\d+(?:\.\d+)?)\s*(?P<unit>MiB|M|GiB|G)?\s*$", re.IGNORECASE)


# ---- detection ---------------------------------------------------------------------------------
def detect_host(warnings: list[str] | None = None) -> Host:
    """This machine's RAM (psutil), CPU name, thread count and relevant CPU flags (/proc/cpuinfo).

    ``usable_ram_mib`` is the RAM available now; the memory bandwidth is not measurable cheaply,
    so it stays unknown (None) unless a rig file declares it.
    """
    import psutil

    vm = psutil.virtual_memory()
    name, flags = _cpuinfo(warnings)
    return Host(ram_mib=vm.total / 2**20, usable_ram_mib=vm.available / 2**20, bandwidth_gbs=None,
                cpu_name=name, threads=psutil.cpu_count(logical=True) or os.cpu_count(), cpu_flags=flags)


def _cpuinfo(warnings: list[str] | None) -> tuple[str | None, tuple[str, ...]]:
    try:
        text = Path("/proc/cpuinfo").read_text(errors="replace")
    except OSError:
        if warnings is not None:
            warnings.append("CPU flags unknown (/proc/cpuinfo not readable): AVX-512/AMX repacking not predicted")
        return None, ()
    name = None
    flags: set[str] = set()
    for line in text.splitlines():
        key, _, value = line.partition(":")
        key = key.strip()
        if key == "model name" and name is None:
            name = value.strip()
        elif key == "flags" and not flags:
            flags = set(value.split())
    return name, tuple(f for f in CPU_FLAGS_OF_INTEREST if f in flags)


def memory_bandwidth_gbs(bus_width_bits: int | None, max_mem_clock_mhz: int | None) -> float | None:
    """Peak memory bandwidth from NVML's memory bus width and maximum memory clock.

    NVML reports the memory clock at half the effective data rate for GDDR and HBM alike, hence
    the factor 2: RTX 4090 384 bit x 10501 MHz -> 1008 GB/s; H100 SXM 5120 bit x 2619 MHz -> 3352 GB/s.
    """
    if not bus_width_bits or not max_mem_clock_mhz:
        return None
    return round(bus_width_bits / 8 * max_mem_clock_mhz * 1e6 * 2 / 1e9, 1)


def pcie_link_gbs(gen: int | None, width: int | None) -> float | None:
    if not gen or not width or gen not in PCIE_LANE_GBS:
        return None
    return round(PCIE_LANE_GBS[gen] * width, 1)


def detect_gpus(warnings: list[str]) -> list[Device]:
    """NVIDIA GPUs through NVML, ordered by PCI bus id and named CUDA0, CUDA1, ...

    Returns [] with a warning when nvidia-ml-py or the NVIDIA driver is absent.
    """
    try:
        import pynvml
    except ImportError:
        warnings.append(f"no GPU detection: nvidia-ml-py is not installed; {NO_GPU_HINT}")
        return []
    try:
        pynvml.nvmlInit()
    except pynvml.NVMLError as err:
        warnings.append(f"no NVIDIA GPU detected (NVML: {err}); planning for the CPU only; {NO_GPU_HINT}")
        return []
    except OSError as err:  # a broken driver install can surface as a loader error
        warnings.append(f"no NVIDIA GPU detected ({err}); {NO_GPU_HINT}")
        return []
    try:
        found = []
        for i in range(pynvml.nvmlDeviceGetCount()):
            handle = pynvml.nvmlDeviceGetHandleByIndex(i)
            found.append(_describe_gpu(pynvml, handle, warnings))
    except pynvml.NVMLError as err:
        warnings.append(f"NVML failed while reading GPUs ({err}); {NO_GPU_HINT}")
        return []
    finally:
        try:
            pynvml.nvmlShutdown()
        except pynvml.NVMLError:
            pass
    found.sort(key=lambda d: (d.pci_bus_id or "").lower())
    for i, dev in enumerate(found):
        dev.name = f"CUDA{i}"
    if not found:
        warnings.append(f"NVML found no GPU; {NO_GPU_HINT}")
    return found


def _optional(call, *args):  # type: ignore[no-untyped-def]
    """An NVML query that some GPUs or drivers do not support: None instead of an error."""
    import pynvml

    try:
        return call(*args)
    except (pynvml.NVMLError, AttributeError):
        return None


def _describe_gpu(pynvml, handle, warnings: list[str]) -> Device:  # type: ignore[no-untyped-def]
    name = pynvml.nvmlDeviceGetName(handle)
    name = name.decode() if isinstance(name, bytes) else name
    mem = pynvml.nvmlDeviceGetMemoryInfo(handle)
    bus = pynvml.nvmlDeviceGetPciInfo(handle).busId
    bus = bus.decode() if isinstance(bus, bytes) else bus
    width = _optional(pynvml.nvmlDeviceGetMemoryBusWidth, handle)
    clock = _optional(pynvml.nvmlDeviceGetMaxClockInfo, handle, pynvml.NVML_CLOCK_MEM)
    gen = _optional(pynvml.nvmlDeviceGetMaxPcieLinkGeneration, handle)
    lanes = _optional(pynvml.nvmlDeviceGetMaxPcieLinkWidth, handle)
    cur_gen = _optional(pynvml.nvmlDeviceGetCurrPcieLinkGeneration, handle)
    cur_lanes = _optional(pynvml.nvmlDeviceGetCurrPcieLinkWidth, handle)
    bandwidth = memory_bandwidth_gbs(width, clock)
    if bandwidth is None:
        warnings.append(f"{name} ({bus}): memory bandwidth unknown (NVML gave no bus width/clock)")
    link = f", PCIe gen{cur_gen} x{cur_lanes} now (max gen{gen} x{lanes})" if cur_gen else ""
    return Device(
        name="", backend="CUDA", usable_mib=mem.free / 2**20, total_mib=mem.total / 2**20,
        bandwidth_gbs=bandwidth, max_alloc_mib=None, description=f"{name}{link}", pci_bus_id=bus,
        link_gbs=pcie_link_gbs(gen, lanes),
    )


def detect_rig() -> Rig:
    """This machine: NVIDIA GPUs (NVML) and host RAM (psutil). No GPU = zero devices + a warning."""
    warnings: list[str] = []
    devices = detect_gpus(warnings)
    host = detect_host(warnings)
    return Rig(devices=devices, host=host, name="this machine", source="detected", warnings=warnings)


# ---- --device NAME=MiB ---------------------------------------------------------------------------
def backend_of(name: str) -> str:
    m = _DEVICE_NAME.match(name)
    if m is None:
        raise ValueError(name)
    if m.group("endpoint"):
        return "RPC"
    if name == "Metal":
        return "Metal"
    return m.group("backend")


def parse_device_option(text: str) -> tuple[str, float]:
    """``NAME=MiB`` (``CUDA0=22000``, ``Vulkan0=7.5GiB``, ``RPC0[10.0.0.2:50052]=11000``) -> (name, MiB)."""
    example = "e.g. --device CUDA0=22000 (MiB; a GiB suffix is accepted: CUDA0=21.5GiB)"
    name, sep, size = text.partition("=")
    name = name.strip()
    if not sep or not name or not size.strip():
        raise BadInput(f"{text!r}: expected NAME=MiB", field="--device", fix=example)
    if _DEVICE_NAME.match(name) is None:
        raise BadInput(f"{text!r}: {name!r} is not a llama.cpp device name (CUDA0, Vulkan1, Metal, "
                       "RPC0, RPC0[host:port], ...)", field="--device", fix="use the names `llama-server --list-devices` prints")
    m = _SIZE.match(size)
    if m is None:
        raise BadInput(f"{text!r}: {size.strip()!r} is not a memory size", field="--device", fix=example)
    mib = float(m.group("num")) * (1024 if (m.group("unit") or "").lower() in ("gib", "g") else 1)
    if mib <= 0:
        raise BadInput(f"{text!r}: usable memory must be more than 0", field="--device", fix=example)
    return name, mib


def devices_from_options(options: Sequence[str], known: Sequence[Device] = (),
                         warnings: list[str] | None = None) -> list[Device]:
    """Devices in the order given. A device also known from the rig file or detection keeps its
    other figures (bandwidth, margin, bus id, a worker's endpoint); only its usable memory is
    replaced. A worker is ``RPC<i>`` (known from the rig file) or its buffer name
    ``RPC<k>[host:port]``; workers are then named ``RPC0``, ``RPC1``, ... in the order given,
    as llama.cpp names the devices of ``--rpc``."""
    from .rig_file import name_rpc_devices

    by_name = {d.name: d for d in known}
    by_buffer = {d.buffer_name: d for d in known if d.rpc_endpoint}
    out: list[Device] = []
    seen: set[str] = set()
    for opt in options:
        name, mib = parse_device_option(opt)
        m = _DEVICE_NAME.match(name)
        key = f"RPC{m.group('rpc_index') or 0}[{m.group('endpoint')}]" if m and m.group("endpoint") else name
        if key in seen:
            raise BadInput(f"{name} given twice", field="--device", fix="give each device once")
        seen.add(key)
        base = by_name.get(name) or by_buffer.get(key)
        if base is not None:
            out.append(Device(**{**base.__dict__, "usable_mib": mib}))
        elif m and m.group("endpoint"):
            if not m.group("rpc_index") and warnings is not None:
                warnings.append(f"--device {name}: this spelling is deprecated; llama.cpp names the worker RPC<i> "
                                f"and its buffers RPC0[{m.group('endpoint')}]: write --device RPC0[{m.group('endpoint')}]=MiB")
            out.append(Device(name=key, backend="RPC", usable_mib=mib, rpc_endpoint=m.group("endpoint"),
                              rpc_index=int(m.group("rpc_index") or 0)))
        else:
            out.append(Device(name=name, backend=backend_of(name), usable_mib=mib))
            if out[-1].backend == "RPC" and warnings is not None:
                warnings.append(f"--device {name}: the worker's address is unknown, so the arguments cannot name it "
                                f"(--rpc, -ot): give it as --device {name}[host:port]=MiB or in the rig file's [[rpc]]")
    return name_rpc_devices(out)


# ---- precedence ---------------------------------------------------------------------------------
def resolve_rig(*, devices: Sequence[str] = (), rig_path: str | None = None, root: Path | None = None) -> Rig:
    """The rig to plan for: ``--device`` > ``--rig`` / ``ONBOARD_RIG`` > ``<root>/rig.toml`` > detection.

    ``--device`` replaces the devices of whatever rig is below it and keeps its host; with no rig
    file, GPUs are not detected at all (the person said which devices to plan for).
    """
    from .rig_file import load_rig

    path = rig_path or os.environ.get("ONBOARD_RIG") or None
    if path is None and root is not None and (Path(root) / "rig.toml").is_file():
        path = str(Path(root) / "rig.toml")
    if path is not None:
        rig = load_rig(path)
    elif devices:
        warnings: list[str] = []
        rig = Rig(devices=[], host=detect_host(warnings), name="this machine", source="detected",
                  warnings=warnings)
    else:
        return detect_rig()
    if devices:
        rig.devices = devices_from_options(devices, rig.devices, rig.warnings)
        rig.source = "--device" if path is None else f"--device over {path}"
    return rig
