"""The planner's llama.cpp rules on real GGUF files (tests/gguf_factory.py), with hand-computed
expectations. The same rules are checked against real llama-server in test_planner_vs_llama.py."""
from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.gguf_factory import qwen3moe_235b_spec, write_header_only, write_tiny_model
from onboard.llamacpp.errors import BadInput
from onboard.llamacpp.gguf_header import read_header
from onboard.llamacpp.planner import PlanRequest, make_plan
from onboard.llamacpp.planner.kv_cache import ContextShape, row_size
from onboard.llamacpp.planner.model_facts import model_facts
from onboard.llamacpp.planner.ot_rules import EXPERTS, layer_prefix
from onboard.llamacpp.planner.placement import GpuDevice, layer_devices, place_tensors
from onboard.llamacpp.rig import Device, Host, Rig

MIB = 1024 * 1024


def rig(*devs: tuple[str, float], max_alloc: float | None = None) -> Rig:
    return Rig([Device(n, "Vulkan", m, margin_mib=0.0, max_alloc_mib=max_alloc, description="llvmpipe") for n, m in devs],
               Host(ram_mib=65536.0), llama_build=11434)


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("models")
    return {
        "llama": write_tiny_model(d / "llama.gguf", "llama", n_layer=4),
        "tied": write_tiny_model(d / "tied.gguf", "llama", n_layer=4, tied_embeddings=True),
        "llama12": write_tiny_model(d / "llama12.gguf", "llama", n_layer=12, n_embd=64, n_head=2, n_head_kv=1,
                                    head_dim=32, n_ff=64),
        "moe": write_tiny_model(d / "moe.gguf", "qwen3moe", n_layer=4),
        "gemma3": write_tiny_model(d / "gemma3.gguf", "gemma3"),
        "mla": write_tiny_model(d / "mla.gguf", "deepseek2", nextn_layers=1),
    }


def plan(path: Path, r: Rig | None = None, **kw):  # type: ignore[no-untyped-def]
    kw.setdefault("ctx", 4096)
    kw.setdefault("llama_build", 11434)
    return make_plan(read_header(path), r or rig(("Vulkan0", 2048)), PlanRequest(**kw))


def tensor_bytes(path: Path, pred) -> int:  # type: ignore[no-untyped-def]
    return sum(t.n_bytes for t in read_header(path).tensors if pred(t.name))


# ---- rule 1: -ngl counts the output layer first ------------------------------------------------
@pytest.mark.parametrize("ngl,expected", [
    (0, ["CPU"] * 5),
    (1, ["CPU", "CPU", "CPU", "CPU", "G"]),          # output layer only
    (4, ["CPU", "G", "G", "G", "G"]),                # block 0 stays on the host
    (5, ["G"] * 5),
    (99, ["G"] * 5),
])
def test_ngl_offloads_output_layer_first(ngl: int, expected: list[str]) -> None:
    got = layer_devices(4, ngl, [GpuDevice("G", 1000)], None, 11434)
    assert got == expected


def test_ngl_before_output_first_build_moves_blocks_first() -> None:
    assert layer_devices(4, 4, [GpuDevice("G", 1000)], None, 7000) == ["G", "G", "G", "G", "CPU"]
    assert layer_devices(4, 1, [GpuDevice("G", 1000)], None, 7000) == ["CPU", "CPU", "CPU", "G", "CPU"]


def test_layers_offloaded_and_weights_follow_ngl(models: dict[str, Path]) -> None:
    p = plan(models["llama"], ngl=4)
    assert p.layers_offloaded == "4/5"
    on_gpu = tensor_bytes(models["llama"], lambda n: n.startswith(("blk.1.", "blk.2.", "blk.3.", "output")))
    assert p.device("Vulkan0").weights_mib == pytest.approx(on_gpu / MIB)
    host = tensor_bytes(models["llama"], lambda n: n.startswith(("blk.0.", "token_embd")))
    assert p.device("CPU").weights_mib == pytest.approx(host / MIB)


# ---- -ts: cumulative proportions, upper_bound; output on the last device -------------------------
def test_tensor_split_proportions_use_upper_bound() -> None:
    devs = [GpuDevice("A", 1000), GpuDevice("B", 1000)]
    assert layer_devices(4, 99, devs, (3, 1), 11434) == ["A", "A", "A", "A", "B"]
    assert layer_devices(4, 99, devs, (1, 1), 11434) == ["A", "A", "A", "B", "B"]
    # default split: free memory of each device
    assert layer_devices(4, 99, [GpuDevice("A", 4000), GpuDevice("B", 1000)], None, 11434) == ["A", "A", "A", "A", "B"]
    # a zero share gets nothing
    assert layer_devices(4, 99, devs, (0, 1), 11434) == ["B"] * 5


