"""Which device holds each weight: llama.cpp's tensor-to-device rules, modelled.

Sources (llama.cpp build 11434; rules re-checked against real llama-server by
tests/test_planner_vs_llama.py):

- ``src/llama-model.cpp``, ``llama_model_base::load_tensors``: split points are the cumulative,
  normalised ``-ts`` proportions (default: each device's free memory); the output layer counts as
  layer ``n_layer_all``; ``i_gpu_start = max(n_layer_all + 1 - ngl, 0)`` (before build ~7440:
  ``max(n_layer_all - ngl, 0)``); layer ``il`` goes to the first device whose split point is
  greater than ``(il - i_gpu_start) / act_gpu_layers`` (``std::upper_bound``); the input layer
  (token embeddings) always stays on the CPU.
- ``src/llama-model-loader.cpp``, ``create_tensor``: ``-ot`` rules are tried in order with
  ``std::regex_search`` (unanchored) on the tensor name; the first match wins; otherwise the
  layer's buffer list is used, whose first buffer type that supports the tensor's op wins: a
  tensor larger than the device's maximum allocation falls back to the host. A tied output
  (no ``output.weight``) loads ``token_embd.weight`` a second time (``TENSOR_DUPLICATED``) under
  the output layer's rules, and costs memory twice only when the two copies land in different
  buffers. MTP/nextn blocks are ``TENSOR_SKIP``: not loaded at all.
- ``common/arg.cpp`` + ``common/common.h``: ``--cpu-moe`` appends ``\\.ffn_(up|down|gate|gate_up)_(ch|)exps=CPU``,
  ``--n-cpu-moe N`` appends ``blk\\.i\\.ffn_(up|down|gate|gate_up)_(ch|)exps=CPU`` for i < N. The
  planner appends them after the ``-ot`` rules (the order its own command lines use).
"""
from __future__ import annotations

import bisect
import re
from dataclasses import dataclass, field
from typing import Sequence

from onboard.llamacpp.errors import BadInput
from onboard.llamacpp.gguf_model import TensorInfo

from .model_facts import ModelFacts
from .tensors import classify
from .versions import output_layer_first

CPU = "CPU"
from ..tensor_rules import FFN_EXPS_REGEX  # noqa: E402  (re-exported: the planner's modules import it here)
MIB = 1024.0 * 1024.0


def cpu_moe_rules() -> list[tuple[str, str]]:
    """The rule ``--cpu-moe`` appends (common/common.h llm_ffn_exps_cpu_override)."""
    return [(FFN_EXPS_REGEX, CPU)]


def n_cpu_moe_rules(n: int) -> list[tuple[str, str]]:
    """The rules ``--n-cpu-moe N`` appends (common/common.h llm_add_n_cpu_ffn_overrides)."""
    return [(rf"blk\.{i}{FFN_EXPS_REGEX}", CPU) for i in range(n)]


@dataclass(frozen=True)
class GpuDevice:
    """What placement needs to know of one device: its llama.cpp name, the share used for the
    default split (free memory), and its largest single allocation (None: unlimited)."""

    name: str
    free_mib: float
    max_alloc_mib: float | None = None


@dataclass
class Placement:
    """Result: ``tensor_device`` maps each loaded tensor name to a device name (``CPU`` = host);
    ``layer_device[il]`` is the device of block ``il`` (its KV cache lives there too);
    ``output_device`` the device of the output layer; ``bytes_by_device`` the weight bytes held
    per device (a tied output counted again where its copy lands in another buffer)."""

    tensor_device: dict[str, str]
    layer_device: list[str]
    output_device: str
    bytes_by_device: dict[str, int]
    n_offloaded: int
    n_offloadable: int
    skipped: list[str] = field(default_factory=list)
    tied_output_device: str | None = None
    fallbacks: list[str] = field(default_factory=list)  # tensors that fell back to the host

    @property
    def layers_offloaded(self) -> str:
        return f"{self.n_offloaded}/{self.n_offloadable}"


def split_points(devices: Sequence[GpuDevice], tensor_split: Sequence[float] | None) -> list[float]:
    """Cumulative normalised split fractions (load_tensors): ``-ts`` when given and not all zero,
    else the devices' free memory."""
    if tensor_split and any(x != 0 for x in tensor_split):
        if len(tensor_split) > len(devices):
            raise BadInput(f"--tensor-split has {len(tensor_split)} values for {len(devices)} device(s)",
                           field="--tensor-split", fix="give one proportion per device")
        raw = [float(x) for x in tensor_split] + [0.0] * (len(devices) - len(tensor_split))
        if any(x < 0 for x in raw):
            raise BadInput("--tensor-split proportions must not be negative", field="--tensor-split")
    else:
        raw = [max(float(d.free_mib), 0.0) for d in devices]
        if not any(raw):
            raw = [1.0] * len(devices)
    total = sum(raw)
    out, acc = [], 0.0
    for x in raw:
        acc += x
        out.append(acc / total)
    return out


def layer_devices(n_layer_all: int, ngl: int, devices: Sequence[GpuDevice],
                  tensor_split: Sequence[float] | None, build: int | None) -> list[str]:
    """Device of every layer 0..n_layer_all (the last entry is the output layer)."""
    if not devices:
        return [CPU] * (n_layer_all + 1)
    if output_layer_first(build):
        i_gpu_start = max(n_layer_all + 1 - ngl, 0)
    else:
        i_gpu_start = max(n_layer_all - ngl, 0)
    act = min(ngl, n_layer_all + 1)
    splits = split_points(devices, tensor_split)
    out: list[str] = []
    for il in range(n_layer_all + 1):
        if il < i_gpu_start or il - i_gpu_start >= act:
            out.append(CPU)
            continue
        # float32 in llama.cpp; the ratio of small ints is exact enough in double for upper_bound
        k = bisect.bisect_right(splits, (il - i_gpu_start) / act)
        out.append(devices[min(k, len(devices) - 1)].name)
    return out


