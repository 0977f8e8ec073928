"""`onboard hardware [--rig FILE] [--device NAME=MiB]... [--json]`: the rig plans are made for.

Shows what ``resolve_rig`` settles on (``--device`` > ``--rig``/``ONBOARD_RIG`` > ``<root>/rig.toml``
> detection) so a person can check it before planning. Works outside a repository too: then
there is simply no ``rig.toml`` to find. The rig's rpc-server workers are listed with their
endpoint, usable memory and whether they answer now (a TCP connect with a short timeout), so a
worker that is down is seen here, not as a failed launch in the test phase.
"""
from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import click

from onboard.workflow.commands._common import handle_errors, print_json
from onboard.workflow.repo import find_root


def rig_to_json(rig: Any) -> dict[str, Any]:
    """The Rig as a plain dict (every dataclass field, ``source`` and ``warnings`` included)."""
    data = dataclasses.asdict(rig)
    data["host"]["cpu_flags"] = list(rig.host.cpu_flags)
    return data


def _mib(v: float | None) -> str:
    return "?" if v is None else f"{v:,.0f}"


def render_workers(workers: list[Any]) -> list[str]:
    """The workers' lines: device, endpoint, usable MiB, reachable or why not (and how to start it)."""
    if not workers:
        return []
    w = max(len(x.device) for x in workers)
    e = max(len(x.endpoint) for x in workers)
    lines = ["  workers (rpc-server, in --rpc order):"]
    for x in workers:
        state = "reachable" if x.reachable else f"NOT reachable ({x.error}): start it there: {x.start_command}"
        where = f"  [{x.declared_at}]" if x.declared_at else ""
        lines.append(f"    {x.device:<{w}}  {x.endpoint:<{e}}  usable {_mib(x.usable_mib):>8} MiB  {state}{where}")
    return lines


def render(rig: Any, workers: list[Any] | None = None) -> str:
    lines = [f"Rig: {rig.name or '(unnamed)'}   source: {rig.source}"]
    if rig.devices:
        w = max(len(d.name) for d in rig.devices)
        lines.append(f"  {'DEVICE':<{w}}  BACKEND  USABLE MiB  TOTAL MiB  MARGIN MiB  BANDWIDTH  DESCRIPTION")
        for d in rig.devices:
            bw = "?" if d.bandwidth_gbs is None else f"{d.bandwidth_gbs:g} GB/s"
            lines.append(f"  {d.name:<{w}}  {d.backend:<7}  {_mib(d.usable_mib):>10}  {_mib(d.total_mib):>9}  "
                         f"{_mib(d.margin_mib):>10}  {bw:>9}  {d.description or ''}")
    else:
        lines.append("  no GPU devices: plans will place everything on the CPU")
    h = rig.host
    bw = "bandwidth ?" if h.bandwidth_gbs is None else f"{h.bandwidth_gbs:g} GB/s"
    usable = "" if h.usable_ram_mib is None else f" ({_mib(h.usable_ram_mib)} MiB usable)"
    cpu = f"{h.cpu_name or 'CPU'}" + (f", {h.threads} threads" if h.threads else "")
    flags = f", flags: {' '.join(h.cpu_flags)}" if h.cpu_flags else ""
    lines.append(f"  host: {_mib(h.ram_mib)} MiB RAM{usable}, {bw}; {cpu}{flags}")
    lines += render_workers(workers or [])
    if rig.llama_server or rig.llama_build:
        lines.append(f"  llama-server: {rig.llama_server or '?'} (build {rig.llama_build or '?'})")
    for w_ in rig.warnings:
        lines.append(f"  warning: {w_}")
    return "\n".join(lines)


@click.command("hardware")
@click.option("--rig", "rig_path", type=click.Path(dir_okay=False), envvar="ONBOARD_RIG",
              help="Rig file to read instead of detecting this machine (see rigs/*.toml).")
@click.option("--device", "devices", multiple=True, metavar="NAME=MiB",
              help="Usable memory of a device, e.g. CUDA0=22000; repeat, in llama.cpp's order. Replaces detection.")
@click.option("--probe-timeout", type=click.FloatRange(0.1, 60.0), default=2.0, show_default=True,
              help="Seconds to wait for each rpc-server worker to accept a connection.")
@click.option("--json", "as_json", is_flag=True, help="machine-readable output")
@click.pass_context
@handle_errors
def command(ctx: click.Context, rig_path: str | None, devices: tuple[str, ...], probe_timeout: float,
            as_json: bool) -> int:
    """Show the rig plans are made for: detected GPUs and RAM, or a declared rig, and whether its
    rpc-server workers answer."""
    from onboard.llamacpp.hardware import resolve_rig
    from onboard.llamacpp.rpc_workers import probe_all, workers_of

    obj = ctx.find_root().obj or {}
    root = Path(obj["root"]) if obj.get("root") else find_root()
    rig = resolve_rig(devices=devices, rig_path=rig_path, root=root)
    workers = probe_all(workers_of(rig), probe_timeout)
    if as_json:
        print_json({**rig_to_json(rig), "workers": [w.to_json() for w in workers]})
    else:
        click.echo(render(rig, workers))
    return 0
