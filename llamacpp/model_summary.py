"""What a person (and the fit table) needs to know about a model, from its GGUF header alone.

Why from the header: the evaluate phase must decide before downloading anything, so every
figure here comes from metadata keys and tensor shapes, which the header holds in full. Where
llama.cpp decides something by architecture rather than by metadata (the sliding-window
pattern of gemma3, recurrent layers of qwen3next, ...), the same tables llama.cpp uses are
applied (llama.cpp ``src/models/<arch>.cpp``, build 11434), and the source is reported.

Parameters are counted from tensor shapes: ``total`` = every element in the file;
``active`` = what one token touches in the blocks llama.cpp loads: all non-routed-expert
tensors (embeddings, attention, norms, shared experts, dense blocks) plus
``experts_used / experts_total`` of every routed expert tensor (``*_exps``); MTP/nextn blocks,
which llama.cpp skips unless MTP is enabled, are left out of ``active`` and counted in ``mtp``.
"""
from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from typing import Any

from gguf.constants import GGMLQuantizationType, LlamaFileType

from onboard.llamacpp.gguf_model import GGUFHeader, SkippedArray

__all__ = ["ModelSummary", "AttentionSummary", "SlidingWindow", "MLASummary", "RecurrentSummary", "summarize"]

# arch -> (pattern n, dense_first, needs the window key, default window) as in llama.cpp's
# load_swa_pattern() calls; layer il is SWA iff il % n < n-1 (dense_first: il % n != 0)
SWA_ARCH_TABLE: dict[str, tuple[int, bool, bool, int | None]] = {
    "gemma2": (2, False, False, 4096),
    "gemma3": (6, False, True, None),
    "gemma3n": (5, False, False, None),
    "gemma-embedding": (6, False, False, None),
    "cohere2": (4, False, False, None),
    "cohere2moe": (4, True, False, None),
    "gpt-oss": (2, False, False, None),
    "olmo2": (4, False, True, None),
    "exaone4": (4, False, True, None),
    "exaone-moe": (4, False, False, 128),
    "afmoe": (4, False, True, None),
    "smallthinker": (4, True, True, None),
    "mellum": (4, False, True, None),
    "muse-glimmer": (4, False, False, None),
    "plamo3": (8, False, True, None),
    "laguna": (4, True, True, None),
}
LLAMA4_CHUNK = 8192  # llama4: chunked attention, 3 chunked : 1 full, window fixed by llama.cpp
RECURRENT_ARCHS = frozenset({"mamba", "mamba2", "rwkv6", "rwkv6qwen2", "rwkv7", "arwkv7"})
HYBRID_ARCHS = frozenset({
    "jamba", "falcon-h1", "plamo2", "granitehybrid", "lfm2", "lfm2moe", "nemotron_h", "nemotron_h_moe",
    "qwen3next", "kimi-linear", "bailingmoe3", "kimi-k3", "glm5-next", "qwen35", "qwen35moe", "qwen4exp",
    "deepseek4", "minimax-01",
})
# hybrids whose recurrent layers follow full_attention_interval (default 4 when the key is absent)
INTERVAL_ARCHS = frozenset({"qwen3next", "qwen35", "qwen35moe", "qwen4exp", "minimax-01"})
_BLOCK = re.compile(r"^blk\.(\d+)\.")


@dataclass
class SlidingWindow:
    type: str                    # "standard" or "chunked"
    window: int | None           # tokens
    pattern: int | None          # n of "n-1 SWA : 1 full" when regular, else None
    dense_first: bool
    source: str                  # "metadata array", "metadata", "llama.cpp table for <arch>"
    swa_layers: list[int]
    full_layers: list[int]


@dataclass
class MLASummary:
    kv_lora_rank: int | None
    q_lora_rank: int | None
    key_length_mla: int | None
    value_length_mla: int | None
    rope_dim: int | None
    latent_cache: bool           # head_count_kv == 1, key_length > value_length, _mla keys present


@dataclass
class RecurrentSummary:
    kind: str                    # "recurrent" (every layer) or "hybrid"
    recurrent_layers: list[int]
    attention_layers: list[int]
    source: str
    ssm: dict[str, int]          # ssm.* keys as found (conv_kernel, inner_size, state_size, ...)


