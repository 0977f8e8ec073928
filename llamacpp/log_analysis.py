"""Read a llama-server / llama-cli log like an expert would: what was loaded where, whether it ran out
of memory (on which device, in which phase, asking how much), what killed it, and how fast it ran.

Why a table of patterns: llama.cpp renames its messages every few months (``llm_load_tensors:`` ->
``load_tensors:``, ``llama_kv_cache_init:`` -> ``llama_kv_cache:``, ``graph splits = N`` ->
``graph: nodes = N, splits = M``) and forks print their own variants. Each row of :data:`_ROWS` says
which message it recognises and what it means; the reader is a small state machine that keeps the
*last complete* load and context (a ``--fit`` dry run, a retried load or a second context replaces
the earlier one). Patterns are searched, not anchored, so lines wrapped in timestamps, pids, colour
codes, docker or journald prefixes are read the same; ``--log-jsonl`` lines are decoded first.

Speed: a log is scanned a block of lines at a time with ``str.find`` for each keyword of
:data:`_KEYWORDS` (C speed); only the lines holding a keyword reach the regexes, and only the rows
filed under the keywords found. :func:`analyze_file` streams blocks of about 1 MiB, so memory does
not grow with the log.
"""
from __future__ import annotations

import json
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Callable, Iterable, Iterator

from llamacpp.errors import BadInput

__all__ = ["LogReport", "LogSource", "analyze_log", "analyze_lines", "analyze_file", "diagnose", "phase_text",
           "require_text_log"]

# Lines longer than this are cut before matching: no llama.cpp message we read is longer, and it
# bounds the regex work a garbage or binary "line" can cause.
_MAX_LINE = 4096
# Files are read and scanned in blocks of whole lines of about this size: memory stays bounded.
_BLOCK = 1 << 20

OOM_PHASES = ("model_load", "kv_cache", "compute_buffer", "runtime", "other")


@dataclass
class LogReport:
    """What one log says. ``to_json()`` is the contract of issue 5 (plus ``output_buffers_mib``,
    ``oom_asked_mib``, ``oom_free_mib`` and ``warnings``); unknown values are ``None``."""

    build: str | None = None
    devices: list[dict] = field(default_factory=list)
    model_buffers_mib: dict[str, float] = field(default_factory=dict)
    kv_buffers_mib: dict[str, float] = field(default_factory=dict)
    compute_buffers_mib: dict[str, float] = field(default_factory=dict)
    output_buffers_mib: dict[str, float] = field(default_factory=dict)
    n_ctx: int | None = None
    type_k: str | None = None
    type_v: str | None = None
    layers_offloaded: str | None = None
    graph_nodes: int | None = None
    graph_splits: int | None = None
    oom: bool = False
    oom_phase: str | None = None
    oom_device: str | None = None
    oom_asked_mib: float | None = None
    oom_free_mib: float | None = None
    fatal_error: str | None = None
    prompt_tps: float | None = None
    gen_tps: float | None = None
    warnings: list[str] = field(default_factory=list)
    # Not part of the JSON: CPU features the build reported, for the SIGILL diagnosis.
    cpu_features: list[str] = field(default_factory=list, repr=False)
    # Not part of the JSON: the OOM_PHASES name of the load step the log stops in when it ends in
    # the middle of a load with neither an OOM nor a fatal error (the load never finished: the log
    # was copied too early, or the server was stopped); None when the log gets past the load.
    unfinished: str | None = field(default=None, repr=False)
    # Not part of the JSON: what the file itself held (set by analyze_file), see LogSource.
    source: "LogSource | None" = field(default=None, repr=False)

    def to_json(self) -> dict:
        return {
            "build": self.build,
            "devices": [dict(d) for d in self.devices],
            "model_buffers_mib": dict(self.model_buffers_mib),
            "kv_buffers_mib": dict(self.kv_buffers_mib),
            "compute_buffers_mib": dict(self.compute_buffers_mib),
            "output_buffers_mib": dict(self.output_buffers_mib),
            "n_ctx": self.n_ctx,
            "type_k": self.type_k,
            "type_v": self.type_v,
            "layers_offloaded": self.layers_offloaded,
            "graph_nodes": self.graph_nodes,
            "graph_splits": self.graph_splits,
            "oom": self.oom,
            "oom_phase": self.oom_phase,
            "oom_device": self.oom_device,
            "oom_asked_mib": self.oom_asked_mib,
            "oom_free_mib": self.oom_free_mib,
            "fatal_error": self.fatal_error,
            "prompt_tps": self.prompt_tps,
            "gen_tps": self.gen_tps,
            "warnings": list(self.warnings),
        }


# ----------------------------------------------------------------------------------------------
# Line cleaning: prefixes, colours, JSON lines
# ----------------------------------------------------------------------------------------------

_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
# Applied repeatedly at the start of a line (a journald line can wrap a docker line can wrap a
# llama.cpp line). Each one is a prefix some tool adds; none can eat a llama.cpp message.
_PREFIXES = [
    re.compile(r"^[\w.-]+\s+\|\s?"),  # docker compose: "ollama  | "
    re.compile(r"^(?:[A-Z][a-z]{2}\s+\d{1,2}\s+)?\d\d:\d\d:\d\d\s+(?:\S+\s+)?[\w.\-/@]+\[\d+\]:\s?"),  # syslog
    re.compile(r"^[\w.\-/@]+\[\d+\]:\s?"),  # journald short: "ollama[1186]: "
    re.compile(r"^\[?\d{4}-\d\d-\d\d[T ]\d\d:\d\d:\d\d(?:[.,]\d+)?(?:Z|[+-]\d\d:?\d\d)?\]?\s+"),  # ISO time
    re.compile(r"^\[(?:Info|INFO|Warning|WARNING|Warn|WARN|Error|ERROR|Debug|DEBUG)\]\s+(?:\(\w+\)\s+)?"),
    re.compile(r"^\[\d+\]\s?"),  # "[42027] " pid
    re.compile(r"^\d+\.\d\d\.\d{3}\.\d{3} [IWEDT] (?:[a-z]{2,4} +(?=\S+:))?"),  # llama.cpp's own
    re.compile(r"^\s*[IWE] (?=\S+: )"),  # level letter only
]


