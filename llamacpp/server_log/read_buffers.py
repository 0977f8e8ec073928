"""Recognisers for the memory a load and its context take, per device: model (weights) buffers,
the KV cache (its buffers and cache types), the output buffer, compute buffers and the graph's
nodes and splits.

Buffers are keyed by the name the log prints, as it prints it (``Vulkan0``, ``CUDA_Host``,
``RPC0[127.0.0.1:50052]`` for an RPC worker), so a caller can match them to a plan's buffer names.
A buffer printed after a context starts a new load; a KV buffer after a compute buffer starts a new
context (the last complete one is reported).
"""
from __future__ import annotations

import re

from .state import STAGE_CTX, STAGE_KV, STAGE_LOAD, STAGE_READY, LogState, num


def _add(target: dict[str, float], key: str, mib: str) -> None:
    value = num(mib)
    if value is not None:
        target[key] = target.get(key, 0.0) + value


def on_model_buffer(r: LogState, m: re.Match, line: str) -> None:
    if r.context_touched():  # a model buffer after a context = a new load (a retry, a draft model)
        r.new_load()
    r.stage = STAGE_LOAD
    _add(r.model, m.group(1), m.group(2))


def on_context_start(r: LogState, m: re.Match, line: str) -> None:
    r.new_context()
    r.stage = STAGE_CTX


def on_n_ctx(r: LogState, m: re.Match, line: str) -> None:
    if r.context_touched():
        r.new_context()
    r.n_ctx = int(m.group(1))
    r.stage = STAGE_CTX


def on_output_buffer(r: LogState, m: re.Match, line: str) -> None:
    if r.compute:  # old builds print it between the KV and compute buffers of the same context
        r.new_context()
    _add(r.output, m.group(1), m.group(2))
    r.stage = max(r.stage, STAGE_CTX)


def on_kv_buffer(r: LogState, m: re.Match, line: str) -> None:
    if r.compute or r.graph_splits is not None:  # the KV cache of a second context
        r.new_context()
    _add(r.kv, m.group(1), m.group(2))
    r.stage = STAGE_KV


def on_compute_buffer(r: LogState, m: re.Match, line: str) -> None:
    if r.graph_splits is not None:  # a second reservation of the same context replaces the first
        r.compute = {}
        r.graph_splits = r.graph_nodes = None
    _add(r.compute, m.group(1), m.group(2))
    r.stage = max(r.stage, STAGE_KV)


def on_kv_types(r: LogState, m: re.Match, line: str) -> None:
    r.type_k, r.type_v = m.group(1), m.group(2)


def on_graph_nodes(r: LogState, m: re.Match, line: str) -> bool:
    r.graph_nodes = int(m.group(1) or m.group(2))
    return False  # the new format has nodes and splits on one line


def on_graph_splits(r: LogState, m: re.Match, line: str) -> None:
    r.graph_splits = int(m.group(1) or m.group(2))
    r.stage = STAGE_READY
