"""Recognisers for what the loader says about itself: the build, the devices (and their free
memory), the CPU features, a ``--fit`` dry run, the start of a load, how many layers were offloaded
and when the model is ready.

Each ``on_*`` function is a handler of the one table in :mod:`.table`: it gets the state, the
regex match and the line, and returns False only to let later rows see the line too.
"""
from __future__ import annotations

import re

from .state import STAGE_LOAD, STAGE_READY, LogState


def on_load_start(r: LogState, m: re.Match, line: str) -> None:
    r.new_load()
    r.stage = STAGE_LOAD


def on_layers(r: LogState, m: re.Match, line: str) -> None:
    if r.context_touched():  # printed before the model buffers of a new load
        r.new_load()
        r.stage = STAGE_LOAD
    r.layers = f"{m.group(1)}/{m.group(2)}"


def on_ready(r: LogState, m: re.Match, line: str) -> None:
    r.stage = STAGE_READY


def on_fit_start(r: LogState, m: re.Match, line: str) -> None:
    r.in_fit = True


def on_fit_end(r: LogState, m: re.Match, line: str) -> bool:
    r.in_fit = False
    return False  # "encountered an error while trying to fit" may also be read as an error


def on_build(r: LogState, m: re.Match, line: str) -> None:
    r.build = m.group(1).strip()


def on_build_kv(r: LogState, m: re.Match, line: str) -> None:
    r.build = f"{m.group(1)} ({m.group(2)})"


def on_build_info(r: LogState, m: re.Match, line: str) -> None:
    r.build_weak = m.group(1)


def _device(r: LogState, dev_id: str, name: str | None = None, free: int | None = None,
            total: int | None = None) -> None:
    entry = r.devices.setdefault(dev_id, {"id": dev_id, "name": None, "free_mib": None, "total_mib": None})
    if name and not entry["name"]:
        entry["name"] = name.strip()
    if free is not None:
        entry["free_mib"] = free
    if total is not None and entry["total_mib"] is None:
        entry["total_mib"] = total


def on_device_info(r: LogState, m: re.Match, line: str) -> None:
    _device(r, m.group(1), m.group(2), int(m.group(4)), int(m.group(3)))


def on_using_device(r: LogState, m: re.Match, line: str) -> None:
    dev_id = m.group(1)
    rest = line[m.end():]
    name = None
    group = _balanced(rest, rest.find("(")) if "(" in rest else None
    if group:
        name = group[0]
    free = re.search(r" - (\d+) MiB free", rest)
    _device(r, dev_id, name, int(free.group(1)) if free else None)


def on_found_devices(r: LogState, m: re.Match, line: str) -> None:
    r.gpu_family = m.group(2)


def on_cuda_device(r: LogState, m: re.Match, line: str) -> None:
    total = re.search(r"VRAM: (\d+) MiB", line)
    _device(r, f"{r.gpu_family}{m.group(1)}", m.group(2), None, int(total.group(1)) if total else None)


def on_vulkan_device(r: LogState, m: re.Match, line: str) -> None:
    _device(r, f"Vulkan{m.group(1)}", m.group(2))


def on_metal_device(r: LogState, m: re.Match, line: str) -> None:
    _device(r, "Metal", m.group(1))


def on_system_info(r: LogState, m: re.Match, line: str) -> bool:
    r.cpu_features = re.findall(r"\b([A-Z][A-Z0-9_]+) = 1\b", line)
    return False


def _balanced(text: str, start: int) -> tuple[str, int] | None:
    """The text inside the parenthesis group opening at ``text[start]``, and the index after it."""
    if start >= len(text) or text[start] != "(":
        return None
    depth = 0
    for i in range(start, len(text)):
        if text[i] == "(":
            depth += 1
        elif text[i] == ")":
            depth -= 1
            if depth == 0:
                return text[start + 1:i], i + 1
    return None