# ---- rule 2: token_embd on the host unless -ot moves it ------------------------------------------
def test_token_embd_on_host_unless_overridden(models: dict[str, Path]) -> None:
    h = read_header(models["llama"])
    f = model_facts(h)
    p = place_tensors(h.tensors, f, [GpuDevice("Vulkan0", 2048)], ngl=99)
    assert p.tensor_device["token_embd.weight"] == "CPU"
    p = place_tensors(h.tensors, f, [GpuDevice("Vulkan0", 2048)], ngl=99, overrides=[(r"token_embd\.weight", "Vulkan0")])
    assert p.tensor_device["token_embd.weight"] == "Vulkan0"


# ---- rule 3: -ot unanchored search, first match wins, pulls host tensors onto the GPU -----------
def test_override_first_match_wins(models: dict[str, Path]) -> None:
    h = read_header(models["moe"])
    p = place_tensors(h.tensors, model_facts(h), [GpuDevice("Vulkan0", 2048)], ngl=99,
                      overrides=[(r"blk\.1\.ffn_up_exps", "Vulkan0"), (r"ffn_.*_exps", "CPU")])
    assert p.tensor_device["blk.1.ffn_up_exps.weight"] == "Vulkan0"
    assert p.tensor_device["blk.1.ffn_down_exps.weight"] == "CPU"
    assert p.tensor_device["blk.0.ffn_gate_exps.weight"] == "CPU"
    assert p.tensor_device["blk.0.ffn_gate_inp.weight"] == "Vulkan0"


def test_unanchored_rule_catches_two_digit_layers(models: dict[str, Path]) -> None:
    h = read_header(models["llama12"])
    p = place_tensors(h.tensors, model_facts(h), [GpuDevice("Vulkan0", 2048)], ngl=99, overrides=[(r"blk\.1", "CPU")])
    on_cpu = {int(n.split(".")[1]) for n, d in p.tensor_device.items() if d == "CPU" and n.startswith("blk.")}
    assert on_cpu == {1, 10, 11}


def test_override_pulls_host_layer_onto_gpu(models: dict[str, Path]) -> None:
    h = read_header(models["llama"])
    p = place_tensors(h.tensors, model_facts(h), [GpuDevice("Vulkan0", 2048)], ngl=0,
                      overrides=[(r"blk\.0\.attn_q", "Vulkan0")])
    assert p.tensor_device["blk.0.attn_q.weight"] == "Vulkan0"
    assert p.layer_device[0] == "CPU"  # KV of the layer still follows -ngl


def test_unknown_buffer_or_comma_is_bad_input(models: dict[str, Path]) -> None:
    with pytest.raises(BadInput, match="unknown buffer type"):
        plan(models["llama"], overrides=(("blk", "CUDA_Host"),))
    with pytest.raises(BadInput, match="comma"):
        plan(models["llama"], overrides=((r"blk\.[0-9]{1,2}\.", "CPU"),))


# ---- rule 4: --n-cpu-moe / --cpu-moe ---------------------------------------------------------------
def test_n_cpu_moe_moves_only_routed_experts_of_first_layers(models: dict[str, Path]) -> None:
    p = plan(models["moe"], n_cpu_moe=2)
    td = p.placement.tensor_device
    for il in range(4):
        for part in ("ffn_up_exps", "ffn_gate_exps", "ffn_down_exps"):
            assert td[f"blk.{il}.{part}.weight"] == ("CPU" if il < 2 else "Vulkan0")
        assert td[f"blk.{il}.ffn_gate_inp.weight"] == "Vulkan0"
        assert td[f"blk.{il}.attn_q.weight"] == "Vulkan0"
    assert p.args[p.args.index("--n-cpu-moe") + 1] == "2"


def test_cpu_moe_with_partial_ngl_only_moves_gpu_layers(models: dict[str, Path]) -> None:
    both = plan(models["moe"], ngl=3, cpu_moe=True)
    ngl_only = plan(models["moe"], ngl=3)
    exps_gpu_layers = tensor_bytes(models["moe"], lambda n: "_exps" in n and n.startswith(("blk.2.", "blk.3.")))
    assert ngl_only.device("Vulkan0").weights_mib - both.device("Vulkan0").weights_mib == pytest.approx(exps_gpu_layers / MIB)


