"""Tensor name -> which llama.cpp "layer" it belongs to and what part of the model it is.

llama.cpp gives every weight one of three layer kinds (src/llama-arch.cpp, llm_tensor_info:
LLM_TENSOR_LAYER_INPUT / _REPEATING / _OUTPUT) and chooses its buffer from that kind
(src/llama-model-loader.cpp, create_tensor). Names follow gguf's convention ``blk.N.<part>``.
The *part* (attention, dense FFN, routed experts, shared experts, norms) is what the strategies
move with ``-ot`` rules and what the speed model reads per token.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

_BLOCK = re.compile(r"^blk\.(\d+)\.(.*)$")

# input-layer tensors (LLM_TENSOR_LAYER_INPUT in llama-arch.cpp): looked up, never multiplied
_INPUT_PREFIXES = ("token_embd.", "token_embd_norm.", "position_embd.", "token_types.",
                   "per_layer_token_embd.")

# parts of a block, by the gguf tensor-name fragment (order matters: experts before dense ffn)
_PARTS: tuple[tuple[str, str], ...] = (
    ("_exps", "ffn_exps"),        # routed experts: ffn_{up,down,gate,gate_up}_exps (and _chexps)
    ("_shexp", "ffn_shexp"),      # shared experts
    ("ffn_gate_inp", "router"),
    ("exp_probs_b", "router"),
    ("ffn_", "ffn"),              # dense FFN (and its norms: classified below)
    ("attn_", "attn"),
    ("nextn.", "nextn"),
    ("ssm_", "recurrent"),
    ("time_mix", "recurrent"),
    ("channel_mix", "ffn"),
    ("shortconv", "recurrent"),
)


@dataclass(frozen=True)
class TensorRole:
    """``kind``: "input", "layer" or "output"; ``layer``: block index for "layer";
    ``part``: "attn", "ffn", "ffn_exps", "ffn_shexp", "router", "norm", "recurrent", "nextn",
    "embd", "output" or "other"."""

    kind: str
    layer: int | None
    part: str

    @property
    def is_matrix_part(self) -> bool:
        return self.part not in ("norm",)


@lru_cache(maxsize=1 << 16)
def classify(name: str) -> TensorRole:
    """Classify one GGUF tensor name the way llama.cpp's loader groups it (cached: the planner
    asks about the same names for every candidate placement)."""
    m = _BLOCK.match(name)
    if m:
        rest = m.group(2)
        part = "other"
        if "norm" in rest.split(".")[0] and "_exps" not in rest:
            part = "norm"
        else:
            for fragment, p in _PARTS:
                if fragment in rest:
                    part = p
                    break
        return TensorRole("layer", int(m.group(1)), part)
    if name.startswith(_INPUT_PREFIXES):
        return TensorRole("input", None, "embd")
    return TensorRole("output", None, "output" if name.startswith("output.") else "norm")