@dataclass
class AttentionSummary:
    kind: str                    # "mha", "gqa", "mqa", "mla", "none"
    heads: int | list[int] | None
    kv_heads: int | list[int] | None
    head_dim_k: int | None
    head_dim_v: int | None
    sliding_window: SlidingWindow | None = None
    mla: MLASummary | None = None
    recurrent: RecurrentSummary | None = None


@dataclass
class ModelSummary:
    architecture: str | None
    name: str | None
    kind: str                    # "dense" or "moe"
    total_params: int
    active_params: int
    mtp_params: int
    block_count: int | None
    layers: int | None           # blocks llama.cpp loads (block_count - nextn)
    nextn_layers: int
    experts_total: int | None
    experts_used: int | list[int] | None
    experts_shared: int | None
    attention: AttentionSummary
    context_length: int | None
    vocab_size: int | None
    file_type: str | None        # from general.file_type, e.g. "Q4_K_M"
    main_type: str | None        # tensor type holding the most bytes
    bytes_by_type: dict[str, int]
    total_bytes: int
    n_tensors: int
    shards: int
    complete: bool
    source: str
    warnings: list[str] = field(default_factory=list)
    finetune: str | None = None  # general.finetune ("instruct", "it", ...): None in a base model's file
    has_chat_template: bool = False  # tokenizer.chat_template present (llama-server falls back to ChatML)

    def to_json(self) -> dict[str, Any]:
        """Plain JSON-serialisable dict (nested dataclasses become dicts, None stays null)."""
        return asdict(self)


def _int(v: Any) -> int | None:
    return v if isinstance(v, int) and not isinstance(v, bool) else None


def _int_or_list(v: Any) -> int | list[int] | None:
    if isinstance(v, list) and all(_int(x) is not None for x in v):
        return list(v)
    return _int(v)


def _per_layer(v: int | list[int] | None, n: int) -> list[int] | None:
    if v is None:
        return None
    if isinstance(v, list):
        return (v + [v[-1]] * n)[:n] if v else None
    return [v] * n


def _type_name(t: int) -> str:
    try:
        return GGMLQuantizationType(t).name
    except ValueError:
        return f"type{t}"


def _file_type_name(v: Any) -> str | None:
    ft = _int(v)
    if ft is None:
        return None
    try:
        name = LlamaFileType(ft).name
    except ValueError:
        return f"unknown ({ft})"
    return name.removeprefix("MOSTLY_").removeprefix("ALL_")