def _strip_prefixes(line: str) -> str:
    for _ in range(8):
        for rx in _PREFIXES:
            m = rx.match(line)
            if m and m.end() > 0:
                line = line[m.end():]
                break
        else:
            break
    return line.strip()


def _json_messages(line: str) -> list[str] | None:
    """A ``--log-jsonl`` line (or an old server JSON log line) -> its message lines; None if the
    line is not a JSON object."""
    try:
        obj = json.loads(line)
    except ValueError:
        return None
    if not isinstance(obj, dict):
        return None
    msg = obj.get("msg", obj.get("message"))
    out: list[str] = []
    if msg == "build info" and "build" in obj:  # old server: {"message":"build info","build":1696,...}
        out.append(f"build = {obj['build']} ({obj.get('commit', 'unknown')})")
    elif msg == "system info" and isinstance(obj.get("system_info"), str):
        out.append("system_info: " + obj["system_info"])
    elif isinstance(msg, str):
        out.extend(part for part in msg.split("\n") if part.strip())
    return out


# ----------------------------------------------------------------------------------------------
# The reader
# ----------------------------------------------------------------------------------------------

_STAGE_NONE, _STAGE_LOAD, _STAGE_CTX, _STAGE_KV, _STAGE_READY = range(5)
_STAGE_PHASE = {
    _STAGE_NONE: "other",
    _STAGE_LOAD: "model_load",
    _STAGE_CTX: "kv_cache",
    _STAGE_KV: "compute_buffer",
    _STAGE_READY: "runtime",
}


def _num(text: str) -> float | None:
    try:
        value = float(text)
    except ValueError:
        return None
    if value != value or value in (float("inf"), float("-inf")):
        return None
    return value


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


class _Reader:
    """Feeds log lines through :data:`_ROWS`; keeps the current load attempt and its context, the
    devices, the build, the last completed request and the worst fatal line seen."""

    def __init__(self) -> None:
        self.build: str | None = None
        self.build_weak: str | None = None  # "build_info: b0-unknown": only if nothing better
        self.devices: dict[str, dict] = {}
        self.gpu_family = "CUDA"
        self.cpu_features: list[str] = []
        self.in_fit = False
        self.stage = _STAGE_NONE
        self.warnings: list[str] = []
        self._new_load(initial=True)
        # timings
        self.pending_prompt: dict[str | None, float | None] = {}
        self.speed: tuple[float | None, float | None] | None = None
        # failure
        self.fatal: tuple[int, str] | None = None

    # -- load / context lifecycle ---------------------------------------------------------------
    def _new_load(self, initial: bool = False) -> None:
        if not initial and getattr(self, "oom", False):
            self._warn(f"an earlier load attempt ran out of memory on {self.oom_device or 'a device'}; "
                       "a later attempt is reported")
        self.model: dict[str, float] = {}
        self.layers: str | None = None
        self.oom = False
        self.oom_phase: str | None = None
        self.oom_phase_explicit = False
        self.oom_device: str | None = None
        self.oom_asked: float | None = None
        self._new_context()

    def _new_context(self) -> None:
        self.kv: dict[str, float] = {}
        self.compute: dict[str, float] = {}
        self.output: dict[str, float] = {}
        self.n_ctx: int | None = None
        self.type_k: str | None = None
        self.type_v: str | None = None
        self.graph_nodes: int | None = None
        self.graph_splits: int | None = None

    def _context_touched(self) -> bool:
        return bool(self.kv or self.compute or self.output or self.n_ctx is not None
                    or self.graph_splits is not None)

    def _warn(self, text: str) -> None:
        if text not in self.warnings:
            self.warnings.append(text)

    # -- feeding ----------------------------------------------------------------------------------
    def feed_block(self, block: str) -> None:
        """Read a block of whole lines: find each keyword with ``str.find`` and dispatch only the
        lines that hold one, in their order, to the rows filed under the keywords they hold."""
        if "\x1b" in block:
            block = _ANSI.sub("", block)
        if "\r" in block:
            block = block.replace("\r\n", "\n").replace("\r", "\n")
        hits: dict[int, list[str]] = {}
        find, rfind = block.find, block.rfind
        for key in _KEYWORDS:
            i = find(key)
            while i != -1:
                start = rfind("\n", 0, i) + 1
                hits.setdefault(start, []).append(key)
                end = find("\n", i)
                if end == -1:
                    break
                i = find(key, end)
        for start in sorted(hits):
            end = find("\n", start)
            line = block[start:] if end == -1 else block[start:end]
            brace = line.find("{")
            if brace != -1 and ('"msg"' in line or '"message"' in line):  # --log-jsonl, maybe prefixed
                messages = _json_messages(line[brace:].strip())
                if messages is not None:
                    for message in messages:
                        self.feed_line(message)
                    continue
            self._dispatch(line[:_MAX_LINE], hits[start])

    def feed_line(self, line: str) -> None:
        """Read one line (the slow path, for messages decoded from JSON lines)."""
        if "\x1b" in line:
            line = _ANSI.sub("", line)
        keys = [key for key in _KEYWORDS if key in line]
        if keys:
            self._dispatch(line[:_MAX_LINE], keys)

    def _dispatch(self, line: str, keys: list[str]) -> None:
        indexes = _ROWS_BY_KEY[keys[0]] if len(keys) == 1 else sorted({i for k in keys for i in _ROWS_BY_KEY[k]})
        for index in indexes:
            row = _ROWS[index]
            if row.data and self.in_fit:
                continue
            if row.needle not in line:
                continue
            m = row.regex.search(line)
            if m is None:
                continue
            if row.handler(self, m, line) is not False:
                return

    # -- result -----------------------------------------------------------------------------------
    def report(self) -> LogReport:
        build = self.build or self.build_weak
        fatal = None
        if self.fatal is not None:
            priority, text = self.fatal
            if not (self.oom and priority <= 1):
                fatal = text
        free = None
        if self.oom and self.oom_device in self.devices and self.oom_device.upper() != "CPU":
            start_free = self.devices[self.oom_device].get("free_mib")
            if start_free is not None:
                used = sum(d.get(self.oom_device, 0.0) for d in (self.model, self.kv, self.compute, self.output))
                free = round(max(start_free - used, 0.0), 2)
        prompt_tps, gen_tps = self.speed if self.speed else (None, None)
        return LogReport(
            build=build,
            devices=[dict(d) for d in self.devices.values() if d["id"].upper() != "CPU"],
            model_buffers_mib=_rounded(self.model),
            kv_buffers_mib=_rounded(self.kv),
            compute_buffers_mib=_rounded(self.compute),
            output_buffers_mib=_rounded(self.output),
            n_ctx=self.n_ctx,
            type_k=self.type_k,
            type_v=self.type_v,
            layers_offloaded=self.layers,
            graph_nodes=self.graph_nodes,
            graph_splits=self.graph_splits,
            oom=self.oom,
            oom_phase=(self.oom_phase or "other") if self.oom else None,
            oom_device=self.oom_device if self.oom else None,
            oom_asked_mib=round(self.oom_asked, 2) if self.oom and self.oom_asked is not None else None,
            oom_free_mib=free,
            fatal_error=fatal,
            prompt_tps=prompt_tps,
            gen_tps=gen_tps,
            warnings=list(self.warnings),
            cpu_features=list(self.cpu_features),
            unfinished=_STAGE_PHASE[self.stage] if self.stage in (_STAGE_LOAD, _STAGE_CTX, _STAGE_KV)
            and not self.oom and fatal is None else None,
        )


