"""Read a declared rig from a TOML file, so a plan can be made for a machine other than this one.

The file is data read with the standard library's ``tomllib`` (never executed). Every mistake is
a :class:`BadInput` naming the file, the line where it can be found, and the field: a person
editing a rig file by hand should never see a traceback. Schema (see ``rigs/*.toml``)::

    name = "my rig"                  # optional
    [[device]]                       # one per accelerator, in llama.cpp's order
    name = "CUDA0"                   # required: llama.cpp's device name
    backend = "CUDA"                 # required
    usable_mib = 23000               # required: what the planner may fill
    total_mib = 24564                # optional numbers: total_mib, bandwidth_gbs, max_alloc_mib,
    bandwidth_gbs = 1008             #   margin_mib, link_gbs
    margin_mib = 768
    pci_bus_id = "00000000:01:00.0"  # optional strings: pci_bus_id, description
    [host]                           # optional (this machine's RAM is used when absent)
    ram_mib = 65536                  # required in [host]
    usable_ram_mib = 60000           # optional: usable_ram_mib, bandwidth_gbs, cpu_name, threads, cpu_flags
    [[rpc]]                          # an rpc-server: device "RPC<i>" (i = its place among the workers,
    endpoint = "192.168.1.20:50052"  #   the order of --rpc); required, with usable_mib
    device_index = 0                 # optional: the device's index on that rpc-server (its buffers are
                                     #   named RPC<device_index>[host:port], the name -ot takes)

A ``[[device]]`` named ``RPC[host:port]`` (the spelling of older onboard versions, which
llama.cpp never used) or ``RPC<k>[host:port]`` (the buffer name) is read as a worker, with a
deprecation warning for the former.
    [llama]
    server = "/path/to/llama-server" # optional: server (path), build (int)
"""
from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .errors import BadInput
from .rig import Device, Host, Rig

# field -> (kind, required). kind: "num" (int or float), "int", "str", "strlist"
_Schema = dict[str, tuple[str, bool]]

DEVICE_FIELDS: _Schema = {
    "name": ("str", True),
    "backend": ("str", True),
    "usable_mib": ("num", True),
    "total_mib": ("num", False),
    "bandwidth_gbs": ("num", False),
    "max_alloc_mib": ("num", False),
    "margin_mib": ("num", False),
    "pci_bus_id": ("str", False),
    "description": ("str", False),
    "link_gbs": ("num", False),
}
HOST_FIELDS: _Schema = {
    "ram_mib": ("num", True),
    "usable_ram_mib": ("num", False),
    "bandwidth_gbs": ("num", False),
    "cpu_name": ("str", False),
    "threads": ("int", False),
    "cpu_flags": ("strlist", False),
}
RPC_FIELDS: _Schema = {
    "endpoint": ("str", True),
    "usable_mib": ("num", True),
    "total_mib": ("num", False),
    "link_gbs": ("num", False),
    "bandwidth_gbs": ("num", False),
    "max_alloc_mib": ("num", False),
    "margin_mib": ("num", False),
    "description": ("str", False),
    "device_index": ("int", False),
}
LLAMA_FIELDS: _Schema = {"server": ("str", False), "build": ("int", False)}
TOP_LEVEL = {"name": "str", "device": "array", "host": "table", "rpc": "array", "llama": "table"}

_ENDPOINT = re.compile(r"^[A-Za-z0-9._\-\[\]:]+:\d{1,5}$")
# a worker named in a [[device]] entry: RPC[host:port] (old onboard spelling) or RPC<k>[host:port]
_RPC_DEVICE = re.compile(r"^RPC(?P<index>\d*)\[(?P<endpoint>[^\]]+:\d{1,5})\]$")
_KIND_TEXT = {"num": "a number", "int": "an integer", "str": "a string", "strlist": "a list of strings"}


