"""Recognisers for what went wrong: out-of-memory (which device, in which phase, asking how much),
fatal errors (ranked, the most specific kept) and notes a person should see.

An out-of-memory is placed in the phase the reader was in (:data:`.state.STAGE_PHASE`) unless the
line itself says which allocation failed.
"""
from __future__ import annotations

import re
from typing import Callable

from .line_cleaning import strip_prefixes
from .state import STAGE_PHASE, LogState, num


# -- out of memory ------------------------------------------------------------------------------

def _oom(r: LogState, *, device: str | None = None, asked_mib: float | None = None,
         phase: str | None = None) -> None:
    if not r.oom:
        r.oom = True
        r.oom_phase = STAGE_PHASE[r.stage]
    if device and (r.oom_device is None or r.oom_device == "?"):
        r.oom_device = device
    if asked_mib is not None and r.oom_asked is None:
        r.oom_asked = asked_mib
    if phase and not r.oom_phase_explicit:
        r.oom_phase = phase
        r.oom_phase_explicit = True


def on_pinned(r: LogState, m: re.Match, line: str) -> None:
    r.warn("pinned host memory could not be allocated; llama.cpp fell back to ordinary memory "
           "(not an out-of-memory: host<->device copies are slower)")


def on_pp_retry(r: LogState, m: re.Match, line: str) -> None:
    """The compute buffer did not fit with pipeline parallelism; llama.cpp retries without it, so
    the allocation failure before this line was not fatal."""
    r.oom = False
    r.oom_phase = r.oom_device = r.oom_asked = None
    r.oom_phase_explicit = False
    r.compute = {}
    r.warn("the compute buffer did not fit with pipeline parallelism; llama.cpp retried without it")


def on_cuda_malloc(r: LogState, m: re.Match, line: str) -> None:
    _oom(r, device=f"{r.gpu_family}{m.group(2)}", asked_mib=num(m.group(1)))


def on_failed_buffer(r: LogState, m: re.Match, line: str) -> None:
    phase = "compute_buffer" if "gallocr" in line else None
    size = num(m.group(2))
    _oom(r, device=m.group(1), asked_mib=size / 1048576.0 if size is not None else None, phase=phase)


def on_unable_buffer(r: LogState, m: re.Match, line: str) -> None:
    _oom(r, device=m.group(1), phase="model_load")


def on_backend_buffer(r: LogState, m: re.Match, line: str) -> None:
    _oom(r, phase="model_load")


def on_aligned_malloc(r: LogState, m: re.Match, line: str) -> None:
    _oom(r, device="CPU", asked_mib=num(m.group(1)))


def on_kv_alloc_failed(r: LogState, m: re.Match, line: str) -> None:
    _oom(r, phase="kv_cache")


def on_compute_alloc_failed(r: LogState, m: re.Match, line: str) -> None:
    _oom(r, phase="compute_buffer")


def on_cuda_oom(r: LogState, m: re.Match, line: str) -> None:
    _oom(r)  # the next line says "current device: N, in function ..."


def on_current_device(r: LogState, m: re.Match, line: str) -> None:
    if r.oom and r.oom_device is None:
        r.oom_device = f"{r.gpu_family}{m.group(1)}"


def on_vulkan_alloc(r: LogState, m: re.Match, line: str) -> None:
    size = num(m.group(1))
    _oom(r, asked_mib=size / 1048576.0 if size is not None else None)


def on_metal_oom(r: LogState, m: re.Match, line: str) -> None:
    _oom(r, device="Metal")


def on_bad_alloc(r: LogState, m: re.Match, line: str) -> None:
    _oom(r, device="CPU")


def on_generic_oom(r: LogState, m: re.Match, line: str) -> None:
    _oom(r)


# -- fatal errors and notes ---------------------------------------------------------------------

def fatal_line(priority: int) -> Callable[[LogState, re.Match, str], None]:
    """A handler keeping the line (prefixes stripped) as the fatal error, unless one of a higher
    priority was seen (3 = the cause, 1 = the generic aftermath of another error)."""
    def handler(r: LogState, m: re.Match, line: str) -> None:
        if r.fatal is None or priority > r.fatal[0]:
            r.fatal = (priority, strip_prefixes(line)[:300])
    return handler


def note(text: str) -> Callable[[LogState, re.Match, str], None]:
    """A handler adding ``text`` (formatted with the match's groups) to the notes."""
    def handler(r: LogState, m: re.Match, line: str) -> None:
        r.warn(text.format(*m.groups()))
    return handler