# ---- rule 5: tied embeddings -----------------------------------------------------------------------
def test_tied_output_counts_twice_only_across_buffers(models: dict[str, Path]) -> None:
    emb = tensor_bytes(models["tied"], lambda n: n == "token_embd.weight") / MIB
    full = plan(models["tied"], ngl=99)
    assert full.placement.tied_output_device == "Vulkan0"
    assert full.device("CPU").weights_mib == pytest.approx(emb)
    blocks = tensor_bytes(models["tied"], lambda n: n != "token_embd.weight") / MIB
    assert full.device("Vulkan0").weights_mib == pytest.approx(blocks + emb)
    none = plan(models["tied"], ngl=0)
    total = tensor_bytes(models["tied"], lambda n: True) / MIB
    assert none.device("CPU").weights_mib == pytest.approx(total)  # one host copy
    ot = plan(models["tied"], ngl=99, overrides=((r"token_embd\.weight", "CPU"),))
    assert ot.device("CPU").weights_mib == pytest.approx(emb)
    assert ot.device("Vulkan0").weights_mib == pytest.approx(blocks)


# ---- rule 8: a tensor above the device's largest allocation stays on the host ---------------------
def test_tensor_above_max_allocation_falls_back_to_host(models: dict[str, Path]) -> None:
    h = read_header(models["llama"])
    biggest = max(h.tensors, key=lambda t: t.n_bytes)
    limit = (biggest.n_bytes - 1) / MIB
    p = plan(models["llama"], rig(("Vulkan0", 2048), max_alloc=limit), ngl=99)
    assert p.placement.tensor_device[biggest.name] == "CPU"
    assert any("largest allocation" in w for w in p.warnings)


# ---- nextn / MTP blocks are not loaded and have no KV --------------------------------------------------
def test_nextn_block_skipped(models: dict[str, Path]) -> None:
    p = plan(models["mla"], ngl=99)
    assert all(not n.startswith("blk.3.") for n in p.placement.tensor_device)
    loaded = tensor_bytes(models["mla"], lambda n: not n.startswith("blk.3.") and n != "token_embd.weight")
    assert p.device("Vulkan0").weights_mib == pytest.approx(loaded / MIB)
    assert p.layers_offloaded == "5/5"  # block_count 4 (3 + 1 nextn) + output


