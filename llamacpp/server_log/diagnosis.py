"""The diagnosis: short sentences an expert would say about a :class:`LogReport`, most important
first (what went wrong and how to fix it, then where the model went and how fast it ran).
"""
from __future__ import annotations

import re

from .report import LogReport

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
