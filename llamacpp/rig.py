"""The rig a plan is made for: devices as llama.cpp names them, the host, RPC servers.

Plain data. It comes from, in order of precedence: ``--device NAME=MiB`` options, a rig file
(``--rig FILE`` / ``ONBOARD_RIG`` / ``<root>/rig.toml``), or detection (nvidia-ml-py, psutil).
Loading and detection live in ``rig_file`` and ``hardware``; the planner only reads these classes.
"""
from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class Device:
    """One accelerator as llama.cpp names it: ``CUDA0``, ``Vulkan0``, ``RPC0``, ...

    An RPC worker is device ``RPC<i>`` (``i`` = its place in ``--rpc``), but its buffers are
    named ``RPC<k>[host:port]`` (``k`` = the device's index on that rpc-server, ``rpc_index``):
    ``-ot`` accepts only the buffer name, and the log prints buffers under it (``buffer_name``).

    ``usable_mib`` is the memory the planner may fill (free memory for a detected device);
    ``margin_mib`` is kept free on top of the prediction; ``bandwidth_gbs`` (GB/s) drives the
    speed estimate; ``max_alloc_mib`` is the largest single buffer the backend allows (None:
    no limit known); ``pci_bus_id`` matches NVML devices to CUDA numbering.
    """

    name: str
    backend: str  # "CUDA", "Vulkan", "Metal", "RPC", ...
    usable_mib: float
    total_mib: float | None = None
    bandwidth_gbs: float | None = None
    max_alloc_mib: float | None = None
    margin_mib: float = 1024.0
    description: str | None = None
    pci_bus_id: str | None = None
    rpc_endpoint: str | None = None  # "host:port" for RPC devices
    link_gbs: float | None = None  # network/PCIe link to the host, GB/s
    rpc_index: int = 0  # the device's index on its rpc-server (RPC devices only)

    @property
    def buffer_name(self) -> str:
        """The name llama.cpp gives this device's buffers (and accepts in ``-ot``)."""
        if self.rpc_endpoint:
            return f"RPC{self.rpc_index}[{self.rpc_endpoint}]"
        return self.name


@dataclass
class Host:
    """The CPU side: RAM usable for weights and buffers, and its memory bandwidth."""

    ram_mib: float
    usable_ram_mib: float | None = None
    bandwidth_gbs: float | None = None
    cpu_name: str | None = None
    threads: int | None = None
    cpu_flags: tuple[str, ...] = ()  # e.g. ("avx2", "avx512f", "amx_tile") where known


@dataclass
class Rig:
    """Devices in llama.cpp's order (the last one gets the output layer), and the host."""

    devices: list[Device]
    host: Host
    name: str | None = None
    source: str = "detected"  # "detected", a rig file path, or "--device"
    llama_server: str | None = None  # path of the llama-server binary to use
    llama_build: int | None = None  # llama.cpp build number, for version-dependent rules
    warnings: list[str] = field(default_factory=list)

    def device(self, name: str) -> Device | None:
        return next((d for d in self.devices if d.name == name), None)
