"""The architecture facts the memory model needs, read from GGUF metadata as llama.cpp reads them.

Why a module of its own: llama.cpp derives per-layer facts (KV heads, sliding-window layers,
recurrent layers, MTP/nextn blocks) from metadata keys and per-architecture defaults in
``src/llama-model.cpp`` / ``src/models/<arch>.cpp`` (``load_arch_hparams``) and
``src/llama-hparams.cpp``. Every later rule (placement, KV, compute) reads these facts, never the
raw keys. Per-layer arrays in the metadata always win over architecture tables.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from onboard.llamacpp.errors import BadInput
from onboard.llamacpp.gguf_model import GGUFHeader, SkippedArray

# src/models/<arch>.cpp: load_swa_pattern(ml, n_pattern, dense_first) per architecture (build 11434).
# GGUF architecture name -> (default pattern, dense_first). A GGUF `attention.sliding_window_pattern`
# (bool array or int) overrides the default, as llama_model_base::load_swa_pattern does.
SWA_PATTERNS: dict[str, tuple[int, bool]] = {
    "gemma2": (2, False), "gemma3": (6, False), "gemma3n": (5, False), "gemma-embedding": (6, False),
    "cohere2": (4, False), "llama4": (4, False), "gpt-oss": (2, False), "olmo2": (4, False),
    "exaone4": (4, False), "afmoe": (4, False), "smallthinker": (4, True), "plamo3": (8, False),
}

# src/llama-arch.cpp: llm_arch_is_recurrent / llm_arch_is_hybrid (GGUF architecture names).
RECURRENT_ARCHS = frozenset({"mamba", "mamba2", "rwkv6", "rwkv6qwen2", "rwkv7", "arwkv7"})
HYBRID_ARCHS = frozenset({"jamba", "falcon-h1", "plamo2", "granitehybrid", "lfm2", "lfm2moe",
                          "nemotron_h", "nemotron_h_moe", "qwen3next", "qwen35", "qwen35moe"})
# hybrids whose attention layers are every `full_attention_interval`-th (default 4) layer
INTERVAL_HYBRIDS = frozenset({"qwen3next", "qwen35", "qwen35moe"})

# src/models/gemma3n.cpp: only the first 20 layers own a KV cache; later layers reuse it.
KV_FROM_START = {"gemma3n": 20}


def _int(value: Any, default: int = 0) -> int:
    if value is None or isinstance(value, SkippedArray):
        return default
    if isinstance(value, (list, tuple)):
        return int(value[0]) if value else default
    return int(value)


def _per_layer(value: Any, n: int, default: int) -> list[int]:
    """A scalar or per-layer array key as a list of ``n`` ints (llama.cpp's get_key_or_arr)."""
    if value is None or isinstance(value, SkippedArray):
        return [default] * n
    if isinstance(value, (list, tuple)):
        vals = [int(v) for v in value]
        if len(vals) < n:
            vals += [vals[-1] if vals else default] * (n - len(vals))
        return vals[:n]
    return [int(value)] * n


@dataclass
class ModelFacts:
    """Per-model and per-layer facts, as llama.cpp's ``llama_hparams`` holds them.

    ``n_layer_all`` is GGUF ``block_count`` (includes MTP/nextn blocks); ``n_layer`` excludes them
    (``llama_hparams::n_layer()``). Lists are indexed by layer (``n_layer_all`` long).
    """

    arch: str
    n_layer_all: int
    n_nextn: int
    n_embd: int
    n_vocab: int
    n_ctx_train: int
    n_head: list[int]
    n_head_kv: list[int]
    head_k: int
    head_v: int
    n_ff: list[int]
    n_expert: int = 0
    n_expert_used: int = 0
    n_ff_exp: int = 0
    is_mla: bool = False
    mla_k: int = 0  # K latent width per token-layer (kv_lora_rank + rope dims)
    mla_v: int = 0  # V latent width (kv_lora_rank), stored only by builds before V-less MLA
    n_swa: int = 0
    swa: list[bool] = field(default_factory=list)
    recurrent: list[bool] = field(default_factory=list)
    n_embd_r: int = 0  # recurrent conv/shift state per sequence and layer (F32 elements)
    n_embd_s: int = 0  # recurrent SSM/WKV state per sequence and layer (F32 elements)
    kv_from_start: int = -1
    dense_ffn: list[bool] = field(default_factory=list)  # layer has dense ffn_up/gate/down tensors
    tied_embeddings: bool = False
    warnings: list[str] = field(default_factory=list)

    @property
    def n_layer(self) -> int:
        """Layers that run (``llama_hparams::n_layer()``): nextn blocks excluded."""
        return self.n_layer_all - self.n_nextn

    @property
    def is_moe(self) -> bool:
        return self.n_expert > 0

    def has_kv(self, il: int) -> bool:
        """Whether layer ``il`` owns attention KV cells (llama_hparams::has_kv plus the model's
        layer filters in llama_model::create_memory: nextn blocks and recurrent layers have none)."""
        if il >= self.n_layer:
            return False
        if self.kv_from_start >= 0 and il >= self.kv_from_start:
            return False
        if self.recurrent and self.recurrent[il] and self.arch != "falcon-h1":
            return False
        if self.arch in RECURRENT_ARCHS:
            return False
        return self.n_head_kv[il] > 0 or self.is_mla

    def n_embd_k_gqa(self, il: int) -> int:
        """K elements per token-layer (llama_hparams::n_embd_k_gqa); MLA stores the latent."""
        if self.is_mla:
            return self.mla_k
        return self.head_k * self.n_head_kv[il]

    def n_embd_v_gqa(self, il: int) -> int:
        """V elements per token-layer (llama_hparams::n_embd_v_gqa)."""
        if self.is_mla:
            return self.mla_v
        return self.head_v * self.n_head_kv[il]


def model_facts(header: GGUFHeader) -> ModelFacts:
    """Read the facts llama.cpp's ``load_hparams`` would derive from ``header``.

    Raises BadInput naming the missing key when the architecture or the layer count is absent.
    """
    md = header.metadata
    arch = header.architecture
    if not arch:
        raise BadInput("no general.architecture in the GGUF metadata", path=header.source,
                       field="general.architecture", fix="is this a model GGUF (not an mmproj or LoRA)?")

    def key(suffix: str, default: Any = None) -> Any:
        return md.get(f"{arch}.{suffix}", default)

    n_layer_all = _int(key("block_count"), 0)
    if n_layer_all <= 0:
        raise BadInput(f"no {arch}.block_count in the GGUF metadata", path=header.source,
                       field=f"{arch}.block_count")
    n_embd = _int(key("embedding_length"), 0)
    n_head = _per_layer(key("attention.head_count"), n_layer_all, 0)
    n_head_kv = _per_layer(key("attention.head_count_kv"), n_layer_all, n_head[0] if n_head else 0)
    h0 = max(n_head) if n_head else 0
    head_k = _int(key("attention.key_length"), n_embd // h0 if h0 else 0)
    head_v = _int(key("attention.value_length"), n_embd // h0 if h0 else 0)
    n_ff = _per_layer(key("feed_forward_length"), n_layer_all, 0)
    n_nextn = _int(key("nextn_predict_layers"), 0)
    warnings: list[str] = []

    n_vocab = _int(key("vocab_size"), 0)
    if not n_vocab:
        tokens = md.get("tokenizer.ggml.tokens")
        if isinstance(tokens, SkippedArray):
            n_vocab = tokens.length
        elif isinstance(tokens, list):
            n_vocab = len(tokens)
    names = {t.name: t for t in header.tensors}
    if not n_vocab:
        emb = names.get("token_embd.weight") or names.get("output.weight")
        n_vocab = emb.shape[1] if emb is not None and len(emb.shape) > 1 else 0

    facts = ModelFacts(
        arch=arch, n_layer_all=n_layer_all, n_nextn=n_nextn, n_embd=n_embd, n_vocab=n_vocab,
        n_ctx_train=_int(key("context_length"), 0), n_head=n_head, n_head_kv=n_head_kv,
        head_k=head_k, head_v=head_v, n_ff=n_ff,
        n_expert=_int(key("expert_count"), 0), n_expert_used=_int(key("expert_used_count"), 0),
        n_ff_exp=_int(key("expert_feed_forward_length"), 0),
        tied_embeddings="output.weight" not in names and "token_embd.weight" in names,
        warnings=warnings,
    )

    facts.dense_ffn = [False] * n_layer_all
    for t in header.tensors:
        if t.name.startswith("blk.") and (".ffn_up." in t.name or ".ffn_down." in t.name):
            il = int(t.name.split(".")[1])
            if il < n_layer_all:
                facts.dense_ffn[il] = True

    # MLA (src/models/deepseek2.cpp + llama_hparams::is_mla): the *_mla keys mark a latent cache
    # of kv_lora_rank + rope dims (= key_length) elements; value_length = kv_lora_rank.
    if _int(key("attention.key_length_mla"), 0) and _int(key("attention.value_length_mla"), 0):
        facts.is_mla = True
        facts.mla_k = head_k
        facts.mla_v = head_v

    # sliding window (llama_model_base::load_swa_pattern): a bool array wins, then an int pattern,
    # then the architecture's default pattern; only when the GGUF gives a window size.
    n_swa = _int(key("attention.sliding_window"), 0)
    facts.swa = [False] * n_layer_all
    if n_swa > 0 and (arch in SWA_PATTERNS or key("attention.sliding_window_pattern") is not None):
        facts.n_swa = n_swa
        pattern = key("attention.sliding_window_pattern")
        n_pattern, dense_first = SWA_PATTERNS.get(arch, (0, False))
        if isinstance(pattern, list):
            facts.swa = [bool(v) for v in pattern][:n_layer_all]
            facts.swa += [False] * (n_layer_all - len(facts.swa))
        else:
            if pattern is not None and not isinstance(pattern, SkippedArray):
                n_pattern = int(pattern)
            for il in range(n_layer_all - n_nextn):
                if dense_first:
                    facts.swa[il] = n_pattern == 0 or il % n_pattern != 0
                else:
                    facts.swa[il] = n_pattern == 0 or il % n_pattern < n_pattern - 1
    elif n_swa > 0:
        warnings.append(f"{arch}: attention.sliding_window={n_swa} but no known layer pattern; "
                        "every layer is charged the full context")

    facts.kv_from_start = KV_FROM_START.get(arch, -1)

    # recurrent / hybrid state (src/llama-memory-recurrent.cpp, llama_hparams::n_embd_r/n_embd_s)
    facts.recurrent = [False] * n_layer_all
    if arch in RECURRENT_ARCHS or arch in HYBRID_ARCHS:
        d_conv = _int(key("ssm.conv_kernel"), 0)
        d_inner = _int(key("ssm.inner_size"), 0)
        d_state = _int(key("ssm.state_size"), 0)
        n_group = _int(key("ssm.group_count"), 0)
        if arch.startswith("rwkv") or arch == "arwkv7":
            head_size = _int(key("wkv.head_size"), 0)
            facts.n_embd_r = _int(key("token_shift_count"), 2) * n_embd
            facts.n_embd_s = n_embd * head_size
        elif arch.startswith("lfm2"):
            facts.n_embd_r = n_embd * max(_int(key("shortconv.l_cache"), 0) - 1, 0)
            facts.n_embd_s = 0
        else:
            facts.n_embd_r = max(d_conv - 1, 0) * (d_inner + 2 * n_group * d_state)
            facts.n_embd_s = d_state * d_inner
        if arch in RECURRENT_ARCHS:
            facts.recurrent = [True] * n_layer_all
        elif arch in INTERVAL_HYBRIDS:
            interval = _int(key("full_attention_interval"), 4) or 4
            facts.recurrent = [(il + 1) % interval != 0 for il in range(n_layer_all)]
        elif arch == "falcon-h1":
            facts.recurrent = [True] * n_layer_all
        else:
            facts.recurrent = [n_head_kv[il] == 0 for il in range(n_layer_all)]
        for il in range(facts.n_layer, n_layer_all):
            facts.recurrent[il] = False
        warnings.append(f"{arch}: recurrent/hybrid state is modelled from the formulas in "
                        "llama-hparams.cpp but was not checked against a real run")
    return facts