def _rounded(values: dict[str, float]) -> dict[str, float]:
    return {key: round(value, 2) for key, value in values.items()}


# ----------------------------------------------------------------------------------------------
# Handlers: one small function per meaning. Return False to let later rows see the line too.
# ----------------------------------------------------------------------------------------------

def _add(target: dict[str, float], key: str, mib: str) -> None:
    value = _num(mib)
    if value is not None:
        target[key] = target.get(key, 0.0) + value


def _on_load_start(r: _Reader, m: re.Match, line: str) -> None:
    r._new_load()
    r.stage = _STAGE_LOAD


def _on_model_buffer(r: _Reader, m: re.Match, line: str) -> None:
    if r._context_touched():  # a model buffer after a context = a new load (a retry, a draft model)
        r._new_load()
    r.stage = _STAGE_LOAD
    _add(r.model, m.group(1), m.group(2))


def _on_context_start(r: _Reader, m: re.Match, line: str) -> None:
    r._new_context()
    r.stage = _STAGE_CTX


def _on_n_ctx(r: _Reader, m: re.Match, line: str) -> None:
    if r._context_touched():
        r._new_context()
    r.n_ctx = int(m.group(1))
    r.stage = _STAGE_CTX


def _on_output_buffer(r: _Reader, m: re.Match, line: str) -> None:
    if r.compute:  # old builds print it between the KV and compute buffers of the same context
        r._new_context()
    _add(r.output, m.group(1), m.group(2))
    r.stage = max(r.stage, _STAGE_CTX)


def _on_kv_buffer(r: _Reader, m: re.Match, line: str) -> None:
    if r.compute or r.graph_splits is not None:  # the KV cache of a second context
        r._new_context()
    _add(r.kv, m.group(1), m.group(2))
    r.stage = _STAGE_KV


def _on_compute_buffer(r: _Reader, m: re.Match, line: str) -> None:
    if r.graph_splits is not None:  # a second reservation of the same context replaces the first
        r.compute = {}
        r.graph_splits = r.graph_nodes = None
    _add(r.compute, m.group(1), m.group(2))
    r.stage = max(r.stage, _STAGE_KV)


def _on_kv_types(r: _Reader, m: re.Match, line: str) -> None:
    r.type_k, r.type_v = m.group(1), m.group(2)


def _on_layers(r: _Reader, m: re.Match, line: str) -> None:
    if r._context_touched():  # printed before the model buffers of a new load
        r._new_load()
        r.stage = _STAGE_LOAD
    r.layers = f"{m.group(1)}/{m.group(2)}"


def _on_graph_nodes(r: _Reader, m: re.Match, line: str) -> bool:
    r.graph_nodes = int(m.group(1) or m.group(2))
    return False  # the new format has nodes and splits on one line


def _on_graph_splits(r: _Reader, m: re.Match, line: str) -> None:
    r.graph_splits = int(m.group(1) or m.group(2))
    r.stage = _STAGE_READY


def _on_ready(r: _Reader, m: re.Match, line: str) -> None:
    r.stage = _STAGE_READY


def _on_fit_start(r: _Reader, m: re.Match, line: str) -> None:
    r.in_fit = True


def _on_fit_end(r: _Reader, m: re.Match, line: str) -> bool:
    r.in_fit = False
    return False  # "encountered an error while trying to fit" may also be read as an error


def _on_build(r: _Reader, m: re.Match, line: str) -> None:
    r.build = m.group(1).strip()


def _on_build_kv(r: _Reader, m: re.Match, line: str) -> None:
    r.build = f"{m.group(1)} ({m.group(2)})"


def _on_build_info(r: _Reader, m: re.Match, line: str) -> None:
    r.build_weak = m.group(1)


def _device(r: _Reader, dev_id: str, name: str | None = None, free: int | None = None,
            total: int | None = None) -> None:
    entry = r.devices.setdefault(dev_id, {"id": dev_id, "name": None, "free_mib": None, "total_mib": None})
    if name and not entry["name"]:
        entry["name"] = name.strip()
    if free is not None:
        entry["free_mib"] = free
    if total is not None and entry["total_mib"] is None:
        entry["total_mib"] = total


def _on_device_info(r: _Reader, m: re.Match, line: str) -> None:
    _device(r, m.group(1), m.group(2), int(m.group(4)), int(m.group(3)))