@dataclass
class _Locator:
    """Finds the line of a table or key in the file text, for messages (tomllib gives no positions
    for valid TOML, so the text is scanned: good enough for the plain layout rig files use)."""

    lines: list[str]

    def table_line(self, table: str, index: int | None = None) -> int | None:
        header = re.compile(r"^\s*\[\[\s*" + re.escape(table) + r"\s*\]\]" if index is not None
                            else r"^\s*\[\s*" + re.escape(table) + r"\s*\]")
        seen = -1
        for no, line in enumerate(self.lines, 1):
            if header.match(line):
                seen += 1
                if index is None or seen == index:
                    return no
        return None

    def key_line(self, key: str, table: str | None = None, index: int | None = None) -> int | None:
        start = self.table_line(table, index) if table else 0
        if table and start is None:
            return None
        key_re = re.compile(r"^\s*" + re.escape(key) + r"\s*=")
        for no in range((start or 0) + 1, len(self.lines) + 1):
            line = self.lines[no - 1]
            if table is None and re.match(r"^\s*\[", line):
                return None  # top-level keys end at the first table
            if table and no > (start or 0) and re.match(r"^\s*\[", line):
                return None
            if key_re.match(line):
                return no
        return None


def _check_type(value: Any, kind: str) -> bool:
    if kind == "num":
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if kind == "int":
        return isinstance(value, int) and not isinstance(value, bool)
    if kind == "str":
        return isinstance(value, str)
    if kind == "strlist":
        return isinstance(value, list) and all(isinstance(v, str) for v in value)
    raise AssertionError(kind)


def _validate(table: dict, schema: _Schema, where: str, path: str, loc: _Locator, tname: str,
              index: int | None) -> dict:
    """Check one table against its schema; return it unchanged."""
    table_line = loc.table_line(tname, index)
    header = f"[[{tname}]]" if index is not None else f"[{tname}]"
    for key, value in table.items():
        if key not in schema:
            raise BadInput(f"unknown key in {where}; known keys: {', '.join(schema)}",
                           path=path, line=loc.key_line(key, tname, index) or table_line,
                           field=f"{where}.{key}", fix="remove it or correct its spelling")
        kind, _ = schema[key]
        if not _check_type(value, kind):
            example = {"num": f"{key} = 1024", "int": f"{key} = 8", "str": f'{key} = "..."',
                       "strlist": f'{key} = ["..."]'}[kind]
            raise BadInput(f"expected {_KIND_TEXT[kind]}, got {type(value).__name__} {value!r}",
                           path=path, line=loc.key_line(key, tname, index) or table_line,
                           field=f"{where}.{key}", fix=f"write it as {example}" + (" (no quotes)" if kind in
                                                                                  ("num", "int") else ""))
        if kind in ("num", "int") and value < 0:
            raise BadInput(f"must not be negative, got {value!r}", path=path,
                           line=loc.key_line(key, tname, index) or table_line, field=f"{where}.{key}",
                           fix="write the size in MiB as a number of 0 or more" if key.endswith("_mib")
                           else "write a number of 0 or more")
    for key, (_, required) in schema.items():
        if required and key not in table:
            raise BadInput(f"missing required field `{key}` in {where}", path=path, line=table_line,
                           field=f"{where}.{key}", fix=f"add `{key} = ...` under {header}")
    return table


def _num(v: Any) -> float | None:
    return None if v is None else float(v)


def _toml(text: str, path: str) -> dict[str, Any]:
    """``tomllib.loads`` with a syntax error turned into BadInput naming path:line and the column."""
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        # tomllib's messages end with "(at line L, column C)"
        m = re.search(r"\(at line (\d+), column (\d+)\)", str(err))
        line = int(m.group(1)) if m else None
        msg = re.sub(r"\s*\(at line \d+, column \d+\)", "", str(err)) if m else str(err)
        if m:
            msg += f" (column {m.group(2)})"
        raise BadInput(f"not valid TOML: {msg}", path=path, line=line,
                       fix="correct that line (TOML: key = value, strings in quotes; see rigs/*.toml)") from None


