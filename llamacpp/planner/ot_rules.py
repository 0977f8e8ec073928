"""Compact, anchored ``-ot`` rules for sets of layers.

Why: llama.cpp applies ``-ot`` patterns with an unanchored ``std::regex_search`` (ECMAScript) on
tensor names, and splits an ``-ot`` value on commas (common/arg.cpp
parse_tensor_buffer_overrides). So a generated pattern must (1) anchor the layer number on both
sides, ``blk\\.(1[0-9]|2[0-3])\\.``, so that layer 1 never catches ``blk.10`` or ``blk.123``;
(2) avoid commas (no ``{m,n}`` quantifiers); (3) stay short for a 94-layer model. Ranges are
written as alternations of digit-class groups, the same way for every length.
"""
from __future__ import annotations

from typing import Iterable, Sequence


def _ranges(layers: Iterable[int]) -> list[tuple[int, int]]:
    """Sorted, merged inclusive ranges of the given layer numbers."""
    out: list[tuple[int, int]] = []
    for n in sorted(set(layers)):
        if n < 0:
            raise ValueError("layer numbers are non-negative")
        if out and n == out[-1][1] + 1:
            out[-1] = (out[-1][0], n)
        else:
            out.append((n, n))
    return out


def _digit(lo: int, hi: int) -> str:
    if lo == hi:
        return str(lo)
    if lo == 0 and hi == 9:
        return "[0-9]"
    return f"[{lo}-{hi}]" if hi > lo + 1 else f"[{lo}{hi}]"


def _range_same_len(lo: str, hi: str) -> list[str]:
    """Regex alternatives matching every decimal string between lo and hi (same length)."""
    if len(lo) == 1:
        return [_digit(int(lo), int(hi))]
    if lo[0] == hi[0]:
        return [lo[0] + r for r in _range_same_len(lo[1:], hi[1:])]
    out: list[str] = []
    n = len(lo) - 1
    lo_rest_min = lo[1:] == "0" * n
    hi_rest_max = hi[1:] == "9" * n
    first = int(lo[0]) if lo_rest_min else int(lo[0]) + 1
    last = int(hi[0]) if hi_rest_max else int(hi[0]) - 1
    if not lo_rest_min:
        out += [lo[0] + r for r in _range_same_len(lo[1:], "9" * n)]
    if first <= last:
        out.append(_digit(first, last) + "[0-9]" * n)
    if not hi_rest_max:
        out += [hi[0] + r for r in _range_same_len("0" * n, hi[1:])]
    return out


def number_alternatives(layers: Iterable[int]) -> list[str]:
    """Alternatives (without anchors) matching exactly the decimal forms of ``layers``."""
    alts: list[str] = []
    for lo, hi in _ranges(layers):
        a = lo
        while a <= hi:
            width = len(str(a))
            b = min(hi, 10 ** width - 1)
            alts += _range_same_len(str(a), str(b))
            a = b + 1
    return alts


def layer_prefix(layers: Iterable[int]) -> str:
    r"""``blk\.(<alternatives>)\.``: matches the block prefix of exactly these layers."""
    alts = number_alternatives(layers)
    if not alts:
        raise ValueError("no layers given")
    body = alts[0] if len(alts) == 1 and alts[0].isdigit() else "(" + "|".join(alts) + ")"
    return rf"blk\.{body}\."


# tensor-name tails the strategies move (gguf names; see tensors.py)
EXPERTS = r"ffn_(up|down|gate|gate_up)_(ch|)exps"
DENSE_FFN = r"ffn_(up|down|gate)\."
WHOLE_LAYER = ""


def layers_rule(layers: Sequence[int], tail: str, buffer: str) -> str:
    """One ``-ot`` value: ``<layer prefix><tail>=<buffer>``."""
    return f"{layer_prefix(layers)}{tail}={buffer}"