# ---- KV cache sizes (hand-computed) ---------------------------------------------------------------------
def test_kv_gqa_f16_and_q8(models: dict[str, Path]) -> None:
    # llama factory: 4 layers, 2 KV heads x 64 -> 128 values per token-layer for K and for V
    p = plan(models["llama"], ngl=99, ctx=4096)
    assert p.device("Vulkan0").kv_mib == pytest.approx(4 * 4096 * (128 * 2) * 2 / MIB)  # 8 MiB
    p = plan(models["llama"], ngl=99, ctx=4096, cache_type_k="q8_0", cache_type_v="q8_0", flash_attn="on")
    assert p.device("Vulkan0").kv_mib == pytest.approx(4 * 4096 * (128 // 32 * 34) * 2 / MIB)  # 4.25 MiB


def test_kv_ctx_pad256_and_parallel_streams(models: dict[str, Path]) -> None:
    p = plan(models["llama"], ngl=99, ctx=3000, parallel=3)  # 3072 cells = 3 streams x 1024
    assert p.device("Vulkan0").kv_mib == pytest.approx(4 * 3072 * 512 / MIB)
    assert p.settings.unified is False and "-np" in p.args
    p = plan(models["llama"], ngl=99, ctx=1000)
    assert p.device("Vulkan0").kv_mib == pytest.approx(4 * 1024 * 512 / MIB)


def test_kv_follows_layer_device_not_ot(models: dict[str, Path]) -> None:
    p = plan(models["llama"], ngl=3)  # output + blocks 2, 3 on the GPU
    assert p.device("Vulkan0").kv_mib == pytest.approx(2 * 4096 * 512 / MIB)
    assert p.device("CPU").kv_mib == pytest.approx(2 * 4096 * 512 / MIB)
    p = plan(models["llama"], ngl=99, overrides=((r"blk\.0\.attn_.*", "CPU"),))
    assert p.device("CPU").kv_mib == 0


def test_kv_sliding_window_cells(models: dict[str, Path]) -> None:
    # gemma3 factory: 6 layers, layer 5 full, window 128, 1 KV head x 64 -> 256 B per cell-layer (f16 K+V)
    auto = plan(models["gemma3"], ngl=99, ctx=4096)  # 4 unified slots: PAD256(min(4096, 128*4 + 512)) = 1024
    assert auto.device("Vulkan0").kv_mib == pytest.approx((5 * 1024 + 4096) * 256 / MIB)
    np4 = plan(models["gemma3"], ngl=99, ctx=8192, parallel=4)  # 4 streams: SWA PAD256(128+512)=768, full 2048
    assert np4.device("Vulkan0").kv_mib == pytest.approx(4 * (5 * 768 + 2048) * 256 / MIB)
    small = plan(models["gemma3"], ngl=99, ctx=512, parallel=1)  # min(512, 640) -> 512
    assert small.device("Vulkan0").kv_mib == pytest.approx(6 * 512 * 256 / MIB)


def test_kv_mla_is_k_only_since_v_less_build(models: dict[str, Path]) -> None:
    # kv_lora 64 + rope 16 = 80 values per token-layer, 3 layers (nextn has none)
    p = plan(models["mla"], ngl=99, ctx=4096)
    assert p.device("Vulkan0").kv_mib == pytest.approx(3 * 4096 * 80 * 2 / MIB)
    old = plan(models["mla"], ngl=99, ctx=4096, llama_build=8000)
    assert old.device("Vulkan0").kv_mib == pytest.approx(3 * 4096 * (80 + 64) * 2 / MIB)
    with pytest.raises(BadInput, match="same K and V"):
        plan(models["mla"], cache_type_k="q8_0")
    # K latent of 80 values: q8_0 (block 32) is refused by llama.cpp with flash attention
    with pytest.raises(BadInput, match="does not divide the head width 80"):
        plan(models["mla"], cache_type_k="q8_0", cache_type_v="q8_0")


def test_quantized_v_needs_flash_attention(models: dict[str, Path]) -> None:
    with pytest.raises(BadInput, match="flash attention"):
        plan(models["llama"], cache_type_v="q8_0", flash_attn="off")
    p = plan(models["llama"], cache_type_v="q8_0")
    assert p.settings.flash_attn is True


def test_row_sizes_from_ggml_blocks() -> None:
    from onboard.llamacpp.planner.kv_cache import CACHE_TYPES

    assert row_size(CACHE_TYPES["q4_0"], 128) == 4 * 18
    assert row_size(CACHE_TYPES["q5_1"], 64) == 2 * 24
    assert ContextShape.resolve(3000, 3, False, 512).n_ctx_seq == 1024


def test_variable_v_width_padded_without_flash_attention(tmp_path: Path) -> None:
    path = write_tiny_model(tmp_path / "var.gguf", "llama", n_layer=2, n_head_kv=[2, 1])
    fa = plan(path, ngl=99, flash_attn="on")
    nofa = plan(path, ngl=99, flash_attn="off")
    # K: 128 + 64 values; V with FA: 128 + 64; without FA both V rows padded to 128
    assert fa.device("Vulkan0").kv_mib == pytest.approx(4096 * 2 * (128 + 64 + 128 + 64) / MIB)
    assert nofa.device("Vulkan0").kv_mib == pytest.approx(4096 * 2 * (128 + 64 + 128 + 128) / MIB)


# ---- generated -ot rules on real tensor names ---------------------------------------------------------
@pytest.fixture(scope="module")
def big_names(tmp_path_factory: pytest.TempPathFactory) -> list[str]:
    spec = qwen3moe_235b_spec(n_layer=130)
    path = write_header_only(tmp_path_factory.mktemp("h") / "big.gguf", spec.tensors, spec.metadata)
    return [t.name for t in read_header(path).tensors]


@pytest.mark.parametrize("layers", [[1], list(range(10, 24)), list(range(0, 94)), list(range(5, 120)),
                                    [3, 7, 9, 11], list(range(95, 105)), [0], [129], list(range(1, 130, 2))])
def test_layer_rules_catch_exactly_their_layers(big_names: list[str], layers: list[int]) -> None:
    rx = re.compile(layer_prefix(layers) + EXPERTS)
    hit = {int(n.split(".")[1]) for n in big_names if rx.search(n)}
    assert hit == set(layers)
    assert all("_exps" in n for n in big_names if rx.search(n))
    assert "," not in rx.pattern


def test_documented_example_is_exact() -> None:
    assert layer_prefix(range(10, 24)) == r"blk\.(1[0-9]|2[0-3])\."
    assert not re.search(layer_prefix(range(10, 24)), "blk.123.ffn_up_exps.weight")