def parse_rig(text: str, path: str = "rig.toml") -> Rig:
    """Parse rig-file text (``path`` is used in messages and as the rig's ``source``)."""
    data = _toml(text, path)
    loc = _Locator(text.splitlines())
    for key, value in data.items():
        if key not in TOP_LEVEL:
            raise BadInput(f"unknown key or table; known: {', '.join(TOP_LEVEL)}", path=path,
                           line=loc.key_line(key) or loc.table_line(key) or loc.table_line(key, 0),
                           field=key, fix="remove it or correct its spelling")
        want = TOP_LEVEL[key]
        ok = (isinstance(value, str) if want == "str" else isinstance(value, dict) if want == "table"
              else isinstance(value, list) and all(isinstance(v, dict) for v in value))
        if not ok:
            shape = {"str": "a string", "table": f"a table [{key}]", "array": f"tables [[{key}]]"}[want]
            raise BadInput(f"expected {shape}", path=path,
                           line=loc.key_line(key) or loc.table_line(key), field=key)

    warnings: list[str] = []
    devices: list[Device] = []
    seen: dict[str, str] = {}
    for i, d in enumerate(data.get("device", [])):
        where = f"device[{i}]"
        _validate(d, DEVICE_FIELDS, where, path, loc, "device", i)
        if d["name"] in seen:
            raise BadInput(f"device name {d['name']!r} repeats {seen[d['name']]}", path=path,
                           line=loc.key_line("name", "device", i), field=f"{where}.name")
        seen[d["name"]] = where
        rpc_name = _RPC_DEVICE.match(d["name"])
        if rpc_name and not rpc_name.group("index"):
            warnings.append(f"{path}:{loc.key_line('name', 'device', i) or '?'}: device name {d['name']!r} is deprecated: "
                            "llama.cpp names a worker RPC<i> and its buffers RPC<k>[host:port]; declare it as "
                            f'[[rpc]] endpoint = "{rpc_name.group("endpoint")}"')
        devices.append(Device(
            name=d["name"], backend="RPC" if rpc_name else d["backend"], usable_mib=float(d["usable_mib"]),
            rpc_endpoint=rpc_name.group("endpoint") if rpc_name else None,
            rpc_index=int(rpc_name.group("index") or 0) if rpc_name else 0,
            total_mib=_num(d.get("total_mib")), bandwidth_gbs=_num(d.get("bandwidth_gbs")),
            max_alloc_mib=_num(d.get("max_alloc_mib")),
            margin_mib=float(d.get("margin_mib", Device.margin_mib)),
            description=d.get("description"), pci_bus_id=d.get("pci_bus_id"), link_gbs=_num(d.get("link_gbs")),
        ))
        _check_usable(devices[-1], path, loc.key_line("usable_mib", "device", i), where)
    for i, r in enumerate(data.get("rpc", [])):
        where = f"rpc[{i}]"
        _validate(r, RPC_FIELDS, where, path, loc, "rpc", i)
        endpoint = r["endpoint"]
        if not _ENDPOINT.match(endpoint):
            raise BadInput(f"expected \"host:port\", got {endpoint!r}", path=path,
                           line=loc.key_line("endpoint", "rpc", i), field=f"{where}.endpoint",
                           fix='write it as rpc-server prints it, e.g. endpoint = "192.168.1.20:50052"')
        index = int(r.get("device_index", 0))
        name = f"RPC{index}[{endpoint}]"
        if name in seen:
            raise BadInput(f"RPC endpoint {endpoint!r} repeats {seen[name]}", path=path,
                           line=loc.key_line("endpoint", "rpc", i), field=f"{where}.endpoint",
                           fix="give each worker once (device_index = N for a second device of one rpc-server)")
        seen[name] = where
        devices.append(Device(
            name=name, backend="RPC", rpc_index=index, usable_mib=float(r["usable_mib"]), total_mib=_num(r.get("total_mib")),
            bandwidth_gbs=_num(r.get("bandwidth_gbs")), max_alloc_mib=_num(r.get("max_alloc_mib")),
            margin_mib=float(r.get("margin_mib", Device.margin_mib)), description=r.get("description"),
            rpc_endpoint=endpoint, link_gbs=_num(r.get("link_gbs")),
        ))
        _check_usable(devices[-1], path, loc.key_line("usable_mib", "rpc", i), where)

    devices = name_rpc_devices(devices)
    host: Host | None = None
    if "host" in data:
        h = _validate(data["host"], HOST_FIELDS, "host", path, loc, "host", None)
        host = Host(ram_mib=float(h["ram_mib"]), usable_ram_mib=_num(h.get("usable_ram_mib")),
                    bandwidth_gbs=_num(h.get("bandwidth_gbs")), cpu_name=h.get("cpu_name"),
                    threads=h.get("threads"), cpu_flags=tuple(h.get("cpu_flags", ())))
        if host.usable_ram_mib is not None and host.usable_ram_mib > host.ram_mib:
            raise BadInput(f"usable_ram_mib {h['usable_ram_mib']} is more than ram_mib {h['ram_mib']}",
                           path=path, line=loc.key_line("usable_ram_mib", "host"), field="host.usable_ram_mib")
    llama = _validate(data.get("llama", {}), LLAMA_FIELDS, "llama", path, loc, "llama", None)

    if host is None:
        from .hardware import detect_host  # a rig file may leave the host to this machine

        host = detect_host(warnings)
        warnings.append(f"{path}: no [host] table: using this machine's RAM ({host.ram_mib:.0f} MiB)")
    return Rig(devices=devices, host=host, name=data.get("name"), source=str(path),
               llama_server=llama.get("server"), llama_build=llama.get("build"), warnings=warnings)


