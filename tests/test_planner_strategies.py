"""Strategy choice, speed estimate and the `onboard plan` command on real GGUF files."""
from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.gguf_factory import model_spec, write_header_only, write_tiny_model
from onboard.llamacpp.gguf_header import read_header
from onboard.llamacpp.planner import PlanRequest, make_plan
from onboard.llamacpp.rig import Device, Host, Rig

REPO = Path(__file__).resolve().parent.parent
CONTRACT_KEYS = {"strategy", "args", "layers_offloaded", "devices", "est_tokens_per_s", "fits", "warnings"}
DEVICE_KEYS = {"name", "capacity_mib", "weights_mib", "kv_mib", "compute_mib", "overhead_mib", "total_mib", "margin_mib"}


def cuda_rig(*mibs: float, host: float = 63000.0, bw: tuple[float, ...] = (1008.0, 896.0)) -> Rig:
    return Rig([Device(f"CUDA{i}", "CUDA", m, bandwidth_gbs=bw[i % len(bw)]) for i, m in enumerate(mibs)],
               Host(ram_mib=host, bandwidth_gbs=80.0), llama_build=11434)


@pytest.fixture(scope="module")
def shapes(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("shapes")
    out = {}
    for name, arch, kw in [
        ("moe30b", "qwen3moe", dict(n_layer=48, n_embd=2048, n_head=32, n_head_kv=4, head_dim=128, n_ff=6144,
                                    n_expert=128, n_expert_used=8, n_ff_exp=768, n_vocab=151936, n_ctx_train=40960)),
        ("dense70b", "llama", dict(n_layer=80, n_embd=8192, n_head=64, n_head_kv=8, head_dim=128, n_ff=28672,
                                   n_vocab=128256, n_ctx_train=131072)),
        ("dense8b", "llama", dict(n_layer=32, n_embd=4096, n_head=32, n_head_kv=8, head_dim=128, n_ff=14336,
                                  n_vocab=128256, n_ctx_train=131072)),
    ]:
        spec = model_spec(arch, default_type="Q4_K", big_vocab=True, **kw)
        out[name] = write_header_only(d / f"{name}.gguf", spec.tensors, spec.metadata)
    return out


def test_small_model_goes_to_one_gpu(shapes: dict[str, Path]) -> None:
    p = make_plan(read_header(shapes["dense8b"]), cuda_rig(23000, 15500), PlanRequest(ctx=8192))
    assert p.strategy == "A" and p.fits and p.layers_offloaded == "33/33"
    assert p.args[p.args.index("-ts") + 1] == "1,0"  # the faster, bigger GPU alone
    assert p.args[-2:] == ["-fit", "off"]


def test_moe_that_does_not_fit_moves_experts_with_anchored_rule(shapes: dict[str, Path]) -> None:
    p = make_plan(read_header(shapes["moe30b"]), cuda_rig(12000), PlanRequest(ctx=16384))
    assert p.strategy == "C" and p.fits
    rules = [p.args[i + 1] for i, a in enumerate(p.args) if a == "-ot"]
    assert len(rules) == 1 and rules[0].startswith(r"blk\.(") and rules[0].endswith("exps=CPU")
    moved = {n.split(".")[1] for n, d in p.placement.tensor_device.items() if d == "CPU" and n.startswith("blk.")}
    assert all("_exps" in n for n, d in p.placement.tensor_device.items() if d == "CPU" and n.startswith("blk."))
    assert p.device("CUDA0").kv_mib > 0 and p.device("CPU").kv_mib == 0  # KV stays on the GPU
    assert moved  # and the smallest number of layers that fits: one layer fewer does not fit
    n = len(moved)
    fewer = make_plan(read_header(shapes["moe30b"]), cuda_rig(12000),
                      PlanRequest(ctx=16384, ngl=49, overrides=((rf"blk\.({'|'.join(str(i) for i in range(n - 1))})\.ffn_(up|down|gate|gate_up)_(ch|)exps", "CPU"),)))
    assert not fewer.fits


def test_dense_model_too_big_for_two_gpus_offloads_partially(shapes: dict[str, Path]) -> None:
    p = make_plan(read_header(shapes["dense70b"]), cuda_rig(23000, 15500), PlanRequest(ctx=8192))
    assert p.fits and p.strategy in ("B+L", "B+D")
    for d in p.devices:
        assert d.total_mib + d.margin_mib <= d.capacity_mib


def test_nothing_fits_reports_overflow_and_exit_zero(shapes: dict[str, Path]) -> None:
    p = make_plan(read_header(shapes["dense70b"]), cuda_rig(8000, host=16000), PlanRequest(ctx=8192))
    assert not p.fits
    assert any("no placement fits" in w for w in p.warnings)


def test_no_gpu_means_cpu(shapes: dict[str, Path]) -> None:
    p = make_plan(read_header(shapes["dense8b"]), Rig([], Host(ram_mib=63000.0)), PlanRequest(ctx=8192))
    assert p.strategy == "CPU" and p.layers_offloaded == "0/33"
    assert [d.name for d in p.devices] == ["CPU"]


def test_speed_falls_as_weights_move_to_host(shapes: dict[str, Path]) -> None:
    h = read_header(shapes["dense8b"])
    r = cuda_rig(23000)
    speeds = [make_plan(h, r, PlanRequest(ctx=8192, ngl=n)).est_tokens_per_s for n in (33, 24, 16, 0)]
    assert speeds == sorted(speeds, reverse=True) and speeds[0] > 3 * speeds[-1]


def test_faster_gpu_takes_more_layers(shapes: dict[str, Path]) -> None:
    h = read_header(shapes["dense70b"])
    big = cuda_rig(40000, 40000, host=200000.0, bw=(1000.0, 300.0))
    p = make_plan(h, big, PlanRequest(ctx=8192))
    assert p.strategy == "B" and p.fits
    ts = [float(x) for x in p.args[p.args.index("-ts") + 1].split(",")]
    assert ts[0] > ts[1]


# ---- the command --------------------------------------------------------------------------------------
def onboard(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "onboard.workflow.cli", *args], cwd=REPO, capture_output=True, text=True, timeout=120)