def _on_using_device(r: _Reader, m: re.Match, line: str) -> None:
    dev_id = m.group(1)
    rest = line[m.end():]
    name = None
    group = _balanced(rest, rest.find("(")) if "(" in rest else None
    if group:
        name = group[0]
    free = re.search(r" - (\d+) MiB free", rest)
    _device(r, dev_id, name, int(free.group(1)) if free else None)


def _on_found_devices(r: _Reader, m: re.Match, line: str) -> None:
    r.gpu_family = m.group(2)


def _on_cuda_device(r: _Reader, m: re.Match, line: str) -> None:
    total = re.search(r"VRAM: (\d+) MiB", line)
    _device(r, f"{r.gpu_family}{m.group(1)}", m.group(2), None, int(total.group(1)) if total else None)


def _on_vulkan_device(r: _Reader, m: re.Match, line: str) -> None:
    _device(r, f"Vulkan{m.group(1)}", m.group(2))


def _on_metal_device(r: _Reader, m: re.Match, line: str) -> None:
    _device(r, "Metal", m.group(1))


def _on_system_info(r: _Reader, m: re.Match, line: str) -> bool:
    r.cpu_features = re.findall(r"\b([A-Z][A-Z0-9_]+) = 1\b", line)
    return False


_TASK = re.compile(r"\btask (\d+)\b|id_task=(\d+)")


def _task_key(line: str) -> str | None:
    m = _TASK.search(line)
    return (m.group(1) or m.group(2)) if m else None


def _speed(m: re.Match) -> float | None:
    tps = m.group("tps")
    if tps is not None:
        value = _num(tps)
        return round(value, 2) if value is not None else None
    ms = _num(m.group("ms")) if m.group("ms") else None
    return round(1000.0 / ms, 2) if ms else None


def _on_prompt_timing(r: _Reader, m: re.Match, line: str) -> None:
    r.pending_prompt[_task_key(line)] = _speed(m)


def _on_gen_timing(r: _Reader, m: re.Match, line: str) -> None:
    key = _task_key(line)
    if key in r.pending_prompt:
        prompt = r.pending_prompt.pop(key)
    else:
        prompt = r.pending_prompt.pop(None, None)
    r.speed = (prompt, _speed(m))


# -- out of memory ------------------------------------------------------------------------------

def _oom(r: _Reader, *, device: str | None = None, asked_mib: float | None = None,
         phase: str | None = None) -> None:
    if not r.oom:
        r.oom = True
        r.oom_phase = _STAGE_PHASE[r.stage]
    if device and (r.oom_device is None or r.oom_device == "?"):
        r.oom_device = device
    if asked_mib is not None and r.oom_asked is None:
        r.oom_asked = asked_mib
    if phase and not r.oom_phase_explicit:
        r.oom_phase = phase
        r.oom_phase_explicit = True


def _on_pinned(r: _Reader, m: re.Match, line: str) -> None:
    r._warn("pinned host memory could not be allocated; llama.cpp fell back to ordinary memory "
            "(not an out-of-memory: host<->device copies are slower)")


def _on_pp_retry(r: _Reader, m: re.Match, line: str) -> None:
    """The compute buffer did not fit with pipeline parallelism; llama.cpp retries without it, so
    the allocation failure before this line was not fatal."""
    r.oom = False
    r.oom_phase = r.oom_device = r.oom_asked = None
    r.oom_phase_explicit = False
    r.compute = {}
    r._warn("the compute buffer did not fit with pipeline parallelism; llama.cpp retried without it")


def _on_cuda_malloc(r: _Reader, m: re.Match, line: str) -> None:
    _oom(r, device=f"{r.gpu_family}{m.group(2)}", asked_mib=_num(m.group(1)))


def _on_failed_buffer(r: _Reader, m: re.Match, line: str) -> None:
    phase = "compute_buffer" if "gallocr" in line else None
    size = _num(m.group(2))
    _oom(r, device=m.group(1), asked_mib=size / 1048576.0 if size is not None else None, phase=phase)


def _on_unable_buffer(r: _Reader, m: re.Match, line: str) -> None:
    _oom(r, device=m.group(1), phase="model_load")


def _on_backend_buffer(r: _Reader, m: re.Match, line: str) -> None:
    _oom(r, phase="model_load")


def _on_aligned_malloc(r: _Reader, m: re.Match, line: str) -> None:
    _oom(r, device="CPU", asked_mib=_num(m.group(1)))


def _on_kv_alloc_failed(r: _Reader, m: re.Match, line: str) -> None:
    _oom(r, phase="kv_cache")


def _on_compute_alloc_failed(r: _Reader, m: re.Match, line: str) -> None:
    _oom(r, phase="compute_buffer")


def _on_cuda_oom(r: _Reader, m: re.Match, line: str) -> None:
    _oom(r)  # the next line says "current device: N, in function ..."


def _on_current_device(r: _Reader, m: re.Match, line: str) -> None:
    if r.oom and r.oom_device is None:
        r.oom_device = f"{r.gpu_family}{m.group(1)}"


def _on_vulkan_alloc(r: _Reader, m: re.Match, line: str) -> None:
    size = _num(m.group(1))
    _oom(r, asked_mib=size / 1048576.0 if size is not None else None)


def _on_metal_oom(r: _Reader, m: re.Match, line: str) -> None:
    _oom(r, device="Metal")


def _on_bad_alloc(r: _Reader, m: re.Match, line: str) -> None:
    _oom(r, device="CPU")


def _on_generic_oom(r: _Reader, m: re.Match, line: str) -> None:
    _oom(r)


# -- fatal errors and notes ---------------------------------------------------------------------

def _fatal(priority: int) -> Callable[[_Reader, re.Match, str], None]:
    def handler(r: _Reader, m: re.Match, line: str) -> None:
        if r.fatal is None or priority > r.fatal[0]:
            r.fatal = (priority, _strip_prefixes(line)[:300])
    return handler


def _warning(text: str) -> Callable[[_Reader, re.Match, str], None]:
    def handler(r: _Reader, m: re.Match, line: str) -> None:
        r._warn(text.format(*m.groups()))
    return handler