def summarize(header: GGUFHeader) -> ModelSummary:
    """Summarize a GGUF header: see the module docstring for how each figure is derived."""
    md = header.metadata
    arch = header.architecture
    warnings = list(header.warnings)
    if arch is None:
        warnings.append("no general.architecture: architecture-specific figures (layers, attention, "
                        "experts) are unknown; only tensor totals are reported")

    def key(suffix: str) -> Any:
        return md.get(f"{arch}.{suffix}") if arch else None

    block_count = _int(key("block_count"))
    nextn = _int(key("nextn_predict_layers")) or 0
    layers = block_count - nextn if block_count is not None else None

    # --- parameters and bytes
    experts_total = _int(key("expert_count"))
    used_raw = _int_or_list(key("expert_used_count"))
    used_per_layer = _per_layer(used_raw, max(block_count or 0, 1))
    total = active = mtp = 0
    bytes_by_type: dict[str, int] = {}
    has_routed = False
    for t in header.tensors:
        n = t.n_elements
        total += n
        name = _type_name(t.ggml_type)
        bytes_by_type[name] = bytes_by_type.get(name, 0) + t.n_bytes
        m = _BLOCK.match(t.name)
        il = int(m.group(1)) if m else None
        if il is not None and layers is not None and il >= layers:
            mtp += n
            continue
        if "_exps." in t.name and len(t.shape) >= 2:
            has_routed = True
            n_exp = t.shape[-1] or 1
            used = None
            if used_per_layer and il is not None and il < len(used_per_layer):
                used = used_per_layer[il]
            if used is None:
                used = n_exp
            active += n * min(used, n_exp) // n_exp
        else:
            active += n
    if has_routed and experts_total is None:
        experts_total = max(t.shape[-1] for t in header.tensors if "_exps." in t.name and len(t.shape) >= 2)
        warnings.append(f"no {arch}.expert_count: expert count {experts_total} taken from tensor shapes")
    if has_routed and used_raw is None:
        warnings.append(f"no {arch}.expert_used_count: active parameters count every expert")
    is_moe = bool(experts_total) or has_routed

    attention = _attention(header, arch, key, layers, warnings)
    main_type = max(bytes_by_type, key=lambda k: bytes_by_type[k]) if bytes_by_type else None

    return ModelSummary(
        architecture=arch,
        name=md.get("general.name") if isinstance(md.get("general.name"), str) else None,
        kind="moe" if is_moe else "dense",
        total_params=total,
        active_params=active,
        mtp_params=mtp,
        block_count=block_count,
        layers=layers,
        nextn_layers=nextn,
        experts_total=experts_total if is_moe else None,
        experts_used=used_raw if is_moe else None,
        experts_shared=(_int(key("expert_shared_count")) or 0) if is_moe else None,
        attention=attention,
        context_length=_int(key("context_length")),
        vocab_size=_vocab_size(header, key),
        file_type=_file_type_name(md.get("general.file_type")),
        main_type=main_type,
        bytes_by_type=dict(sorted(bytes_by_type.items(), key=lambda kv: -kv[1])),
        total_bytes=sum(bytes_by_type.values()),
        n_tensors=len(header.tensors),
        shards=max(len(header.data_offsets), 1),
        complete=header.complete,
        source=header.source,
        warnings=warnings,
        finetune=md.get("general.finetune") if isinstance(md.get("general.finetune"), str) else None,
        has_chat_template=isinstance(md.get("tokenizer.chat_template"), str)
        and bool(md["tokenizer.chat_template"].strip()),
    )


def _vocab_size(header: GGUFHeader, key: Any) -> int | None:
    tokens = header.metadata.get("tokenizer.ggml.tokens")
    if isinstance(tokens, SkippedArray):
        return tokens.length
    if isinstance(tokens, list):
        return len(tokens)
    if _int(key("vocab_size")) is not None:
        return key("vocab_size")
    for t in header.tensors:
        if t.name == "token_embd.weight" and len(t.shape) == 2:
            return t.shape[1]
    return None


def _attention(header: GGUFHeader, arch: str | None, key: Any, layers: int | None,
               warnings: list[str]) -> AttentionSummary:
    heads = _int_or_list(key("attention.head_count"))
    kv_heads = _int_or_list(key("attention.head_count_kv"))
    if kv_heads is None:
        kv_heads = heads
    embd = _int(key("embedding_length"))
    max_heads = max(heads) if isinstance(heads, list) else heads
    head_k = _int(key("attention.key_length"))
    head_v = _int(key("attention.value_length"))
    if max_heads and embd:
        head_k = head_k if head_k is not None else embd // max_heads
        head_v = head_v if head_v is not None else embd // max_heads

    # MLA (deepseek2 family): latent cache when converted after llama.cpp PR #12801
    mla = None
    kv_lora = _int(key("attention.kv_lora_rank"))
    k_mla, v_mla = _int(key("attention.key_length_mla")), _int(key("attention.value_length_mla"))
    if kv_lora or k_mla:
        kv_max = max(kv_heads) if isinstance(kv_heads, list) else kv_heads
        mla = MLASummary(
            kv_lora_rank=kv_lora, q_lora_rank=_int(key("attention.q_lora_rank")),
            key_length_mla=k_mla, value_length_mla=v_mla, rope_dim=_int(key("rope.dimension_count")),
            latent_cache=bool(kv_max == 1 and head_k and head_v and head_k > head_v and k_mla and v_mla),
        )

    recurrent = _recurrent(header, arch, key, layers, kv_heads)

    if mla is not None:
        kind = "mla"
    elif not max_heads:
        kind = "none"
    else:
        nonzero = [k for k in (kv_heads if isinstance(kv_heads, list) else [kv_heads]) if k]
        kv_max = max(nonzero) if nonzero else 0
        kind = "none" if kv_max == 0 else "mha" if kv_max == max_heads else "mqa" if kv_max == 1 else "gqa"

    return AttentionSummary(
        kind=kind, heads=heads, kv_heads=kv_heads, head_dim_k=head_k, head_dim_v=head_v,
        sliding_window=_sliding_window(arch, key, layers, warnings), mla=mla, recurrent=recurrent,
    )


