"""rpc-server workers of a rig: are they there, and which measured buffers are theirs.

Why a check before a launch: llama-server given ``--rpc host:port`` of a worker that is not
running does not say "worker down"; it fails while loading (or waits on the connection), and the
person reads a crash. A TCP connect to each endpoint first, with a short timeout, turns that into
one sentence naming the worker as the rig file declares it and the command that starts it.

Why match by buffer name: llama.cpp names a worker's *device* ``RPC<i>`` (its place in ``--rpc``)
but prints its *buffers* as ``RPC<k>[host:port]`` (``k`` = the device's index on that rpc-server,
usually 0 for every worker). The plan keys devices by device name and carries the buffer name;
the log keys buffers by buffer name. Measured memory goes to the plan's device through the plan's
buffer name, never through the device name (``RPC1`` is printed as ``RPC0[host:port]``).
"""
from __future__ import annotations

import re
import socket
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

from .errors import ExternalFailure
from .rig import Rig
from .server_command import flag_value

PROBE_TIMEOUT_S = 2.0
DEFAULT_PORT = 50052  # rpc-server's own default


@dataclass
class Worker:
    """One rpc-server device of a rig, where the rig file declares it, and whether it answers."""

    device: str  # RPC<i>, as llama.cpp names it
    endpoint: str  # host:port
    buffer: str  # RPC<k>[host:port], as the log and -ot name it
    usable_mib: float | None = None
    declared_at: str | None = None  # "rig.toml:12" (None: given by --device or not declared)
    reachable: bool | None = None  # None until probed
    error: str | None = None  # why it is not reachable

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @property
    def start_command(self) -> str:
        """What starts this worker, on its own machine (all interfaces, its port)."""
        return f"rpc-server -H 0.0.0.0 -p {port_of(self.endpoint)}"


def port_of(endpoint: str) -> int:
    try:
        return int(endpoint.rsplit(":", 1)[1])
    except (IndexError, ValueError):
        return DEFAULT_PORT


def host_of(endpoint: str) -> str:
    return endpoint.rsplit(":", 1)[0].strip("[]")


def workers_of(rig: Rig) -> list[Worker]:
    """The rig's workers in ``--rpc`` order, each with the rig file's line that declares it."""
    lines = _rig_lines(rig.source)
    return [Worker(device=d.name, endpoint=d.rpc_endpoint, buffer=d.buffer_name, usable_mib=d.usable_mib,
                   declared_at=_declared_at(rig.source, lines, d.rpc_endpoint))
            for d in rig.devices if d.rpc_endpoint]


def rpc_endpoints(argv: Sequence[str]) -> list[str]:
    """The endpoints a llama-server command line connects to (``--rpc a:1,b:2``), in order, once each."""
    value = flag_value(list(argv), "--rpc")
    if not value:
        return []
    return list(dict.fromkeys(e.strip() for e in value.split(",") if e.strip()))


def probe(endpoint: str, timeout: float = PROBE_TIMEOUT_S) -> str | None:
    """None when something accepts a TCP connection at ``endpoint``; else why not, in words."""
    try:
        with socket.create_connection((host_of(endpoint), port_of(endpoint)), timeout=timeout):
            return None
    except socket.timeout:
        return f"no answer within {timeout:g} s"
    except ConnectionRefusedError:
        return "connection refused: nothing listens on that port"
    except socket.gaierror as err:
        return f"unknown host ({err.strerror or err})"
    except OSError as err:
        return err.strerror or str(err)


def probe_all(workers: Iterable[Worker], timeout: float = PROBE_TIMEOUT_S) -> list[Worker]:
    """Each worker with ``reachable`` and ``error`` filled in (one endpoint is probed once)."""
    seen: dict[str, str | None] = {}
    out = list(workers)
    for w in out:
        if w.endpoint not in seen:
            seen[w.endpoint] = probe(w.endpoint, timeout)
        w.error = seen[w.endpoint]
        w.reachable = w.error is None
    return out


