"""Several devices and RPC workers, expressed and predicted as llama.cpp does: worker names and
buffer names, device order, ``--split-mode``/``--main-gpu``, and per-device compute buffers
(what a device holds and does), plus the CPU-only compute buffer. Real llama-server runs of the
same rules are in tests/test_planner_rpc_real.py."""
from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from onboard.llamacpp.errors import BadInput
from onboard.llamacpp.gguf_header import read_header
from onboard.llamacpp.hardware import devices_from_options, resolve_rig
from onboard.llamacpp.planner import PlanRequest, make_plan
from onboard.llamacpp.rig import Device, Host, Rig
from onboard.llamacpp.rig_file import parse_rig
from tests.gguf_factory import model_spec, qwen3moe_235b_spec, write_header_only, write_tiny_model

REPO = Path(__file__).resolve().parent.parent
W1, W2 = "127.0.0.1:50052", "127.0.0.1:50053"
RIG_TEXT = f"""
name = "two workers and a GPU"
[[device]]
name = "CUDA0"
backend = "CUDA"
usable_mib = 8000
[[rpc]]
endpoint = "{W1}"
usable_mib = 16000
[[rpc]]
endpoint = "{W2}"
usable_mib = 8000
[host]
ram_mib = 65536
[llama]
build = 11434
"""


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("multidevice")
    out = {
        "llama": write_tiny_model(d / "llama.gguf", "llama", n_layer=4, n_embd=512, n_head=8, n_head_kv=2,
                                  head_dim=64, n_ff=1536),
        "gemma3": write_tiny_model(d / "gemma3.gguf", "gemma3", n_layer=6, n_embd=256, n_head=4, n_head_kv=1,
                                   head_dim=64, n_ff=512, sliding_window=128),
    }
    spec = model_spec("gemma3", default_type="Q8_0", big_vocab=True, n_layer=18, n_embd=640, n_head=4, n_head_kv=1,
                      head_dim=256, n_ff=2048, n_vocab=262144, n_ctx_train=32768)
    out["gemma-big-vocab"] = write_header_only(d / "gemma-big-vocab.gguf", spec.tensors, spec.metadata)
    spec = qwen3moe_235b_spec(n_layer=180)
    out["qwen3-235b"] = write_header_only(d / "qwen3-235b.gguf", spec.tensors, spec.metadata)
    return out


def rig() -> Rig:
    return parse_rig(RIG_TEXT, "rig.toml")


def plan(path: Path, r: Rig | None = None, **kw) -> dict:  # type: ignore[no-untyped-def]
    return make_plan(read_header(path), r or rig(), PlanRequest(llama_build=11434, **kw)).to_json()


def dev(p: dict, name: str) -> dict:
    return next(d for d in p["devices"] if d["name"] == name)


# ---- names ----------------------------------------------------------------------------------------
def test_rig_file_workers_get_llamacpp_device_and_buffer_names() -> None:
    r = rig()
    assert [d.name for d in r.devices] == ["CUDA0", "RPC0", "RPC1"]
    assert [d.buffer_name for d in r.devices] == ["CUDA0", f"RPC0[{W1}]", f"RPC0[{W2}]"]
    assert not r.warnings


def test_old_rpc_spelling_in_a_device_entry_is_read_with_a_deprecation_warning() -> None:
    r = parse_rig(f'[[device]]\nname = "RPC[{W1}]"\nbackend = "RPC"\nusable_mib = 4000\n[host]\nram_mib = 8000\n',
                  "old.toml")
    assert [(d.name, d.rpc_endpoint, d.buffer_name) for d in r.devices] == [("RPC0", W1, f"RPC0[{W1}]")]
    assert any("deprecated" in w and "old.toml:2" in w and "[[rpc]]" in w for w in r.warnings)


def test_device_option_takes_a_worker_by_buffer_name_and_numbers_workers_in_order() -> None:
    warnings: list[str] = []
    devs = devices_from_options([f"RPC0[{W2}]=4000", "CUDA0=8000", f"RPC[{W1}]=2000"], warnings=warnings)
    assert [(d.name, d.buffer_name, d.usable_mib) for d in devs] == [
        ("RPC0", f"RPC0[{W2}]", 4000.0), ("CUDA0", "CUDA0", 8000.0), ("RPC1", f"RPC0[{W1}]", 2000.0)]
    assert len(warnings) == 1 and "deprecated" in warnings[0]


def test_device_option_keeps_a_rig_workers_address(tmp_path: Path) -> None:
    path = tmp_path / "rig.toml"
    path.write_text(RIG_TEXT)
    r = resolve_rig(devices=["RPC1=3000", "CUDA0=7000"], rig_path=str(path))
    assert [(d.name, d.rpc_endpoint, d.usable_mib) for d in r.devices] == [("RPC0", W2, 3000.0),
                                                                        ("CUDA0", None, 7000.0)]


