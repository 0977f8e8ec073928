"""One comparison of the planner with a recorded CUDA llama-server log.

Shared by benchmarks/accuracy_cuda.py (which ran the cases on a real NVIDIA GPU and recorded the
logs) and tests/test_planner_vs_cuda_logs.py (which repeats the prediction in CI, where no GPU is).
The model is rebuilt from the factory arguments recorded with the case, so the header the planner
reads is the one llama-server loaded; the buffers come from the log through analyze_log().
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping, Sequence

from onboard.llamacpp.errors import BadInput
from onboard.llamacpp.gguf_header import read_header
from onboard.llamacpp.planner import make_plan
from onboard.llamacpp.rig import Device, Host, Rig
from tests import gguf_factory
from tests.planner_cases import compare, lavapipe_rig, measured_from_log, request_for

H100_MIB = 81559.0  # nvidia-smi's total for the H100 80GB HBM3 the logs were recorded on


def model_for(key: str, dims: Mapping[str, Any], model_dir: Path) -> Path:
    """The case's GGUF: the factory's header and tensor table, all data zero (a sparse file, so
    a 1 GB shape costs nothing). llama-server loaded exactly such a file when the log was taken."""
    path = model_dir / f"{key}.gguf"
    if not path.exists():
        model_dir.mkdir(parents=True, exist_ok=True)
        kw = dict(dims)
        spec = gguf_factory.model_spec(kw.pop("arch"), **kw)
        gguf_factory.write_header_only(path, spec.tensors, spec.metadata, sparse_data=True)
    return path


def gpu_rig(name: str = "CUDA0", usable_mib: float = H100_MIB) -> Rig:
    """One GPU as llama.cpp names it; the given placement does not depend on its capacity."""
    if name.startswith("Vulkan"):
        return lavapipe_rig()
    dev = Device(name, "CUDA", usable_mib, total_mib=usable_mib, margin_mib=0.0, description="NVIDIA H100")
    return Rig([dev], Host(ram_mib=131072.0), name="cuda-proof", source="tests", llama_build=11434)


def compare_case(log_text: str, model_key: str, dims: Mapping[str, Any], args: Sequence[str], model_dir: Path,
                 gpu: str = "CUDA0") -> dict[str, Any]:
    """{id-less row}: rows of predicted vs measured per (device, kind), layers offloaded (plan, log)."""
    measured = measured_from_log(log_text)
    header = read_header(model_for(model_key, dims, model_dir))
    try:
        plan = make_plan(header, gpu_rig(gpu), request_for(tuple(args))).to_json()
    except BadInput as exc:  # the planner refuses a configuration: llama-server must have refused it too
        return {"model": model_key, "args": list(args), "rows": [], "planner_error": str(exc),
                "layers_offloaded": [None, measured.layers_offloaded], "output_mib": measured.output}
    return {"model": model_key, "args": list(args), "rows": compare(plan, measured),
            "layers_offloaded": [plan["layers_offloaded"], measured.layers_offloaded],
            "output_mib": measured.output, "plan_warnings": plan.get("warnings", [])}