@dataclass(frozen=True)
class _Row:
    """One message llama.cpp prints: a cheap substring that must be present, the regex that reads
    it, and what it means. ``data`` rows describe buffers of a load and are ignored inside a
    ``--fit`` dry run."""

    needle: str
    regex: re.Pattern
    handler: Callable[[_Reader, re.Match, str], object]
    data: bool = False


def _row(needle: str, pattern: str, handler: Callable, data: bool = False) -> _Row:
    return _Row(needle, re.compile(pattern), handler, data)


_MIB = r"([0-9]+(?:\.[0-9]+)?) MiB"
_TPS = r"(?:(?P<tps>[0-9.]+|inf|nan) tokens per second|(?P<ms>[0-9.]+) ms per token\))"

# Order matters: the first row whose handler does not return False consumes the line.
_ROWS: list[_Row] = [
    # --fit dry run window (its zero-sized buffers are not the real load)
    _row("param", r"fitting params to device memory", _on_fit_start),
    _row("param", r"getting device memory data for initial", _on_fit_start),
    _row("param", r"fitting params to free memory took", _on_fit_end),
    _row("param", r"failed to fit params|error while trying to fit params", _on_fit_end),
    # non-fatal allocation trouble, before any out-of-memory row can see it
    _row("emory", r"pinned (?:host )?memory", _on_pinned),
    _row("retrying without pipeline parallelism", r"retrying without pipeline parallelism", _on_pp_retry),
    # build and devices
    _row("build", r"\bbuild(?:\s*[:=])?\s+(\d+ \([^)]*\))(?= with |\s*$)", _on_build),
    _row("build=", r"\bbuild=(\d+) commit=\"?(\w+)", _on_build_kv),
    _row("build_info: ", r"build_info: (\S+)", _on_build_info),
    _row("system_info", r"system_info", _on_system_info),
    _row("MiB free", r"-\s+(\S+)\s*:\s+(.+?)\s+\((\d+) MiB, (\d+) MiB free\)", _on_device_info),
    _row("evice", r"using device (\S+) ", _on_using_device),
    _row("evice", r"found (\d+) (CUDA|ROCm|MUSA|SYCL) devices", _on_found_devices),
    _row("evice", r"(?:^|\s)Device (\d+): ([^,]+),", _on_cuda_device),
    _row("ggml_vulkan: ", r"ggml_vulkan: (\d+) = (.+?) \(", _on_vulkan_device),
    _row("GPU name", r"ggml_metal\w*: GPU name:\s+(.+)", _on_metal_device),
    # load and context
    _row("loading model tensors", r"loading model tensors", _on_load_start, data=True),
    _row("model buffer size", r"(\S+) model buffer size\s*=\s*" + _MIB, _on_model_buffer, data=True),
    _row(" buffer size", r"load_tensors:\s+(\S+) buffer size\s*=\s*" + _MIB, _on_model_buffer, data=True),
    _row("constructing llama_context", r"constructing llama_context", _on_context_start, data=True),
    _row("n_ctx ", r"(?:llama_context|llama_new_context_with_model|llama_init_from_model)"
         r":\s+n_ctx\s*=\s*(\d+)", _on_n_ctx, data=True),
    _row("output buffer size", r"(\S+)\s+output buffer size\s*=\s*" + _MIB, _on_output_buffer, data=True),
    _row("KV buffer size", r"(\S+) KV buffer size\s*=\s*" + _MIB, _on_kv_buffer, data=True),
    _row("compute buffer size", r"(\S+) compute buffer size\s*=\s*" + _MIB, _on_compute_buffer, data=True),
    _row("K (", r"\bK \((\w+)\):.*?\bV \((\w+)\):", _on_kv_types, data=True),
    _row("type_k", r"type_k\s*=\s*'?(\w+)'?,\s*type_v\s*=\s*'?(\w+)'?", _on_kv_types, data=True),
    _row("offloaded", r"offloaded (\d+)/(\d+) layers", _on_layers, data=True),
    _row("graph", r"graph nodes\s*=\s*(\d+)|graph: nodes\s*=\s*(\d+)", _on_graph_nodes, data=True),
    _row("graph", r"graph splits(?: \(measure\))?\s*[=:]\s*(\d+)|graph: nodes\s*=\s*\d+,\s*splits\s*=\s*(\d+)",
         _on_graph_splits, data=True),
    _row("model loaded", r"\bmodel loaded\b", _on_ready),
    _row("listening", r"listening (?:on|at) http|HTTP server listening|server is listening", _on_ready),
    # speeds: final timing lines only (progress lines say "progress" or "n_decoded", not "eval time")
    _row("prompt eval time", r"prompt eval time\s*=\s*[0-9.]+ ms\s*/\s*\d+ tokens\s*\([^)]*?" + _TPS,
         _on_prompt_timing),
    _row("eval time", r"(?<!prompt )\beval time\s*=\s*[0-9.]+ ms\s*/\s*\d+ (?:tokens|runs)\s*\([^)]*?" + _TPS,
         _on_gen_timing),
    # out of memory
    _row("alloc", r"allocating ([0-9.]+) MiB on device (\d+): \w*Malloc failed: out of memory",
         _on_cuda_malloc),
    _row("alloc", r"failed to allocate (\S+) buffer of size (\d+)", _on_failed_buffer),
    _row("alloc", r"unable to allocate (\S+) buffer", _on_unable_buffer),
    _row("alloc", r"unable to allocate backend buffer", _on_backend_buffer),
    _row("emory", r"insufficient memory \(attempted to allocate ([0-9.]+) MB\)", _on_aligned_malloc),
    _row("alloc", r"failed to allocate buffer for kv", _on_kv_alloc_failed),
    _row("alloc", r"failed to allocate compute buffers?", _on_compute_alloc_failed),
    _row("emory", r"CUDA error: out of memory", _on_cuda_oom),
    _row("evice", r"current device: (\d+)", _on_current_device),
    _row("evice", r"Device memory allocation of size (\d+) failed", _on_vulkan_alloc),
    _row("emory", r"ErrorOutOf(?:Device|Host)Memory", _on_generic_oom),
    _row("emory", r"kIOGPUCommandBufferCallbackErrorOutOfMemory", _on_metal_oom),
    _row("alloc", r"std::bad_alloc", _on_bad_alloc),
    _row("emory", r"out of memory", _on_generic_oom),
    # fatal errors, most specific first (priority 3 > 2 > 1; 1 = generic aftermath of another error)
    _row("invalid magic", r"invalid magic", _fatal(3)),
    _row("failed to open GGUF file", r"failed to open GGUF file", _fatal(3)),
    _row("not within the file bounds", r"not within the file bounds", _fatal(3)),
    _row("GGML_ASSERT", r"GGML_ASSERT", _fatal(3)),
    # ggml_abort prints "path/file.cpp:930: message"
    *[_row(f".{ext}:", rf"(?:^|\s)\S+\.{ext}:\d+: \S", _fatal(3)) for ext in ("c", "cpp", "cu")],
    _row("Illegal instruction", r"Illegal instruction", _fatal(3)),
    _row("SIGILL", r"SIGILL", _fatal(3)),
    _row("egmentation fault", r"[Ss]egmentation fault", _fatal(3)),
    _row("segfault at", r"segfault at", _fatal(3)),
    _row("what():", r"what\(\):", _fatal(3)),
    _row("CUDA error", r"CUDA error: ", _fatal(3)),
    _row("bind", r"couldn't bind|failed to bind|Address already in use", _fatal(3)),
    _row("error loading model", r"error loading model", _fatal(2)),
    _row("terminate called", r"terminate called", _fatal(1)),
    _row("failed to load model", r"failed to load model", _fatal(1)),
    _row("model loading error", r"exiting due to model loading error", _fatal(1)),
    _row("failed to create context", r"failed to create (?:context|_context)|failed to initialize the context",
         _fatal(1)),
    _row("core dumped", r"core dumped|Aborted", _fatal(1)),
    # notes a person should see
    _row("exceeds the training context", r"slot context \((\d+)\) exceeds the training context of the model "
         r"\((\d+)\)", _warning("the context ({0}) exceeds the model's training context ({1}); the server caps it")),
    _row("possible training context overflow", r"n_ctx_seq \((\d+)\) > n_ctx_train \((\d+)\)",
         _warning("n_ctx per sequence ({0}) is larger than the training context ({1})")),
    _row("AMX is not ready", r"AMX is not ready", _warning("AMX is not ready to be used")),
    _row("free memory target", r"cannot meet free memory target of (\d+) MiB, need to reduce device memory by "
         r"(\d+) MiB", _warning("--fit changed the placement to keep {0} MiB free (it had to move {1} MiB off the "
                                 "devices): what was loaded is --fit's choice, not the command line's")),
    _row("working set", r"greater than the recommended max working set size",
         _warning("Metal allocations exceed the recommended max working set size: expect swapping or a failure")),
]

