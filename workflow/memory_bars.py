"""Per-device memory as bars in the terminal: what fills each GPU (and the host), and what is left.

People read placement at a glance from the offload bar LM Studio shows; a table of six MiB columns
per device is slower to read. One bar per device, full width = that device's memory (the host's RAM
would dwarf every GPU on a common scale), the sizes written beside it; predicted and measured side by
side, on the same scale, when both are known.
Plain characters (no colours), so the bars survive a log file, a pipe and a screen reader's copy.
"""
from __future__ import annotations

from collections.abc import Mapping

WIDTH = 40
PARTS = (("weights", "█"), ("kv", "▓"), ("compute", "▒"), ("overhead", "░"))
FREE = "·"
LEGEND = "  " + "  ".join(f"{mark} {name}" for name, mark in PARTS) + f"  {FREE} free"


def _gib(mib: float) -> str:
    return f"{mib / 1024:.1f} GiB" if mib >= 1024 else f"{mib:.1f} MiB"


def bar(parts: Mapping[str, float | None], capacity: float | None, scale: float, width: int = WIDTH) -> str:
    """``[███▓▒░····]``: each part's share of ``scale`` (MiB), then the free room up to ``capacity``."""
    cells: list[str] = []
    used = 0.0
    for name, mark in PARTS:
        mib = parts.get(name) or 0.0
        used += mib
        target = round(used / scale * width) if scale else 0
        cells += [mark] * max(0, target - len(cells))
    if capacity:
        target = round(min(capacity, scale) / scale * width)
        cells += [FREE] * max(0, target - len(cells))
    return "[" + "".join(cells[:width]).ljust(width) + "]"


def device_rows(devices: list[dict]) -> list[str]:
    """Lines for ``devices`` = ``[{name, capacity, predicted: {part: MiB}, measured: {part: MiB} | None}]``."""
    width = max(len(d["name"]) for d in devices) if devices else 0
    lines = []
    for d in devices:
        cap = d.get("capacity")
        totals = [sum(v or 0 for v in d[k].values()) for k in ("predicted", "measured") if d.get(k)]
        scale = max([cap or 0] + totals + [1.0])
        for label, key in (("predicted", "predicted"), ("measured ", "measured")):
            parts = d.get(key)
            if not parts:
                continue
            used = sum(v or 0 for v in parts.values())
            of = f" of {_gib(cap)}" if cap else ""
            tag = f" {label}" if d.get("measured") else ""
            lines.append(f"  {d['name']:<{width}}{tag} {bar(parts, cap, scale)} {_gib(used)}{of}")
    return lines + ([LEGEND] if lines else [])
