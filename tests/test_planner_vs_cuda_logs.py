"""The planner against real CUDA buffers, replayed without a GPU.

benchmarks/accuracy_cuda.py ran tiny factory models under many placements in a real CUDA
llama-server on an NVIDIA GPU and recorded each log (tests/fixtures/llama-server-logs/cuda-*.log)
with its flags and model (cuda-cases.json). Here every recorded case is predicted again with
make_plan and compared with the buffers analyze_log() reads from its log, so a planner change that
breaks the CUDA figures fails CI although CI has no GPU.

Targets: weights and KV per device within 1% (or 0.1 MiB); compute within 15% (or
0.1 MiB); the layer count offloaded as llama.cpp reports it. A configuration the planner refuses
(BadInput) must be one llama-server refused too.

ONBOARD_GPU_LOG_MANIFEST points the test at another recording (e.g. a run on another GPU).
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from tests.planner_cuda_cases import compare_case

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "llama-server-logs"
MANIFEST = Path(os.environ.get("ONBOARD_GPU_LOG_MANIFEST") or FIXTURES / "cuda-cases.json")


def _recorded() -> dict[str, Any] | None:
    return json.loads(MANIFEST.read_text()) if MANIFEST.exists() else None


RECORDED = _recorded()
CASES = RECORDED["cases"] if RECORDED else []


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("cuda-log-models")


def test_recording_present() -> None:
    """Says plainly when no GPU recording exists yet, instead of passing on an empty list."""
    if RECORDED is None:
        pytest.skip(f"no GPU recording at {MANIFEST}: run benchmarks/accuracy_cuda.py (prepare, run on "
                    "the GPU machine, compare)")
    assert CASES, f"{MANIFEST} lists no cases"
    for case in CASES:
        assert (MANIFEST.parent / case["log"]).exists(), f"missing log {case['log']}"


@pytest.mark.parametrize("case", CASES, ids=[c["id"] for c in CASES])
def test_planner_matches_recorded_gpu_buffers(case: dict[str, Any], model_dir: Path) -> None:
    assert RECORDED is not None
    log = (MANIFEST.parent / case["log"]).read_text(errors="replace")
    result = compare_case(log, case["model"], RECORDED["models"][case["model"]], case["args"], model_dir,
                          RECORDED["gpu"])
    if "planner_error" in result:
        assert result["layers_offloaded"][1] is None and "compute buffer size" not in log, (
            f"the planner refused ({result['planner_error']}) what llama-server ran")
        return
    assert any(r["kind"] == "weights" and r["measured_mib"] for r in result["rows"]), "no buffers in the log"
    assert result["layers_offloaded"][0] == result["layers_offloaded"][1]
    bad_memory = [r for r in result["rows"] if r["kind"] in ("weights", "kv") and not r["ok"]]
    assert not bad_memory, bad_memory
    bad_compute = [r for r in result["rows"] if r["kind"] == "compute" and not r["ok"]]
    assert not bad_compute, bad_compute


def test_cuda_cases_are_the_planner_cases_without_flash_attention() -> None:
    """The CUDA recording's case list comes from tests/planner_cases.py, the one place cases live:
    each planner case that runs without FlashAttention once, with ``-fa off`` and the GPU named in
    its -ot rules, plus the placements only the CUDA recording has."""
    from tests.planner_cases import CASES, CUDA_ONLY, MODELS, cuda_cases

    cases = cuda_cases("CUDA3")
    ids = [c["id"] for c in cases]
    assert len(ids) == len(set(ids))
    only = {f"{m}/{n}" for m, n, _ in CUDA_ONLY}
    planner = {(c.model, tuple(a for a in c.args if a not in ("-fa", "on", "off"))) for c in CASES}
    def placement(c: dict) -> tuple[str, tuple[str, ...]]:
        return c["model"], tuple(a.replace("=CUDA3", "=Vulkan0") for a in c["args"][:-2])

    for c in cases:
        assert c["model"] in MODELS and c["args"][-2:] == ["-fa", "off"] and c["args"].count("-fa") == 1, c
        assert "-ctv" not in c["args"] and not any(a.endswith("=Vulkan0") for a in c["args"]), c
        if c["id"] not in only:  # the same placement as a planner case
            assert placement(c) in planner, c
    assert any(a.endswith("=CUDA3") for c in cases for a in c["args"])
    # every placement of the planner cases that needs no FlashAttention is recorded
    covered = {placement(c) for c in cases}
    assert {p for p in planner if "-ctv" not in p[1]} - covered <= {("deepseek2-mla", ("-c", "8192", "-np", "2", "-ngl", "99"))}