# Every row's needle holds one of these keywords: a line without any is never looked at. A row is
# filed under the first keyword its needle holds; a line is tried only against the rows filed
# under the keywords found in it (in table order).
_KEYWORDS: tuple[str, ...] = (
    "buffer size", "MiB free", "n_ctx ", "offloaded", "graph", "build", "system_info", "evice", "ggml_vulkan",
    "GPU name", "loading model tensors", "constructing", "K (", "type_k", "model loaded", "listening",
    "eval time", "param", "emory", "retrying", "alloc", "fail", "rror", "magic", "bounds", "ASSERT", ".c:",
    ".cpp:", ".cu:", "Illegal", "SIGILL", "egmentation", "segfault", "what()", "bind", "terminate",
    "core dumped", "training context", "AMX is not", "working set", "free memory target",
)


def _file_rows() -> dict[str, list[int]]:
    by_key: dict[str, list[int]] = {key: [] for key in _KEYWORDS}
    for index, row in enumerate(_ROWS):
        key = next((k for k in _KEYWORDS if k in row.needle), None)
        if key is None:  # a programming error in the table, caught by any import
            raise AssertionError(f"row needle {row.needle!r} holds no keyword of _KEYWORDS")
        by_key[key].append(index)
    return by_key


_ROWS_BY_KEY = _file_rows()


# ----------------------------------------------------------------------------------------------
# Entry points
# ----------------------------------------------------------------------------------------------

def _blocks_of_lines(lines: Iterable[str]) -> Iterator[str]:
    """Join lines into blocks of about :data:`_BLOCK` characters."""
    batch: list[str] = []
    size = 0
    for line in lines:
        batch.append(line)
        size += len(line) + 1
        if size >= _BLOCK:
            yield "\n".join(batch)
            batch, size = [], 0
    if batch:
        yield "\n".join(batch)


def _analyze_blocks(blocks: Iterable[str]) -> LogReport:
    reader = _Reader()
    for block in blocks:
        reader.feed_block(block)
    return reader.report()


def analyze_lines(lines: Iterable[str]) -> LogReport:
    """Analyse an iterable of log lines (line ends optional)."""
    return _analyze_blocks(_blocks_of_lines(line.rstrip("\r\n") for line in lines))


def analyze_log(text: str) -> LogReport:
    """Analyse a whole log given as text."""
    return _analyze_blocks(_blocks_of_text(text))


def _blocks_of_text(text: str) -> Iterator[str]:
    """Cut a text into blocks of whole lines of about :data:`_BLOCK` characters."""
    start = 0
    while start < len(text):
        end = text.find("\n", start + _BLOCK)
        if end == -1:
            yield text[start:]
            return
        yield text[start:end]
        start = end + 1


