"""The planner against real llama.cpp: tiny real models (tests/gguf_factory.py) under many
placements on a real llama-server (software GPU: Mesa lavapipe as Vulkan0), comparing the
per-device buffers it prints with make_plan's prediction.

Targets: weights and KV per device within 1% (or 0.1 MiB); compute within 15%.
Compute constants were tuned on the "calibration" cases only; "held-out" cases are never tuned on
(tests/planner_cases.py). The same runner feeds benchmarks/accuracy_vs_llama.py.
"""
from __future__ import annotations

from pathlib import Path

import pytest

from onboard.llamacpp.gguf_header import read_header
from onboard.llamacpp.planner import make_plan
from tests.planner_cases import CASES, Case, compare, lavapipe_rig, model_path, request_for, run_case

pytestmark = pytest.mark.real_server

# held-out cases whose compute buffer the model misses by more than 15% on lavapipe (measured,
# docs/accuracy.md); strict: the test fails if they start to pass, so this list stays true
KNOWN_COMPUTE_MISSES = {
    "qwen3moe/full": "Vulkan0 reserves 10.0 MiB, the model 12.0 (+20%); CUDA reserves 12.0",
    "gemma3-swa/ctx1024": "Vulkan0 reserves 6.0 MiB, the model 7.0 (+16%); CUDA reserves 7.0",
}


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("planner-vs-llama")


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_buffers_match_real_llama_server(llama_server_bin: Path, model_dir: Path, case: Case) -> None:
    measured = run_case(llama_server_bin, case, model_dir)
    assert measured.weights, f"no buffers in the log:\n{measured.log[-3000:]}"
    header = read_header(model_path(case.model, model_dir))
    plan = make_plan(header, lavapipe_rig(), request_for(case.args)).to_json()
    assert plan["layers_offloaded"] == measured.layers_offloaded
    rows = compare(plan, measured)
    bad_memory = [r for r in rows if r["kind"] in ("weights", "kv") and not r["ok"]]
    assert not bad_memory, bad_memory
    bad_compute = [r for r in rows if r["kind"] == "compute" and not r["ok"]]
    if case.id in KNOWN_COMPUTE_MISSES:
        assert bad_compute, f"{case.id} now within target: remove it from KNOWN_COMPUTE_MISSES"
        pytest.xfail(KNOWN_COMPUTE_MISSES[case.id])
    assert not bad_compute, bad_compute


def test_generated_rules_are_accepted_and_predicted(llama_server_bin: Path, model_dir: Path) -> None:
    """A compact anchored rule from ot_rules (as strategy C writes it) runs in real llama-server
    and allocates what the plan said."""
    from onboard.llamacpp.planner.ot_rules import EXPERTS, layer_prefix

    path = model_path("qwen3moe", model_dir)
    rule = layer_prefix([0, 2, 3]) + EXPERTS + "=CPU"
    args = ("-c", "4096", "-ngl", "99", "-fa", "on", "-ot", rule)
    plan = make_plan(read_header(path), lavapipe_rig(), request_for(args))
    assert plan.args[plan.args.index("-ot") + 1] == rule
    measured = run_case(llama_server_bin, Case("qwen3moe/generated-rule", "qwen3moe", args, "held-out"), model_dir)
    rows = compare(plan.to_json(), measured)
    assert measured.weights and all(r["ok"] for r in rows if r["kind"] in ("weights", "kv")), rows