def validate_overrides(overrides: Sequence[tuple[str, str]], device_names: Sequence[str],
                       extra_buffers: Sequence[str] = ()) -> list[tuple[re.Pattern[str], str]]:
    """Compile ``-ot`` rules; an unknown buffer name or a bad regex is BadInput, as llama.cpp
    aborts on them (common/arg.cpp parse_tensor_buffer_overrides)."""
    valid = [CPU, *device_names, *extra_buffers]
    compiled = []
    for pattern, buft in overrides:
        if buft not in valid:
            raise BadInput(f"unknown buffer type {buft!r} in -ot {pattern}={buft}", field="--override-tensor",
                           fix=f"use one of: {', '.join(valid)}")
        if "," in pattern:
            raise BadInput(f"-ot pattern {pattern!r} contains a comma, which llama.cpp splits rules on",
                           field="--override-tensor", fix="use alternation (a|b) instead of {m,n}")
        try:
            compiled.append((re.compile(pattern), buft))
        except re.error as err:
            raise BadInput(f"invalid regex {pattern!r}: {err}", field="--override-tensor") from None
    return compiled


def _first_match(rules: Sequence[tuple[re.Pattern[str], str]], name: str) -> str | None:
    for rx, buft in rules:
        if rx.search(name):
            return buft
    return None


def place_tensors(tensors: Sequence[TensorInfo], facts: ModelFacts, devices: Sequence[GpuDevice], *,
                  ngl: int, tensor_split: Sequence[float] | None = None,
                  overrides: Sequence[tuple[str, str]] = (), build: int | None = None,
                  extra_buffers: Sequence[str] = ()) -> Placement:
    """Assign every tensor of the model to a device following llama.cpp's rules (module docstring).
    ``extra_buffers``: devices the model does not use (``-sm none``) whose buffers ``-ot`` may
    still name."""
    rules = validate_overrides(overrides, [d.name for d in devices], extra_buffers)
    by_name = {d.name: d for d in devices}
    ldev = layer_devices(facts.n_layer_all, ngl, devices, tensor_split, build)
    out_dev = ldev[facts.n_layer_all]

    def fits_device(dev: str, n_bytes: int) -> bool:
        d = by_name.get(dev)
        return d is None or d.max_alloc_mib is None or n_bytes / MIB <= d.max_alloc_mib

    tensor_device: dict[str, str] = {}
    bytes_by: dict[str, int] = {CPU: 0, **{d.name: 0 for d in devices}}
    skipped: list[str] = []
    fallbacks: list[str] = []
    for t in tensors:
        role = classify(t.name)
        if role.kind == "layer" and role.layer is not None and role.layer >= facts.n_layer:
            skipped.append(t.name)  # nextn/MTP block: TENSOR_SKIP unless MTP is enabled
            continue
        target = _first_match(rules, t.name)
        if target is None:
            if role.kind == "input":
                target = CPU
            elif role.kind == "layer" and role.layer is not None and role.layer < facts.n_layer_all:
                target = ldev[role.layer]
            else:
                target = out_dev
            if target != CPU and not fits_device(target, t.n_bytes):
                fallbacks.append(t.name)
                target = CPU
        tensor_device[t.name] = target
        bytes_by[target] = bytes_by.get(target, 0) + t.n_bytes

    tied_dev = None
    if facts.tied_embeddings and "token_embd.weight" in tensor_device:
        emb = next(t for t in tensors if t.name == "token_embd.weight")
        tied_dev = _first_match(rules, emb.name)
        if tied_dev is None:
            tied_dev = out_dev
            if tied_dev != CPU and not fits_device(tied_dev, emb.n_bytes):
                fallbacks.append("token_embd.weight (output copy)")
                tied_dev = CPU
        if tied_dev != tensor_device["token_embd.weight"]:
            bytes_by[tied_dev] = bytes_by.get(tied_dev, 0) + emb.n_bytes

    n_off = min(ngl, facts.n_layer_all + 1) if devices else 0
    return Placement(tensor_device, ldev[: facts.n_layer_all], out_dev, bytes_by, n_off,
                     facts.n_layer_all + 1, skipped, tied_dev, fallbacks)


def row_split(tensors: Sequence[TensorInfo], placement: Placement, devices: Sequence[GpuDevice],
              tensor_split: Sequence[float] | None) -> Placement:
    """``-sm row``: the layers sit on the main device, but their weight matrices go to the split
    buffer type, which spreads each matrix's rows over all devices in the ``-ts`` proportions
    (default: free memory). Norms, biases, the KV cache and the output layer stay on the main
    device. The per-device share is the proportion of the bytes (row rounding is ignored)."""
    if len(devices) < 2:
        return placement
    cum = split_points(devices, tensor_split)
    shares = [b - a for a, b in zip([0.0, *cum[:-1]], cum)]
    by = dict(placement.bytes_by_device)
    for t in tensors:
        dev = placement.tensor_device.get(t.name)
        role = classify(t.name)
        if dev in (None, CPU) or role.kind != "layer" or len([n for n in t.shape if n > 1]) < 2:
            continue
        by[dev] -= t.n_bytes
        for d, share in zip(devices, shares):
            by[d.name] = by.get(d.name, 0) + int(round(t.n_bytes * share))
    return Placement(placement.tensor_device, placement.layer_device, placement.output_device, by,
                     placement.n_offloaded, placement.n_offloadable, placement.skipped,
                     placement.tied_output_device, placement.fallbacks)