@dataclass
class LogSource:
    """What a log file held as bytes, so that a caller can tell a log from something that is not one.

    The analyser itself reads anything (garbage never raises): whether an empty or binary file is an
    error is the caller's decision (:func:`require_text_log`), made with the line named.
    """

    size_bytes: int = 0
    lines: int = 0
    has_text: bool = False  # anything but whitespace
    binary_line: int | None = None  # first line holding a NUL byte, or of a mostly undecodable start
    invalid_utf8_line: int | None = None  # first line holding bytes that are not UTF-8 (read as U+FFFD)

    def take(self, data: bytes) -> str:
        """Account for one block of whole lines and decode it (invalid UTF-8 replaced)."""
        first_line = self.lines + 1
        self.size_bytes += len(data)
        self.lines += data.count(b"\n")
        if self.binary_line is None and b"\x00" in data:
            self.binary_line = first_line + data.count(b"\n", 0, data.index(b"\x00"))
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as err:
            if self.invalid_utf8_line is None:
                self.invalid_utf8_line = first_line + data.count(b"\n", 0, err.start)
            text = data.decode("utf-8", errors="replace")
            if self.binary_line is None and first_line == 1 and text.count("\ufffd") > len(text) // 10:
                self.binary_line = self.invalid_utf8_line  # a tenth undecodable: not text at all
        if not self.has_text and text.strip():
            self.has_text = True
        return text


def _binary_blocks(stream: IO[bytes], source: LogSource | None = None) -> Iterator[str]:
    """Blocks of whole decoded lines, read :data:`_BLOCK` bytes at a time (invalid UTF-8 is replaced,
    never an error). A "line" longer than a block (a binary file) is cut, so memory stays bounded.
    ``source`` (if given) records what the bytes were: size, lines, NUL bytes, invalid UTF-8."""
    source = source if source is not None else LogSource()
    rest = b""
    while True:
        data = stream.read(_BLOCK)
        if not data:
            if rest:
                yield source.take(rest)
            return
        data = rest + data
        cut = data.rfind(b"\n")
        if cut == -1:
            if len(data) < _BLOCK:
                rest = data
                continue
            cut = len(data) - 1
        rest = data[cut + 1:]
        yield source.take(data[:cut + 1])


def analyze_file(path: str | Path) -> LogReport:
    """Analyse a log file (``-`` = standard input), streaming it a block of lines at a time.

    Raises :class:`BadInput` naming the file when it cannot be read."""
    source = LogSource()
    if str(path) == "-":
        report = _analyze_blocks(_binary_blocks(sys.stdin.buffer, source))
    else:
        from .input_files import check_regular

        check_regular(path, "llama-server log")  # a FIFO would block, a device never end
        try:
            with open(path, "rb") as stream:
                report = _analyze_blocks(_binary_blocks(stream, source))
        except OSError as err:
            reason = err.strerror or str(err)
            raise BadInput(f"cannot read the log: {reason}", path=str(path),
                           fix="give the path of a llama-server log file, or - for standard input") from None
    report.source = source
    return report


def require_text_log(report: LogReport, path: str | Path) -> None:
    """Refuse what is not a log at all: an empty file, or binary data (BadInput naming file:line).

    Why not in :func:`analyze_file`: the analyser reads anything without failing (a library that
    never crashes on garbage); a person who hands a file to ``logs analyze`` or ``advance --log``
    should instead be told that the file is no log, rather than get an empty diagnosis. Bytes that
    are not UTF-8 inside a text log are no reason to refuse it (llama.cpp prints token pieces as
    they are); :func:`diagnose` notes them. A log that stops before the load finished is read and
    reported as incomplete (:attr:`LogReport.unfinished`), because what it shows is still true.
    """
    source = report.source
    if source is None:
        return
    where = "standard input" if str(path) == "-" else str(path)
    if not source.has_text:
        raise BadInput("the log is empty" if not source.size_bytes else "the log holds only blank lines",
                       path=where, fix="give the file llama-server wrote; it logs to stderr, so capture both: "
                                       "llama-server ... -lv 4 > FILE 2>&1")
    if source.binary_line is not None:
        raise BadInput("binary data, not a text log (a NUL byte or bytes that are not text)", path=where,
                       line=source.binary_line, fix="give the llama-server log (text) file; a UTF-16 file "
                                                    "(PowerShell's >) must be saved as UTF-8 first")


# ----------------------------------------------------------------------------------------------
# Diagnosis: short sentences an expert would say
# ----------------------------------------------------------------------------------------------

_PHASE_TEXT = {
    "model_load": "loading the model weights",
    "kv_cache": "allocating the KV cache",
    "compute_buffer": "allocating the compute buffer",
    "runtime": "running after the model had loaded",
    "other": "allocating memory",
}
_PHASE_FIX = {
    "model_load": "offload fewer layers (-ngl), change the split (-ts) or keep MoE experts in RAM "
                  "(--n-cpu-moe / -ot)",
    "kv_cache": "lower the context (-c) or quantize the cache (-ctk q8_0 -ctv q8_0)",
    "compute_buffer": "lower the micro-batch (-ub) or leave more room on that device",
    "runtime": "leave more free memory on that device (other programs, -c, -ub)",
    "other": "reduce what is placed on that device (-ngl, -c, -ub)",
}
# (pattern on the fatal line, what it means): the first that matches is said.
_FATAL_MEANINGS: list[tuple[re.Pattern, str]] = [
    (re.compile(r"invalid magic"), "the model file is not a GGUF file (bad magic): download it again"),
    (re.compile(r"failed to open GGUF file|No such file"), "the model file does not exist or cannot be read"),
    (re.compile(r"not within the file bounds"), "the GGUF file is truncated or corrupt: check its size, "
                                                 "download it again"),
    (re.compile(r"Illegal instruction|SIGILL|signal 4\b"), "__SIGILL__"),
    (re.compile(r"cannot run the operation"), "a tensor was placed on a device whose backend cannot run the "
                                               "operation (often one buffer larger than the device's maximum "
                                               "allocation): lower the context or place it elsewhere"),
    (re.compile(r"[Ss]egmentation fault|segfault"), "the server crashed (segmentation fault)"),
    (re.compile(r"GGML_ASSERT"), "llama.cpp stopped on a failed internal assertion"),
    (re.compile(r"couldn't bind|failed to bind|Address already in use"),
     "the server could not bind its port: another process uses it"),
    (re.compile(r"CUDA error"), "a CUDA error stopped the server"),
]


def phase_text(phase: str) -> str:
    """What llama.cpp was doing in one of :data:`OOM_PHASES`, in words ("allocating the KV cache")."""
    return _PHASE_TEXT.get(phase, phase)