def test_ot_onto_a_worker_uses_the_buffer_name_llama_server_accepts(models: dict[str, Path]) -> None:
    for target in ("RPC1", f"RPC0[{W2}]"):  # the device name is translated, the buffer name kept
        p = plan(models["llama"], overrides=((r"blk\.1\.ffn_.*", target),))
        assert p["args"][p["args"].index("-ot") + 1] == rf"blk\.1\.ffn_.*=RPC0[{W2}]"
        assert dev(p, "RPC1")["weights_mib"] > 0
    assert p["args"][p["args"].index("--rpc") + 1] == f"{W1},{W2}"
    assert [d.get("buffer") for d in p["devices"]] == [f"RPC0[{W1}]", f"RPC0[{W2}]", None, None]


def test_ot_onto_a_worker_without_address_is_refused(models: dict[str, Path]) -> None:
    r = Rig([Device("RPC0", "RPC", 4000.0), Device("CUDA0", "CUDA", 4000.0)], Host(ram_mib=16000.0), llama_build=11434)
    with pytest.raises(BadInput, match="RPC<k>\\[host:port\\]"):
        plan(models["llama"], r, overrides=((r"blk\.1\.ffn_.*", "RPC0"),))


def test_workers_come_first_and_the_default_split_follows_free_memory(models: dict[str, Path]) -> None:
    p = plan(models["llama"], ngl=99)
    assert [d["name"] for d in p["devices"]] == ["RPC0", "RPC1", "CUDA0", "CPU"]
    # 5 layers (4 blocks + output) over 16000 : 8000 : 8000 MiB -> 3 : 1 : 1
    w = {d["name"]: d["weights_mib"] for d in p["devices"]}
    assert w["RPC0"] > 2.5 * w["RPC1"] and w["CUDA0"] > 0


# ---- split mode ------------------------------------------------------------------------------------
def test_split_mode_none_puts_everything_on_the_main_gpu(models: dict[str, Path]) -> None:
    p = plan(models["llama"], split_mode="none", main_gpu=1)
    assert p["args"][p["args"].index("-sm") + 1] == "none" and p["args"][p["args"].index("-mg") + 1] == "1"
    assert dev(p, "RPC1")["weights_mib"] > 20 and dev(p, "RPC0")["weights_mib"] == 0
    assert dev(p, "CUDA0")["compute_mib"] == 0 and dev(p, "RPC0")["compute_mib"] == 0


def test_main_gpu_out_of_range_is_refused(models: dict[str, Path]) -> None:
    with pytest.raises(BadInput, match="not a device index"):
        plan(models["llama"], split_mode="none", main_gpu=3)


@pytest.mark.parametrize("backend", ["Vulkan", "RPC", "Metal"])
def test_row_split_is_refused_where_the_backend_has_no_split_buffers(models: dict[str, Path], backend: str) -> None:
    r = Rig([Device("CUDA0", "CUDA", 8000.0), Device(f"{backend}0", backend, 8000.0)], Host(ram_mib=16000.0))
    with pytest.raises(BadInput, match="split buffers") as err:
        plan(models["llama"], r, split_mode="row")
    assert err.value.field == "--split-mode"


def test_row_split_on_cuda_spreads_the_matrices_and_keeps_kv_on_the_main_gpu(models: dict[str, Path]) -> None:
    r = Rig([Device("CUDA0", "CUDA", 8000.0), Device("CUDA1", "CUDA", 8000.0)], Host(ram_mib=16000.0))
    layer = plan(models["llama"], r, ngl=99)
    row = plan(models["llama"], r, split_mode="row", main_gpu=1)
    assert "-sm" in row["args"] and row["args"][row["args"].index("-sm") + 1] == "row"
    total = sum(d["weights_mib"] for d in layer["devices"])
    assert sum(d["weights_mib"] for d in row["devices"]) == pytest.approx(total, abs=0.05)
    assert dev(row, "CUDA0")["weights_mib"] == pytest.approx(dev(row, "CUDA1")["weights_mib"], rel=0.1)
    assert dev(row, "CUDA0")["kv_mib"] == 0 and dev(row, "CUDA1")["kv_mib"] > 0


def test_plan_command_takes_split_mode_main_gpu_and_worker_names(models: dict[str, Path]) -> None:
    out = subprocess.run([sys.executable, "-m", "onboard.workflow.cli", "plan", str(models["llama"]), "--ctx", "4096",
                          "--device", f"RPC0[{W1}]=8000", "--device", "Vulkan0=2048", "--split-mode", "none",
                          "--main-gpu", "0", "--override-tensor", rf"blk\.0\.ffn_up\.=RPC0[{W1}]", "--json"],
                         capture_output=True, text=True, cwd=REPO, timeout=60)
    assert out.returncode == 0, out.stderr
    p = json.loads(out.stdout)
    assert [d["name"] for d in p["devices"]] == ["RPC0", "Vulkan0", "CPU"]
    assert p["args"][p["args"].index("--rpc") + 1] == W1 and "-sm" in p["args"]
    bad = subprocess.run([sys.executable, "-m", "onboard.workflow.cli", "plan", str(models["llama"]), "--device",
                          "Vulkan0=2048", "--split-mode", "row"], capture_output=True, text=True, cwd=REPO, timeout=60)
    assert bad.returncode == 6 and "split buffers" in bad.stderr


