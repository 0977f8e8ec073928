"""llama.cpp behaviour changes that alter the planner's answer, keyed on the build number.

A build number is llama.cpp's ``LLAMA_BUILD_NUMBER`` (``llama-server --version`` prints
``version: N (commit)``). ``None`` means unknown: the planner then follows the newest rules and
says so in the plan's warnings, never silently.
"""
from __future__ import annotations

# PR #18148 "offload output layer to GPU first", merged 2025-12-17 (build ~7440). Before it,
# ``-ngl N`` put the last N blocks on the GPU and moved the output layer only at N = n_layer + 1
# (src/llama-model.cpp, load_tensors: i_gpu_start = max(n_layer - ngl, 0)); since, the output
# layer counts as layer n_layer and is offloaded first (i_gpu_start = max(n_layer + 1 - ngl, 0)).
OUTPUT_LAYER_FIRST_BUILD = 7440

# PR #19067 "kv-cache: support V-less cache", merged 2026-01-24: MLA models (DeepSeek2 arch with
# key_length_mla / value_length_mla) store only the K latent (src/llama-kv-cache.cpp: has_v = !is_mla).
# Build number estimated from the merge date (~35 builds a week after build 7440).
MLA_V_LESS_BUILD = 8130

# The build the rules were checked against with real llama-server (tests/test_planner_vs_llama.py).
VERIFIED_BUILD = 11434


def output_layer_first(build: int | None) -> bool:
    """True when ``-ngl`` counts the output layer first (llama.cpp builds since PR #18148)."""
    return build is None or build >= OUTPUT_LAYER_FIRST_BUILD


def mla_v_less(build: int | None) -> bool:
    """True when an MLA model's KV cache holds K only (llama.cpp builds since PR #19067)."""
    return build is None or build >= MLA_V_LESS_BUILD