def _sliding_window(arch: str | None, key: Any, layers: int | None, warnings: list[str]) -> SlidingWindow | None:
    if arch is None or not layers:
        return None
    window = _int(key("attention.sliding_window"))
    raw_pattern = key("attention.sliding_window_pattern")
    swa_type = "standard"
    dense_first = False
    pattern: int | None = None
    if arch == "llama4":
        if window == 0:
            return None
        swa_type, window, pattern, source = "chunked", LLAMA4_CHUNK, 4, "llama.cpp table for llama4"
    elif arch in SWA_ARCH_TABLE:
        pattern, dense_first, needs_key, default = SWA_ARCH_TABLE[arch]
        if window is None:
            window = default
        if needs_key and not window:
            return None
        source = f"llama.cpp table for {arch}"
    elif window and raw_pattern is not None:
        source = "metadata"
    else:
        if window:
            warnings.append(f"{arch}.attention.sliding_window = {window} but the architecture has no known "
                            "sliding-window pattern: treated as full attention")
        return None

    if isinstance(raw_pattern, list):
        flags = [bool(x) for x in raw_pattern][:layers]
        flags += [False] * (layers - len(flags))
        is_swa = flags
        pattern, source = None, "metadata array"
    else:
        if _int(raw_pattern) is not None:
            pattern, source = raw_pattern, "metadata"
        n = pattern or 0
        if dense_first:
            is_swa = [n == 0 or il % n != 0 for il in range(layers)]
        else:
            is_swa = [n == 0 or il % n < n - 1 for il in range(layers)]
    return SlidingWindow(
        type=swa_type, window=window, pattern=pattern, dense_first=dense_first, source=source,
        swa_layers=[i for i, s in enumerate(is_swa) if s], full_layers=[i for i, s in enumerate(is_swa) if not s],
    )


def _recurrent(header: GGUFHeader, arch: str | None, key: Any, layers: int | None,
               kv_heads: int | list[int] | None) -> RecurrentSummary | None:
    if arch is None or not layers:
        return None
    prefix = f"{arch}.ssm."
    ssm = {k[len(prefix):]: v for k, v in header.metadata.items() if k.startswith(prefix) and _int(v) is not None}
    if arch in RECURRENT_ARCHS:
        return RecurrentSummary("recurrent", list(range(layers)), [], f"{arch} is recurrent in llama.cpp", ssm)
    flags = key("attention.recurrent_layers")
    interval = _int(key("full_attention_interval"))
    if isinstance(flags, list):
        rec = [bool(x) for x in flags][:layers]
        source = "metadata array attention.recurrent_layers"
    elif interval or arch in INTERVAL_ARCHS:
        n = interval or 4
        rec = [(il + 1) % n != 0 for il in range(layers)]
        source = f"full_attention_interval = {n}" + ("" if interval else " (llama.cpp default)")
    elif isinstance(kv_heads, list) and any(k == 0 for k in kv_heads[:layers]):
        rec = [k == 0 for k in kv_heads[:layers]]
        source = "per-layer head_count_kv (0 = no attention)"
    elif ssm or arch in HYBRID_ARCHS:
        # parallel hybrids (falcon-h1): every layer has both a recurrent and an attention part
        return RecurrentSummary("hybrid", list(range(layers)), list(range(layers)),
                                "ssm.* keys, attention in every layer" if ssm else f"{arch} is hybrid", ssm)
    else:
        return None
    rec += [False] * (layers - len(rec))
    return RecurrentSummary("hybrid", [i for i, r in enumerate(rec) if r], [i for i, r in enumerate(rec) if not r],
                            source, ssm)