def test_plan_json_contract(tmp_path: Path) -> None:
    model = write_tiny_model(tmp_path / "m.gguf", "qwen3moe")
    out = onboard("plan", str(model), "--device", "CUDA0=2000", "--device", "CUDA1=1000", "--ctx", "2048", "--json")
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    assert CONTRACT_KEYS <= set(data)
    assert [d["name"] for d in data["devices"]] == ["CUDA0", "CUDA1", "CPU"]
    for d in data["devices"]:
        assert DEVICE_KEYS <= set(d)
        assert d["total_mib"] == pytest.approx(d["weights_mib"] + d["kv_mib"] + d["compute_mib"] + d["overhead_mib"]
                                               + d["output_mib"] + (d.get("repack_mib") or 0), abs=0.02)
    assert all(isinstance(a, str) and " " not in a for a in data["args"])
    assert data["args"][-2:] == ["-fit", "off"]
    assert data["resolved"]["parallel"] == 4 and data["resolved"]["kv_unified"] is True
    assert data["resolved"]["ctx"] == 2048 and data["resolved"]["batch"] == 2048 and data["resolved"]["ubatch"] == 512


def test_plan_given_flags_and_one_ot_per_rule(tmp_path: Path) -> None:
    model = write_tiny_model(tmp_path / "m.gguf", "qwen3moe", n_layer=4)
    out = onboard("plan", str(model), "--device", "Vulkan0=2048", "--ngl", "3", "--override-tensor", r"blk\.3\.ffn_up_exps=CPU",
                  "--override-tensor", r"blk\.2\.attn_q=CPU", "--n-cpu-moe", "1", "--json")
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    assert data["strategy"] == "given" and data["layers_offloaded"] == "3/5"
    args = data["args"]
    assert [args[i + 1] for i, a in enumerate(args) if a == "-ot"] == [r"blk\.3\.ffn_up_exps=CPU", r"blk\.2\.attn_q=CPU"]
    assert args[args.index("--n-cpu-moe") + 1] == "1" and args[args.index("-ngl") + 1] == "3"
    assert data["resolved"]["ctx"] == 4096  # the training context


def test_plan_header_only_warns(tmp_path: Path) -> None:
    spec = model_spec("llama", n_layer=4)
    model = write_header_only(tmp_path / "h.gguf", spec.tensors, spec.metadata)
    out = onboard("plan", str(model), "--device", "CUDA0=4000", "--json")
    assert out.returncode == 0, out.stderr
    assert any("header-only" in w or "partial" in w for w in json.loads(out.stdout)["warnings"])