def name_rpc_devices(devices: list[Device]) -> list[Device]:
    """Name the workers as llama.cpp does: ``RPC0``, ``RPC1``, ... in the order they are listed
    (the order of ``--rpc``); their buffers keep ``RPC<k>[host:port]`` (``Device.buffer_name``).
    Two devices of one rpc-server are two workers with the same endpoint and different indexes."""
    out: list[Device] = []
    i = 0
    for d in devices:
        if d.rpc_endpoint:
            d = Device(**{**d.__dict__, "name": f"RPC{i}", "backend": "RPC"})
            i += 1
        out.append(d)
    return out


def _check_usable(dev: Device, path: str, line: int | None, where: str) -> None:
    if dev.total_mib is not None and dev.usable_mib > dev.total_mib:
        raise BadInput(f"usable_mib {dev.usable_mib:g} is more than total_mib {dev.total_mib:g}",
                       path=path, line=line, field=f"{where}.usable_mib")


def load_rig(path: str | Path) -> Rig:
    """Read a rig file. A missing or unreadable file, bad TOML or a schema error: BadInput."""
    return parse_rig(_read_text(path), str(path))


def read_rig_toml(path: str | Path) -> dict[str, Any]:
    """The rig file as a TOML table, WITHOUT the schema check.

    For a reader of one setting (``onboard serve`` wants only the llama-server path) that must not
    fail on an unrelated mistake in ``[[device]]``, yet must refuse, naming file:line, a file that
    is not TOML at all (else the setting would be silently ignored)."""
    return _toml(_read_text(path), str(path))


def _read_text(path: str | Path) -> str:
    """The file's text; missing, unreadable or not UTF-8: BadInput naming it (and the line)."""
    from .input_files import read_bytes_limited

    raw = read_bytes_limited(path, "rig file")
    if raw is None:
        raise BadInput("rig file not found", path=str(path),
                       fix="check the path, or copy one of rigs/*.toml and edit it")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as err:
        line = raw[: err.start].count(b"\n") + 1
        raise BadInput("not UTF-8 text", path=str(path), line=line, fix="save the rig file as UTF-8 text") from None
    return text