# ---- compute buffers -------------------------------------------------------------------------------
def test_cpu_only_logits_are_one_row_per_sequence(models: dict[str, Path]) -> None:
    """A 262k vocabulary: reserving logits for every ubatch token would be 512 MiB; llama-server
    reserves one output per sequence (Gemma 3 270M measured 24.8 MiB at 4096 tokens)."""
    cpu_rig = Rig([], Host(ram_mib=16000.0), llama_build=11434)
    p = plan(models["gemma-big-vocab"], cpu_rig, ctx=4096, ngl=0)
    assert 20 < dev(p, "CPU")["compute_mib"] < 30


def test_device_with_only_the_output_layer_needs_almost_nothing(models: dict[str, Path]) -> None:
    p = plan(models["llama"], ngl=99, tensor_split=(1.0, 1.0, 0.0), overrides=((r"token_embd\.weight", "CPU"),))
    full = dev(p, "RPC0")["compute_mib"]
    r = Rig([Device("Vulkan0", "Vulkan", 2048.0), Device("RPC0", "RPC", 8000.0, rpc_endpoint=W1)],
            Host(ram_mib=16000.0), llama_build=11434)
    q = plan(models["llama"], r, ngl=99, tensor_split=(1.0, 0.0), overrides=((r"token_embd\.weight", "CPU"),))
    assert dev(q, "Vulkan0")["compute_mib"] < 0.1 < full  # output layer: the 4 rows of logits


def test_gpu_doing_the_hosts_big_batch_work_needs_the_full_figure_without_layers(models: dict[str, Path]) -> None:
    r = Rig([Device("RPC0", "RPC", 8000.0, rpc_endpoint=W1), Device("Vulkan0", "Vulkan", 2048.0)],
            Host(ram_mib=16000.0), llama_build=11434)
    p = plan(models["llama"], r, ngl=3, tensor_split=(1.0, 0.0))  # blocks 0-1 on the host
    assert dev(p, "Vulkan0")["weights_mib"] == 0
    assert dev(p, "Vulkan0")["compute_mib"] >= dev(p, "RPC0")["compute_mib"]  # RPC offloads no ops


def test_one_block_needs_less_than_several(models: dict[str, Path]) -> None:
    p = plan(models["llama"], ngl=99, tensor_split=(2.0, 1.0, 1.0), overrides=((r"token_embd\.weight", "CPU"),))
    two, one = dev(p, "RPC0")["compute_mib"], dev(p, "RPC1")["compute_mib"]
    assert one < 0.8 * two


def test_pipeline_parallel_copies_only_where_llamacpp_enables_them(models: dict[str, Path]) -> None:
    pp = plan(models["llama"], ngl=99)
    no_pp = plan(models["llama"], ngl=99, overrides=((r"token_embd\.weight", "CPU"),))  # an override turns it off
    partial = plan(models["llama"], ngl=4)
    assert dev(pp, "RPC0")["compute_mib"] > 2 * dev(no_pp, "RPC0")["compute_mib"]
    assert dev(pp, "CPU")["compute_mib"] > 2 * dev(no_pp, "CPU")["compute_mib"]
    assert dev(partial, "CPU")["compute_mib"] == dev(no_pp, "CPU")["compute_mib"]


def test_sliding_window_mask_stays_where_the_full_attention_layers_are(models: dict[str, Path]) -> None:
    """gemma3's full-attention mask (every 6th layer) is needed only on the device holding layer 5."""
    r = Rig([Device("RPC0", "RPC", 8000.0, rpc_endpoint=W1), Device("RPC1", "RPC", 8000.0, rpc_endpoint=W2)],
            Host(ram_mib=16000.0), llama_build=11434)
    p = plan(models["gemma3"], r, ngl=99, ctx=16384, tensor_split=(2.0, 1.0),
             overrides=((r"token_embd\.weight", "CPU"),))
    assert dev(p, "RPC0")["compute_mib"] < dev(p, "RPC1")["compute_mib"]


def test_plan_of_a_2000_tensor_header_on_workers_stays_under_a_second(models: dict[str, Path]) -> None:
    header = read_header(models["qwen3-235b"])
    assert len(header.tensors) > 2000
    start = time.perf_counter()
    p = make_plan(header, rig(), PlanRequest(ctx=32768, llama_build=11434))
    assert time.perf_counter() - start < 1.0
    assert p.devices[0].name == "RPC0"


def test_worker_given_without_address_plans_and_says_what_is_missing(models: dict[str, Path]) -> None:
    r = resolve_rig(devices=["RPC0=4000", "Vulkan0=2048"])
    assert [(d.name, d.backend, d.rpc_endpoint) for d in r.devices] == [("RPC0", "RPC", None), ("Vulkan0", "Vulkan", None)]
    p = make_plan(read_header(models["llama"]), r, PlanRequest(llama_build=11434, ngl=99)).to_json()
    assert "--rpc" not in p["args"] and dev(p, "RPC0")["weights_mib"] > 0
    assert any("RPC0[host:port]" in w for w in p["warnings"])