def require_reachable(argv: Sequence[str], rig: Rig | None = None, *, timeout: float = PROBE_TIMEOUT_S) -> list[Worker]:
    """Check that every worker the command line names (``--rpc``) answers, before launching it.

    The workers are named as the rig declares them (device, rig file and line) where it does.
    Raises ExternalFailure (exit 8) listing every worker that does not answer and the command
    that starts it; returns the workers checked (none when the command line has no ``--rpc``)."""
    declared = {w.endpoint: w for w in workers_of(rig)} if rig is not None else {}
    checked = []
    for i, endpoint in enumerate(rpc_endpoints(argv)):
        w = declared.get(endpoint) or Worker(device=f"RPC{i}", endpoint=endpoint, buffer=f"RPC0[{endpoint}]")
        checked.append(w)
    probe_all(checked, timeout)
    down = [w for w in checked if not w.reachable]
    if down:
        lines = []
        for w in down:
            where = f" (declared at {w.declared_at})" if w.declared_at else ""
            lines.append(f"worker {w.device} at {w.endpoint}{where} does not answer: {w.error}")
        starts = "; ".join(f"on {host_of(w.endpoint)}: {w.start_command}" for w in down)
        raise ExternalFailure("rpc-server worker not reachable, llama-server not started:\n  " + "\n  ".join(lines),
                              fix=f"start it ({starts}; build llama.cpp with -DGGML_RPC=ON), or remove the "
                                  "worker from the rig file and re-plan; see docs/remote-workers.md")
    return checked


def check_workers(argv: Sequence[str], *, root: Path | None = None, timeout: float = PROBE_TIMEOUT_S) -> list[Worker]:
    """:func:`require_reachable` for a profile's command line, with the workers named as the rig
    of the repository at ``root`` declares them (``ONBOARD_RIG`` / ``<root>/rig.toml``); the rig is
    read only when the command line has ``--rpc``."""
    if not rpc_endpoints(argv):
        return []
    from .hardware import resolve_rig

    return require_reachable(argv, resolve_rig(root=root), timeout=timeout)


def check_profile_workers(profile: Mapping[str, str], *, root: Path, timeout: float = PROBE_TIMEOUT_S) -> list[Worker]:
    """:func:`check_workers` for a models.conf profile (its values), as the test phase launches it."""
    from .server_command import build_server_argv

    return check_workers(build_server_argv(profile, binary="llama-server", root=root), root=root, timeout=timeout)


# ---- measured buffers -> plan devices ------------------------------------------------------------------
def buffer_of(device: str, plan_device: Mapping[str, Any] | None) -> str:
    """The name the log gives the device's buffers: the plan's ``buffer`` where it has one."""
    return str((plan_device or {}).get("buffer") or device)


def measured_mib(device: str, plan_device: Mapping[str, Any] | None, measured: Mapping[str, float]) -> float | None:
    """What the log measured for one plan device (one kind of buffer: ``measured`` maps the log's
    buffer names to MiB), found by the plan's buffer name; None when the log shows none."""
    value = measured.get(buffer_of(device, plan_device))
    return None if value is None else float(value)


def device_of_buffer(name: str, plan_devices: Mapping[str, Mapping[str, Any]]) -> str:
    """The plan device whose buffers the log prints as ``name`` (``RPC0[127.0.0.1:50053]`` -> ``RPC1``);
    the name itself when no plan device has that buffer name."""
    for device, facts in plan_devices.items():
        if buffer_of(device, facts) == name:
            return device
    return name


def device_label(name: str, plan_devices: Mapping[str, Mapping[str, Any]]) -> str:
    """A measured buffer's name as a person reads it next to the plan: ``RPC1 (RPC0[host:port])``
    for a worker, the name alone for a local device."""
    device = device_of_buffer(name, plan_devices)
    return name if device == name else f"{device} ({name})"


# ---- where the rig file declares a worker --------------------------------------------------------------
def _rig_lines(source: str) -> list[str] | None:
    path = Path(source)
    if source in ("detected", "--device") or not path.is_file():
        return None
    try:
        return path.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        return None


def _declared_at(source: str, lines: list[str] | None, endpoint: str | None) -> str | None:
    if not lines or not endpoint:
        return None
    pattern = re.compile(r"""^\s*(endpoint|name)\s*=\s*["'][^"']*""" + re.escape(endpoint))
    for no, line in enumerate(lines, 1):
        if pattern.match(line):
            return f"{source}:{no}"
    return None