def _size(mib: float | None) -> str:
    if mib is None:
        return "?"
    if mib >= 1024:
        return f"{mib / 1024:.1f} GiB"
    return f"{mib:.0f} MiB" if mib >= 10 else f"{mib:.2f} MiB"


def _sigill_sentence(report: LogReport) -> str:
    wide = [f for f in report.cpu_features if f.startswith(("AVX512", "AMX"))]
    if any("AMX" in w for w in report.warnings) or any(f.startswith("AMX") for f in wide):
        need = "AVX-512/AMX"
    elif wide:
        need = "AVX-512"
    else:
        need = "CPU instructions this CPU lacks (often AVX-512 or AVX2)"
    return (f"the binary needs {need} (SIGILL): use a llama-server built for this CPU "
            "(for example compiled from source)")


def _oom_sentences(report: LogReport) -> list[str]:
    phase = report.oom_phase or "other"
    text = f"{report.oom_device or 'a device'} ran out while {_PHASE_TEXT[phase]}"
    details = []
    if report.oom_asked_mib is not None:
        details.append(f"asked {_size(report.oom_asked_mib)}")
    if report.oom_free_mib is not None:
        details.append(f"with {_size(report.oom_free_mib)} free")
    if details:
        text += ": " + " ".join(details)
    return [text, "to fix: " + _PHASE_FIX[phase]]


def _placement_sentence(report: LogReport) -> str | None:
    if report.layers_offloaded is None and report.graph_splits is None:
        return None
    parts = []
    if report.layers_offloaded is not None:
        done, _, total = report.layers_offloaded.partition("/")
        if done == total:
            parts.append(f"all {report.layers_offloaded} layers offloaded")
        elif done == "0":
            parts.append(f"no layers offloaded ({report.layers_offloaded}): the model runs on the CPU")
        else:
            on_cpu = int(total) - int(done) if done.isdigit() and total.isdigit() else "?"
            parts.append(f"{report.layers_offloaded} layers offloaded, {on_cpu} left on the CPU")
    if report.graph_splits is not None:
        splits = f"{report.graph_splits} graph split{'s' if report.graph_splits != 1 else ''}"
        buffer_keys = {*report.model_buffers_mib, *report.kv_buffers_mib, *report.compute_buffers_mib}
        gpu_keys = {k for k in buffer_keys if not _HOST_KEY.match(k)} | {d["id"] for d in report.devices}
        gpus = max(1, len(gpu_keys))
        if report.graph_splits > 2 * gpus + 2:
            splits += " (many hand-offs between devices or to the CPU: slower prompt processing)"
        parts.append(splits)
    return "; ".join(parts)


_HOST_KEY = re.compile(r"^(?:CPU.*|.*_Host|AMX|KleidiAI.*|BLAS)$")


def _memory_sentences(report: LogReport) -> list[str]:
    """One line per device (model + KV + compute, against its size), one for all host buffers."""
    keys: list[str] = []
    for table in (report.model_buffers_mib, report.kv_buffers_mib, report.compute_buffers_mib):
        keys.extend(k for k in table if k not in keys)
    totals = {d["id"]: d.get("total_mib") or d.get("free_mib") for d in report.devices}
    lines = []
    host: dict[str, float] = {}
    for key in keys:
        model = report.model_buffers_mib.get(key, 0.0)
        kv = report.kv_buffers_mib.get(key, 0.0)
        compute = report.compute_buffers_mib.get(key, 0.0)
        if _HOST_KEY.match(key):
            if model + kv + compute:
                host[key] = model + kv + compute
            continue
        parts = [f"{name} {_size(v)}" for name, v in (("model", model), ("KV", kv), ("compute", compute)) if v]
        if not parts:
            continue
        text = f"{key}: {_size(model + kv + compute)} ({', '.join(parts)})"
        if totals.get(key):
            text += f" of {_size(float(totals[key]))}"
        lines.append(text)
    if host:
        detail = ", ".join(f"{key} {_size(v)}" for key, v in host.items())
        lines.append(f"host RAM: {_size(sum(host.values()))} ({detail})")
    return lines


def diagnose(report: LogReport) -> list[str]:
    """Short sentences saying what went wrong or how the load went, most important first."""
    out: list[str] = []
    if report.unfinished:
        out.append(f"the log is incomplete: it ends while {_PHASE_TEXT[report.unfinished]} (no later line says "
                   "the model loaded or the server is listening); it was copied too early or the server was "
                   "stopped: give the whole log")
    if report.oom:
        out.extend(_oom_sentences(report))
    if report.fatal_error:
        for pattern, meaning in _FATAL_MEANINGS:
            if pattern.search(report.fatal_error):
                out.append(_sigill_sentence(report) if meaning == "__SIGILL__" else meaning)
                break
        out.append(f"fatal error: {report.fatal_error}")
    placement = _placement_sentence(report)
    if placement:
        out.append(placement)
    out.extend(_memory_sentences(report))
    if report.n_ctx is not None:
        cache = f", KV cache {report.type_k}/{report.type_v}" if report.type_k else ""
        out.append(f"context {report.n_ctx} tokens{cache}")
    if report.gen_tps is not None or report.prompt_tps is not None:
        out.append(f"last completed request: prompt {report.prompt_tps if report.prompt_tps is not None else '?'}"
                   f" t/s, generation {report.gen_tps if report.gen_tps is not None else '?'} t/s")
    out.extend(f"note: {w}" for w in report.warnings)
    if report.source is not None and report.source.invalid_utf8_line is not None:
        out.append(f"note: line {report.source.invalid_utf8_line} (and maybe others) holds bytes that are not "
                   "UTF-8; they were read as U+FFFD")
    loaded_nothing = not (report.model_buffers_mib or report.kv_buffers_mib or report.compute_buffers_mib)
    if loaded_nothing and not report.oom and not report.fatal_error:
        out.append("the log shows no buffers (default verbosity prints almost nothing): launch with -lv 4")
    if not out:
        out.append("nothing recognisable in this log")
    return out