def test_plan_human_output_has_table_and_args(tmp_path: Path) -> None:
    model = write_tiny_model(tmp_path / "m.gguf", "llama")
    out = onboard("plan", str(model), "--device", "CUDA0=4000", "--ctx", "1024")
    assert out.returncode == 0, out.stderr
    assert re.search(r"^CUDA0\s+4000\.0", out.stdout, re.M) and re.search(r"^CPU\s", out.stdout, re.M)
    assert "llama-server -c 1024 -ngl 3" in out.stdout


@pytest.mark.parametrize("args,needle", [
    (["--override-tensor", "blk=CUDA9"], "unknown buffer type"),
    (["--cache-type-k", "q9_9"], "unknown cache type"),
    (["--tensor-split", "a,b"], "--tensor-split"),
    (["--cache-type-v", "q8_0", "--flash-attn", "off"], "flash attention"),
])
def test_plan_bad_input_exit_6(tmp_path: Path, args: list[str], needle: str) -> None:
    model = write_tiny_model(tmp_path / "m.gguf", "llama")
    out = onboard("plan", str(model), "--device", "CUDA0=4000", *args)
    assert out.returncode == 6, (out.stdout, out.stderr)
    assert needle in out.stderr and "Traceback" not in out.stderr


def test_plan_missing_or_garbage_file_exit_6(tmp_path: Path) -> None:
    out = onboard("plan", str(tmp_path / "none.gguf"), "--device", "CUDA0=4000")
    assert out.returncode == 6 and "no such file" in out.stderr
    bad = tmp_path / "bad.gguf"
    bad.write_bytes(b"NOTAGGUF" * 10)
    out = onboard("plan", str(bad), "--device", "CUDA0=4000")
    assert out.returncode == 6 and "Traceback" not in out.stderr


# ---- docs generated from code --------------------------------------------------------------------------
def test_strategy_guide_is_current() -> None:
    from onboard.llamacpp.planner.strategy_guide import render_strategy_guide

    text = (REPO / "docs" / "gpu-strategy-guide.md").read_text()
    # the guide is generated; the docs phase appends the repository's model reference table after it
    assert text.startswith(render_strategy_guide())
    rest = text[len(render_strategy_guide()):]
    assert rest == "" or rest.lstrip("\n").startswith("## Model reference\n"), rest[:200]


@pytest.mark.parametrize("stem", ["accuracy", "accuracy-cuda-h100"])
def test_accuracy_doc_is_rendering_of_committed_json(stem: str) -> None:
    from onboard.llamacpp.planner.accuracy_report import render_accuracy, render_accuracy_page

    data = json.loads((REPO / "docs" / "data" / f"{stem}.json").read_text())
    text = (REPO / "docs" / f"{stem}.md").read_text()
    if stem == "accuracy":  # the page also holds the speed section (test_speed_model checks it is current)
        speed = json.loads((REPO / "docs" / "data" / "speed_accuracy.json").read_text())
        assert text == render_accuracy_page(data, speed)
    else:
        assert text == render_accuracy(data)
    assert data["cases"] and {c["split"] for c in data["cases"]} == {"calibration", "held-out"}


def test_rpc_devices_come_first_and_args_carry_rpc_list(tmp_path: Path) -> None:
    model = write_tiny_model(tmp_path / "m.gguf", "llama", n_layer=4)
    r = Rig([Device("CUDA0", "CUDA", 4000.0), Device("RPC[10.0.0.2:50052]", "RPC", 4000.0, rpc_endpoint="10.0.0.2:50052")],
            Host(ram_mib=16000.0), llama_build=11434)
    p = make_plan(read_header(model), r, PlanRequest(ctx=1024, ngl=99, tensor_split=(1, 1)))
    assert [d.name for d in p.devices] == ["RPC[10.0.0.2:50052]", "CUDA0", "CPU"]
    assert p.placement.output_device == "CUDA0"  # the last device in llama.cpp's order
    assert p.args[p.args.index("--rpc") + 1] == "10.0.0.2:50052"
    assert p.device("RPC[10.0.0.2:50052]").overhead_mib == 0.0
