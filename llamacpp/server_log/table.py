"""The one table of what llama.cpp prints and what it means: every recognised line is a row of
:data:`ROWS`, in the order rows are tried.

Why a table: llama.cpp renames its messages every few months (``llm_load_tensors:`` ->
``load_tensors:``, ``llama_kv_cache_init:`` -> ``llama_kv_cache:``, ``graph splits = N`` ->
``graph: nodes = N, splits = M``) and forks print their own variants; a row says which message it
recognises (a cheap needle, then a regex that is searched, not anchored, so prefixed lines read the
same) and which handler (``read_*`` modules) says what it means. Rows are filed under the keywords
of :data:`KEYWORDS` (:data:`ROWS_BY_KEY`), so the scanner only tries the rows a line can match.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Callable

from .read_buffers import (on_compute_buffer, on_context_start, on_graph_nodes, on_graph_splits, on_kv_buffer,
                           on_kv_types, on_model_buffer, on_n_ctx, on_output_buffer)
from .read_failures import (fatal_line, note, on_aligned_malloc, on_backend_buffer, on_bad_alloc,
                            on_compute_alloc_failed, on_cuda_malloc, on_cuda_oom, on_current_device,
                            on_failed_buffer, on_generic_oom, on_kv_alloc_failed, on_metal_oom, on_pinned,
                            on_pp_retry, on_unable_buffer, on_vulkan_alloc)
from .read_loader import (on_build, on_build_info, on_build_kv, on_cuda_device, on_device_info, on_fit_end,
                          on_fit_start, on_found_devices, on_layers, on_load_start, on_metal_device, on_ready,
                          on_system_info, on_using_device, on_vulkan_device)
from .read_timings import on_gen_timing, on_prompt_timing
from .state import LogState


@dataclass(frozen=True)
class Row:
    """One message llama.cpp prints: a cheap substring that must be present, the regex that reads
    it, and what it means. ``data`` rows describe buffers of a load and are ignored inside a
    ``--fit`` dry run."""

    needle: str
    regex: re.Pattern
    handler: Callable[[LogState, re.Match, str], object]
    data: bool = False


def row(needle: str, pattern: str, handler: Callable, data: bool = False) -> Row:
    """A table row, its pattern compiled once at import."""
    return Row(needle, re.compile(pattern), handler, data)


_MIB = r"([0-9]+(?:\.[0-9]+)?) MiB"
_TPS = r"(?:(?P<tps>[0-9.]+|inf|nan) tokens per second|(?P<ms>[0-9.]+) ms per token\))"

# Order matters: the first row whose handler does not return False consumes the line.
ROWS: list[Row] = [
    # --fit dry run window (its zero-sized buffers are not the real load)
    row("param", r"fitting params to device memory", on_fit_start),
    row("param", r"getting device memory data for initial", on_fit_start),
    row("param", r"fitting params to free memory took", on_fit_end),
    row("param", r"failed to fit params|error while trying to fit params", on_fit_end),
    # non-fatal allocation trouble, before any out-of-memory row can see it
    row("emory", r"pinned (?:host )?memory", on_pinned),
    row("retrying without pipeline parallelism", r"retrying without pipeline parallelism", on_pp_retry),
    # build and devices
    row("build", r"\bbuild(?:\s*[:=])?\s+(\d+ \([^)]*\))(?= with |\s*$)", on_build),
    row("build=", r"\bbuild=(\d+) commit=\"?(\w+)", on_build_kv),
    row("build_info: ", r"build_info: (\S+)", on_build_info),
    row("system_info", r"system_info", on_system_info),
    row("MiB free", r"-\s+(\S+)\s*:\s+(.+?)\s+\((\d+) MiB, (\d+) MiB free\)", on_device_info),
    row("evice", r"using device (\S+) ", on_using_device),
    row("evice", r"found (\d+) (CUDA|ROCm|MUSA|SYCL) devices", on_found_devices),
    row("evice", r"(?:^|\s)Device (\d+): ([^,]+),", on_cuda_device),
    row("ggml_vulkan: ", r"ggml_vulkan: (\d+) = (.+?) \(", on_vulkan_device),
    row("GPU name", r"ggml_metal\w*: GPU name:\s+(.+)", on_metal_device),
    # load and context
    row("loading model tensors", r"loading model tensors", on_load_start, data=True),
    row("model buffer size", r"(\S+) model buffer size\s*=\s*" + _MIB, on_model_buffer, data=True),
    row(" buffer size", r"load_tensors:\s+(\S+) buffer size\s*=\s*" + _MIB, on_model_buffer, data=True),
    row("constructing llama_context", r"constructing llama_context", on_context_start, data=True),
    row("n_ctx ", r"(?:llama_context|llama_new_context_with_model|llama_init_from_model)"
         r":\s+n_ctx\s*=\s*(\d+)", on_n_ctx, data=True),
    row("output buffer size", r"(\S+)\s+output buffer size\s*=\s*" + _MIB, on_output_buffer, data=True),
    row("KV buffer size", r"(\S+) KV buffer size\s*=\s*" + _MIB, on_kv_buffer, data=True),
    row("compute buffer size", r"(\S+) compute buffer size\s*=\s*" + _MIB, on_compute_buffer, data=True),
    row("K (", r"\bK \((\w+)\):.*?\bV \((\w+)\):", on_kv_types, data=True),
    row("type_k", r"type_k\s*=\s*'?(\w+)'?,\s*type_v\s*=\s*'?(\w+)'?", on_kv_types, data=True),
    row("offloaded", r"offloaded (\d+)/(\d+) layers", on_layers, data=True),
    row("graph", r"graph nodes\s*=\s*(\d+)|graph: nodes\s*=\s*(\d+)", on_graph_nodes, data=True),
    row("graph", r"graph splits(?: \(measure\))?\s*[=:]\s*(\d+)|graph: nodes\s*=\s*\d+,\s*splits\s*=\s*(\d+)",
         on_graph_splits, data=True),
    row("model loaded", r"\bmodel loaded\b", on_ready),
    row("listening", r"listening (?:on|at) http|HTTP server listening|server is listening", on_ready),
    # speeds: final timing lines only (progress lines say "progress" or "n_decoded", not "eval time")
    row("prompt eval time", r"prompt eval time\s*=\s*[0-9.]+ ms\s*/\s*\d+ tokens\s*\([^)]*?" + _TPS,
         on_prompt_timing),
    row("eval time", r"(?<!prompt )\beval time\s*=\s*[0-9.]+ ms\s*/\s*\d+ (?:tokens|runs)\s*\([^)]*?" + _TPS,
         on_gen_timing),
    # out of memory
    row("alloc", r"allocating ([0-9.]+) MiB on device (\d+): \w*Malloc failed: out of memory",
         on_cuda_malloc),
    row("alloc", r"failed to allocate (\S+) buffer of size (\d+)", on_failed_buffer),
    row("alloc", r"unable to allocate (\S+) buffer", on_unable_buffer),
    row("alloc", r"unable to allocate backend buffer", on_backend_buffer),
    row("emory", r"insufficient memory \(attempted to allocate ([0-9.]+) MB\)", on_aligned_malloc),
    row("alloc", r"failed to allocate buffer for kv", on_kv_alloc_failed),
    row("alloc", r"failed to allocate compute buffers?", on_compute_alloc_failed),
    row("emory", r"CUDA error: out of memory", on_cuda_oom),
    row("evice", r"current device: (\d+)", on_current_device),
    row("evice", r"Device memory allocation of size (\d+) failed", on_vulkan_alloc),
    row("emory", r"ErrorOutOf(?:Device|Host)Memory", on_generic_oom),
    row("emory", r"kIOGPUCommandBufferCallbackErrorOutOfMemory", on_metal_oom),
    row("alloc", r"std::bad_alloc", on_bad_alloc),
    row("emory", r"out of memory", on_generic_oom),
    # fatal errors, most specific first (priority 3 > 2 > 1; 1 = generic aftermath of another error)
    row("invalid magic", r"invalid magic", fatal_line(3)),
    row("failed to open GGUF file", r"failed to open GGUF file", fatal_line(3)),
    row("not within the file bounds", r"not within the file bounds", fatal_line(3)),
    row("GGML_ASSERT", r"GGML_ASSERT", fatal_line(3)),
    # ggml_abort prints "path/file.cpp:930: message"
    *[row(f".{ext}:", rf"(?:^|\s)\S+\.{ext}:\d+: \S", fatal_line(3)) for ext in ("c", "cpp", "cu")],
    row("Illegal instruction", r"Illegal instruction", fatal_line(3)),
    row("SIGILL", r"SIGILL", fatal_line(3)),
    row("egmentation fault", r"[Ss]egmentation fault", fatal_line(3)),
    row("segfault at", r"segfault at", fatal_line(3)),
    row("what():", r"what\(\):", fatal_line(3)),
    row("CUDA error", r"CUDA error: ", fatal_line(3)),
    row("bind", r"couldn't bind|failed to bind|Address already in use", fatal_line(3)),
    row("error loading model", r"error loading model", fatal_line(2)),
    row("terminate called", r"terminate called", fatal_line(1)),
    row("failed to load model", r"failed to load model", fatal_line(1)),
    row("model loading error", r"exiting due to model loading error", fatal_line(1)),
    row("failed to create context", r"failed to create (?:context|_context)|failed to initialize the context",
         fatal_line(1)),
    row("core dumped", r"core dumped|Aborted", fatal_line(1)),
    # notes a person should see
    row("exceeds the training context", r"slot context \((\d+)\) exceeds the training context of the model "
         r"\((\d+)\)", note("the context ({0}) exceeds the model's training context ({1}); the server caps it")),
    row("possible training context overflow", r"n_ctx_seq \((\d+)\) > n_ctx_train \((\d+)\)",
         note("n_ctx per sequence ({0}) is larger than the training context ({1})")),
    row("AMX is not ready", r"AMX is not ready", note("AMX is not ready to be used")),
    row("free memory target", r"cannot meet free memory target of (\d+) MiB, need to reduce device memory by "
         r"(\d+) MiB", note("--fit changed the placement to keep {0} MiB free (it had to move {1} MiB off the "
                                 "devices): what was loaded is --fit's choice, not the command line's")),
    row("working set", r"greater than the recommended max working set size",
         note("Metal allocations exceed the recommended max working set size: expect swapping or a failure")),
]

# Every row's needle holds one of these keywords: a line without any is never looked at. A row is
# filed under the first keyword its needle holds; a line is tried only against the rows filed
# under the keywords found in it (in table order).
KEYWORDS: tuple[str, ...] = (
    "buffer size", "MiB free", "n_ctx ", "offloaded", "graph", "build", "system_info", "evice", "ggml_vulkan",
    "GPU name", "loading model tensors", "constructing", "K (", "type_k", "model loaded", "listening",
    "eval time", "param", "emory", "retrying", "alloc", "fail", "rror", "magic", "bounds", "ASSERT", ".c:",
    ".cpp:", ".cu:", "Illegal", "SIGILL", "egmentation", "segfault", "what()", "bind", "terminate",
    "core dumped", "training context", "AMX is not", "working set", "free memory target",
)


def _file_rows() -> dict[str, list[int]]:
    by_key: dict[str, list[int]] = {key: [] for key in KEYWORDS}
    for index, entry in enumerate(ROWS):
        key = next((k for k in KEYWORDS if k in entry.needle), None)
        if key is None:  # a programming error in the table, caught by any import
            raise AssertionError(f"row needle {entry.needle!r} holds no keyword of KEYWORDS")
        by_key[key].append(index)
    return by_key


ROWS_BY_KEY = _file_rows()
