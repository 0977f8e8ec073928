"""The log analyser against real logs: every fixture in tests/fixtures/llama-server-logs has its
expected report written here by hand, read off the log text (the line that gives each value is
named in a comment where it is not obvious). Nothing here was produced by running the analyser.

Besides the fixtures: the same log wrapped in timestamps, pids, colours, docker and journald
prefixes reads the same; a --fit dry run and a context created twice count once; logs cut short
and garbage never crash.
"""
from __future__ import annotations

import json
import random
import re
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from onboard.llamacpp.errors import BadInput
from onboard.llamacpp.log_analysis import LogReport, analyze_file, analyze_lines, analyze_log, diagnose

LOGS = Path(__file__).parent / "fixtures" / "llama-server-logs"

CONTRACT = ("build", "devices", "model_buffers_mib", "kv_buffers_mib", "compute_buffers_mib", "n_ctx",
            "type_k", "type_v", "layers_offloaded", "graph_nodes", "graph_splits", "oom", "oom_phase",
            "oom_device", "fatal_error", "prompt_tps", "gen_tps")
EXTRA = ("output_buffers_mib", "oom_asked_mib", "oom_free_mib")


def expect(**fields) -> dict:
    """A full expected report: what is not given is what the log does not print (null / empty)."""
    full = {key: None for key in CONTRACT + EXTRA}
    full.update(devices=[], model_buffers_mib={}, kv_buffers_mib={}, compute_buffers_mib={},
                output_buffers_mib={}, oom=False)
    unknown = set(fields) - set(full)
    assert not unknown, unknown
    full.update(fields)
    return full


SKULK = "1 (7e4c0a9)"  # "common_params_print_info: build 1 (7e4c0a9) with GNU 11.4.0 for Linux x86_64"
B11434 = "11434 (unknown)"
LAVAPIPE = [{"id": "Vulkan0", "name": "llvmpipe (LLVM 15.0.6, 256 bits)", "free_mib": 2048, "total_mib": 2048}]
VK_ABORT = ("llama.cpp/ggml/src/ggml-backend.cpp:930: pre-allocated tensor (cache_k_l0) in a buffer (Vulkan0) "
            "that cannot run the operation (NONE)")
TRUNCATED = ("llama_model_load: error loading model: tensor 'blk.1.ffn_gate_exps.weight' data is not within "
             "the file bounds, model is corrupted or incomplete")

EXPECTED: dict[str, dict] = {
    # --- skulk (prebuilt, "build 1 (7e4c0a9)") on lavapipe Vulkan0 -------------------------------
    "skulk-lavapipe-gemma-startup-lv4-faoff.log": expect(
        build=SKULK, devices=LAVAPIPE,
        model_buffers_mib={"AMX": 190.00, "CPU_Mapped": 170.00, "Vulkan0": 65.16},
        kv_buffers_mib={"Vulkan0": 27.00},  # non-SWA 12.00 + SWA 15.00
        compute_buffers_mib={"Vulkan0": 51.51, "Vulkan_Host": 14.51}, output_buffers_mib={"Vulkan_Host": 1.00},
        n_ctx=4096, type_k="f16", type_v="f16", layers_offloaded="19/19", graph_nodes=817, graph_splits=3,
        prompt_tps=1.75, gen_tps=2.73),  # task 34; its progress line said 1.60 t/s
    "skulk-lavapipe-gemma-startup.log": expect(),  # -lv 3: nothing but warnings and slot lines
    "skulk-cpu-gemma-startup-lv4.log": expect(
        build=SKULK, model_buffers_mib={"AMX": 213.91, "CPU_Mapped": 235.16}, kv_buffers_mib={"CPU": 26.30},
        compute_buffers_mib={"CPU": 24.80}, output_buffers_mib={"CPU": 4.00}, n_ctx=4096,
        type_k="q8_0", type_v="q8_0", layers_offloaded="19/19", graph_nodes=943, graph_splits=1,
        prompt_tps=219.74, gen_tps=29.30),  # task 34 (slot 2), after task 0 (44.45 / 28.24)
    "skulk-under-qemu-haswell.log": expect(
        fatal_error="qemu: uncaught target signal 4 (Illegal instruction) - core dumped"),
    "cpu-tiny-llama.log": expect(
        build=SKULK, model_buffers_mib={"AMX": 7.50, "CPU_Mapped": 6.24}, kv_buffers_mib={"CPU": 8.00},
        compute_buffers_mib={"CPU": 12.01}, output_buffers_mib={"CPU": 0.00}, n_ctx=4096, type_k="f16",
        type_v="f16", layers_offloaded="5/5", graph_nodes=130, graph_splits=1,
        prompt_tps=5544.77, gen_tps=598.61),  # the 4th request, task 99
    "cpu-tiny-qwen3moe.log": expect(
        build=SKULK, model_buffers_mib={"AMX": 1.50, "CPU_Mapped": 13.78}, kv_buffers_mib={"CPU": 8.00},
        compute_buffers_mib={"CPU": 9.01}, output_buffers_mib={"CPU": 0.00}, n_ctx=4096, type_k="f16",
        type_v="f16", layers_offloaded="5/5", graph_nodes=210, graph_splits=1,
        prompt_tps=3011.59, gen_tps=513.31),
    "cpu-tiny-qwen3moe-256bytevocab-http500.log": expect(prompt_tps=1666.77, gen_tps=88.85),  # HTTP 500: not fatal
    "cpu-fail-oom-ulimit.log": expect(
        build=SKULK, model_buffers_mib={"AMX": 1.50, "CPU_Mapped": 13.78}, output_buffers_mib={"CPU": 0.00},
        n_ctx=4194304, layers_offloaded="5/5", oom=True, oom_phase="kv_cache", oom_device="CPU",
        oom_asked_mib=8192.0),  # "insufficient memory (attempted to allocate 8192.00 MB)"
    "cpu-fail-truncated-gguf.log": expect(build=SKULK, fatal_error=TRUNCATED),
    "cpu-fail-garbage-gguf.log": expect(
        fatal_error="gguf_init_from_reader: invalid magic characters: 'NOTA', expected 'GGUF'"),
    "cpu-fail-missing-file.log": expect(
        fatal_error="gguf_init_from_file: failed to open GGUF file 'models/nonexistent.gguf' "
                    "(No such file or directory)"),
    "vk-fail-hugectx-4M-fitoff.log": expect(
        build=SKULK, devices=LAVAPIPE, model_buffers_mib={"CPU_Mapped": 0.12, "Vulkan0": 13.66},
        kv_buffers_mib={"Vulkan0": 8192.00}, output_buffers_mib={"Vulkan_Host": 0.00}, n_ctx=4194304,
        type_k="f16", type_v="f16", layers_offloaded="5/5", fatal_error=VK_ABORT),
    "vk-fail-hugectx-fitoff.log": expect(
        build=SKULK, devices=LAVAPIPE, model_buffers_mib={"CPU_Mapped": 0.12, "Vulkan0": 13.66},
        kv_buffers_mib={"Vulkan0": 2048.00}, output_buffers_mib={"Vulkan_Host": 0.00}, n_ctx=1048576,
        type_k="f16", type_v="f16", layers_offloaded="5/5", fatal_error=VK_ABORT),
    "vk-fit-on-ctx512k.log": expect(build=SKULK, devices=LAVAPIPE, fatal_error=VK_ABORT),  # dies in the fit
    "vk-fit-on-hugectx.log": expect(build=SKULK, devices=LAVAPIPE, fatal_error=VK_ABORT),
    "vk-fit-on-ctx480k.log": expect(
        build=SKULK, devices=LAVAPIPE, model_buffers_mib={"CPU_Mapped": 0.12, "Vulkan0": 13.66},
        kv_buffers_mib={"Vulkan0": 960.00}, compute_buffers_mib={"Vulkan0": 9.38, "Vulkan_Host": 5041.51},
        output_buffers_mib={"Vulkan_Host": 0.00}, n_ctx=491520, type_k="f16", type_v="f16",
        layers_offloaded="5/5", graph_nodes=230, graph_splits=10),  # pinned-memory warning: not an OOM
    "vk-fit-on-ctx480k-fitt1800.log": expect(
        build=SKULK, devices=LAVAPIPE, model_buffers_mib={"CPU_Mapped": 13.78, "Vulkan0": 0.12},
        kv_buffers_mib={"CPU": 960.00}, compute_buffers_mib={"Vulkan0": 5.00, "Vulkan_Host": 4802.01},
        output_buffers_mib={"Vulkan_Host": 0.00}, n_ctx=491520, type_k="f16", type_v="f16",
        layers_offloaded="1/5", graph_nodes=230, graph_splits=55),  # "55 (with bs=512), 2 (with bs=1)"
    "vk-tiny-llama-fa-on-q8.log": expect(
        build=SKULK, devices=LAVAPIPE, model_buffers_mib={"CPU_Mapped": 0.12, "Vulkan0": 7.63},
        kv_buffers_mib={"Vulkan0": 4.25}, compute_buffers_mib={"Vulkan0": 11.04, "Vulkan_Host": 5.04},
        output_buffers_mib={"Vulkan_Host": 0.00}, n_ctx=4096, type_k="q8_0", type_v="q8_0",
        layers_offloaded="5/5", graph_nodes=178, graph_splits=2, prompt_tps=2.34, gen_tps=15.74),
    "vk-tiny-qwen3moe-cpu-moe.log": expect(
        build=SKULK, devices=LAVAPIPE, model_buffers_mib={"CPU_Mapped": 13.78, "Vulkan0": 1.66},
        kv_buffers_mib={"Vulkan0": 8.00}, compute_buffers_mib={"Vulkan0": 8.04, "Vulkan_Host": 5.01},
        output_buffers_mib={"Vulkan_Host": 0.00}, n_ctx=4096, type_k="f16", type_v="f16",
        layers_offloaded="5/5", graph_nodes=210, graph_splits=13),
    "vk-tiny-qwen3moe-ncpumoe2-ctkq8.log": expect(
        build=SKULK, devices=LAVAPIPE, model_buffers_mib={"CPU_Mapped": 7.00, "Vulkan0": 7.66},
        kv_buffers_mib={"Vulkan0": 6.12}, compute_buffers_mib={"Vulkan0": 73.02, "Vulkan_Host": 41.55},
        output_buffers_mib={"Vulkan_Host": 0.00}, n_ctx=4096, type_k="q8_0", type_v="f16",
        layers_offloaded="5/5", graph_nodes=254, graph_splits=16, prompt_tps=2.43, gen_tps=9.99),
    "vk-tiny-qwen3moe-ngl0.log": expect(
        build=SKULK, devices=LAVAPIPE, model_buffers_mib={"CPU_Mapped": 13.78}, kv_buffers_mib={"CPU": 8.00},
        compute_buffers_mib={"Vulkan0": 9.12, "Vulkan_Host": 5.01}, output_buffers_mib={"CPU": 0.00},
        n_ctx=4096, type_k="f16", type_v="f16", layers_offloaded="0/5", graph_nodes=210, graph_splits=54),
    "vk-tiny-qwen3moe-ngl2.log": expect(
        build=SKULK, devices=LAVAPIPE, model_buffers_mib={"CPU_Mapped": 10.39, "Vulkan0": 3.50},
        kv_buffers_mib={"CPU": 6.00, "Vulkan0": 2.00}, compute_buffers_mib={"Vulkan0": 9.12, "Vulkan_Host": 5.01},
        output_buffers_mib={"Vulkan_Host": 0.00}, n_ctx=4096, type_k="f16", type_v="f16",
        layers_offloaded="2/5", graph_nodes=210, graph_splits=44),
    "vk-tiny-qwen3moe-ot-all-exps-cpu-fa-q8.log": expect(
        build=SKULK, devices=LAVAPIPE, model_buffers_mib={"CPU_Mapped": 13.78, "Vulkan0": 1.66},
        kv_buffers_mib={"Vulkan0": 4.25}, compute_buffers_mib={"Vulkan0": 8.07, "Vulkan_Host": 5.04},
        output_buffers_mib={"Vulkan_Host": 0.00}, n_ctx=4096, type_k="q8_0", type_v="q8_0",
        layers_offloaded="5/5", graph_nodes=258, graph_splits=13),
    # --fit dry run first (0.00 MiB model/KV buffers, 73.02 compute), then the real load
    "vk-tiny-qwen3moe-ot-exps-cpu-verbose.log": expect(
        build=SKULK, devices=LAVAPIPE, model_buffers_mib={"CPU_Mapped": 7.00, "Vulkan0": 7.66},
        kv_buffers_mib={"Vulkan0": 6.12}, compute_buffers_mib={"Vulkan0": 73.02, "Vulkan_Host": 41.55},
        output_buffers_mib={"Vulkan_Host": 0.00}, n_ctx=4096, type_k="q8_0", type_v="f16",
        layers_offloaded="5/5", graph_nodes=254, graph_splits=16, prompt_tps=18.25, gen_tps=7.97),
    # --- b11434 (llama.cpp source build, newer message format) ------------------------------------
    "b11434-cpu-gemma-lv4.log": expect(
        build=B11434, model_buffers_mib={"CPU_Mapped": 235.16, "CPU_REPACK": 12.66}, kv_buffers_mib={"CPU": 26.30},
        compute_buffers_mib={"CPU": 25.31}, output_buffers_mib={"CPU": 4.00}, n_ctx=4096, type_k="q8_0",
        type_v="q8_0", graph_nodes=946, graph_splits=1,  # "graph: nodes = 946, splits = 1, ..."
        prompt_tps=128.66, gen_tps=41.42),
    "b11434-cpu-tiny-qwen3moe-jsonl.log": expect(
        build=B11434, model_buffers_mib={"CPU_Mapped": 13.78}, kv_buffers_mib={"CPU": 6.12},
        compute_buffers_mib={"CPU": 9.53}, output_buffers_mib={"CPU": 0.00}, n_ctx=4096, type_k="q8_0",
        type_v="f16", graph_nodes=237, graph_splits=1, prompt_tps=5972.89, gen_tps=2846.30),
    "b11434-cpu-tiny-llama-default-verbosity.log": expect(),
    "b11434-cpu-fail-oom-ulimit.log": expect(oom=True, oom_phase="kv_cache", oom_device="CPU", oom_asked_mib=8192.0),
    "b11434-cpu-fail-truncated.log": expect(fatal_error=TRUNCATED),
    "b11434-under-qemu-haswell.log": expect(prompt_tps=4.93, gen_tps=3.36),  # runs on the older CPU
    # two real rpc-server workers (RPC0, RPC1) beside lavapipe's Vulkan0, -ts 1,1,1: llama.cpp names
    # both workers' buffers RPC0[host:port] (the buffer type of the RPC backend, one per endpoint)
    "vk-rpc2-tiny-llama-gqa-ts111.log": expect(
        build=B11434, devices=LAVAPIPE + [
            {"id": "RPC0", "name": "127.0.0.1:57567", "free_mib": 24105, "total_mib": 24105},
            {"id": "RPC1", "name": "127.0.0.1:50457", "free_mib": 24105, "total_mib": 24105}],
        model_buffers_mib={"RPC0[127.0.0.1:50457]": 11.51, "RPC0[127.0.0.1:57567]": 11.51, "Vulkan0": 0.25,
                           "Vulkan_Host": 0.25},
        kv_buffers_mib={"RPC0[127.0.0.1:50457]": 4.00, "RPC0[127.0.0.1:57567]": 4.00},
        compute_buffers_mib={"RPC0[127.0.0.1:57567]": 41.05, "RPC0[127.0.0.1:50457]": 31.04, "Vulkan0": 0.04,
                             "CPU": 26.07},
        output_buffers_mib={"Vulkan_Host": 0.00}, n_ctx=4096, type_k="f16", type_v="f16", layers_offloaded="5/5",
        graph_nodes=133, graph_splits=4),
    # --- in-process builds ----------------------------------------------------------------------
    "xllamacpp-tiny-llama.log": expect(build="b0-unknown", prompt_tps=1657.32, gen_tps=97.60),  # build_info only
    "xllamacpp-http-tiny-qwen3moe-lv4.log": expect(
        build="0 (unknown)", model_buffers_mib={"CPU_Mapped": 13.78}, kv_buffers_mib={"CPU": 8.00},
        compute_buffers_mib={"CPU": 9.52}, output_buffers_mib={"CPU": 0.00}, n_ctx=4096, type_k="f16",
        type_v="f16", graph_nodes=213, graph_splits=1, prompt_tps=35.37, gen_tps=97.39),
    "llama-cpp-python-tiny-qwen3moe-verbose.log": expect(
        model_buffers_mib={"AMX": 1.50, "CPU_Mapped": 13.78}, kv_buffers_mib={"CPU": 6.12},
        compute_buffers_mib={"CPU": 42.53}, output_buffers_mib={"CPU": 0.00}, n_ctx=4096, type_k="q8_0",
        type_v="f16", graph_nodes=254, graph_splits=1,
        prompt_tps=2577.83, gen_tps=1862.89),  # llama_perf_context_print, "15 runs"
    # --- excerpts of real logs from public issues (README lists the sources) -----------------------
    "ext-llama.cpp-pr6122-cuda-2gpu-old-format.log": expect(
        devices=[{"id": "CUDA0", "name": "NVIDIA GeForce RTX 4070 Ti", "free_mib": None, "total_mib": None},
                 {"id": "CUDA1", "name": "NVIDIA GeForce RTX 3090 Ti", "free_mib": None, "total_mib": None}],
        model_buffers_mib={"CPU": 1640.62, "CUDA0": 5434.38, "CUDA1": 13989.53},
        kv_buffers_mib={"CUDA0": 1536.00, "CUDA1": 3584.00}, compute_buffers_mib={"CUDA0": 672.01},
        output_buffers_mib={"CUDA_Host": 1.95}, n_ctx=4096, type_k="f16", type_v="f16", layers_offloaded="41/41"),
    "ext-ollama-8597-journald-cuda0-oom-model-load.log": expect(
        oom=True, oom_phase="model_load", oom_device="CUDA0", oom_asked_mib=45108.64),
    "ext-ollama-8447-docker-cuda0-oom-model-load.log": expect(
        oom=True, oom_phase="model_load", oom_device="CUDA0", oom_asked_mib=35533.34),
    "ext-ik_llama.cpp-749-11gpu-compute-oom.log": expect(
        kv_buffers_mib={"CUDA0": 379.23, "CUDA1": 82.44, "CUDA2": 65.95, "CUDA3": 82.44, "CUDA4": 82.44,
                        "CUDA5": 65.95, "CUDA6": 82.44, "CUDA7": 82.44, "CUDA8": 32.98, "CUDA9": 32.98,
                        "CUDA10": 16.49},
        output_buffers_mib={"CUDA_Host": 0.99},  # MLA cache "c^KV (f16)": no K/V types printed
        oom=True, oom_phase="compute_buffer", oom_device="CUDA0", oom_asked_mib=279356.51),
    "ext-llama.cpp-pr26297-compute-retry-without-pp.log": expect(),  # retried without pipeline parallelism
    "ext-llama.cpp-20431-cuda0-oom-model-load.log": expect(
        oom=True, oom_phase="model_load", oom_device="CUDA0", oom_asked_mib=144817.04),
    "ext-rocm-5104-rocm-compute-kv-on-cpu.log": expect(
        model_buffers_mib={"CPU_Mapped": 14965.61}, kv_buffers_mib={"CPU": 640.00},
        compute_buffers_mib={"ROCm0": 1094.99, "ROCm_Host": 18.01}, output_buffers_mib={"CPU": 0.58},
        n_ctx=4096, type_k="f16", type_v="f16", graph_nodes=1606, graph_splits=524),
    "ext-ollama-3158-rocm-2gpu-old-format.log": expect(
        model_buffers_mib={"ROCm0": 16228.09, "ROCm1": 14421.47, "CPU": 85.94},
        kv_buffers_mib={"ROCm0": 1062.50, "ROCm1": 937.50}, compute_buffers_mib={"ROCm0": 1083.28},
        n_ctx=16000, type_k="f16", type_v="f16", layers_offloaded="33/33"),
    "ext-ollama-3711-journald-cuda-2gpu-partial-offload.log": expect(
        model_buffers_mib={"CPU": 46017.18, "CUDA0": 16192.69, "CUDA1": 14843.30}, layers_offloaded="23/57"),
    "ext-llama.cpp-13661-init-kv-4gpu-truncated-start.log": expect(
        kv_buffers_mib={"CUDA2": 703.50, "CUDA3": 644.88},
        compute_buffers_mib={"CUDA0": 1958.63, "CUDA1": 1958.63, "CUDA2": 1958.63, "CUDA3": 1958.63,
                             "CUDA_Host": 62.63},
        type_k="f16", type_v="f16", graph_nodes=3126, graph_splits=5),
    "ext-llama.cpp-9492-old-server-text-timings.log": expect(prompt_tps=17.45, gen_tps=8.14),
    "ext-llama.cpp-pr5104-old-server-cuda-incomplete-request.log": expect(
        kv_buffers_mib={"CUDA0": 160.00}, compute_buffers_mib={"CUDA0": 108.25, "CUDA_Host": 5.00}, n_ctx=512,
        type_k="f16", type_v="f16", graph_splits=3),  # prompt eval printed, eval line cut: no completed request
    "ext-llama.cpp-pr23269-pid-prefix-split-timings.log": expect(prompt_tps=33.25, gen_tps=11.90),
    "ext-llama.cpp-12171-cuda0-single-gpu.log": expect(
        model_buffers_mib={"CUDA0": 8148.38, "CPU_Mapped": 417.66}, n_ctx=512, layers_offloaded="49/49"),
    "ext-lemonade-91-journald-iso-rocm-device.log": expect(
        build="b1-fae3a28",
        devices=[{"id": "ROCm0", "name": "Radeon 8060S Graphics", "free_mib": None, "total_mib": 98304}]),
    "ext-ik_llama.cpp-1055-syslog-split-kv.log": expect(
        kv_buffers_mib={"CUDA_Split": 14632.83}, compute_buffers_mib={"CUDA0": 292.00},
        output_buffers_mib={"CUDA_Host": 0.50}, type_k="q8_0", type_v="q8_0"),
    "ext-ollama-9782-cuda-8gpu-model-buffers.log": expect(
        model_buffers_mib={"CUDA0": 48928.09, "CUDA1": 70752.48, "CUDA2": 71680.09, "CUDA3": 52215.30,
                           "CUDA4": 45108.64, "CUDA5": 46036.25, "CUDA6": 28426.68},
        layers_offloaded="62/62"),
    "ext-llama.cpp-pr12449-init-kv-size-type.log": expect(
        kv_buffers_mib={"CUDA0": 192.00}, compute_buffers_mib={"CUDA0": 508.03, "CUDA_Host": 23.00},
        output_buffers_mib={"CUDA_Host": 0.98}, n_ctx=512, type_k="f16", type_v="f16",
        graph_nodes=2790, graph_splits=98),
    "ext-llama.cpp-pr4606-old-server-json-build-2gpu.log": expect(
        build="1696 (708e179)",  # {"message":"build info","build":1696,"commit":"708e179"}
        devices=[{"id": "CUDA0", "name": "Tesla V100S-PCIE-32GB", "free_mib": None, "total_mib": None},
                 {"id": "CUDA1", "name": "Tesla P40", "free_mib": None, "total_mib": None}]),
    "ext-llama.cpp-8886-metal-old-format.log": expect(
        model_buffers_mib={"Metal": 4988.00, "CPU": 344.44}, n_ctx=2048, layers_offloaded="33/33"),
    "ext-ollama-11265-rocm-using-device.log": expect(
        devices=[{"id": "ROCm0", "name": "AMD Radeon RX 7900 XTX", "free_mib": 24506, "total_mib": None}]),
}


def _equal(got, want) -> bool:
    if isinstance(want, float) and isinstance(got, (int, float)):
        return got == pytest.approx(want, abs=0.005)
    if isinstance(want, dict):
        return isinstance(got, dict) and list(got) == list(want) and all(_equal(got[k], want[k]) for k in want)
    if isinstance(want, list):
        return isinstance(got, list) and len(got) == len(want) and all(map(_equal, got, want))
    return got == want


def test_every_log_fixture_has_hand_written_expectations():
    logs = sorted(p.name for p in LOGS.glob("*.log"))
    assert sorted(EXPECTED) == logs
    external = [name for name in logs if name.startswith("ext-")]
    assert len(external) >= 8
    readme = (LOGS / "README.md").read_text()
    for name in external:  # every external log names its source
        assert re.search(re.escape(name) + r" \| https://github\.com/\S+ \|", readme), name


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_fixture_field_by_field(name):
    got = analyze_file(LOGS / name).to_json()
    want = EXPECTED[name]
    wrong = {key: (got[key], want[key]) for key in want if not _equal(got[key], want[key])}
    assert not wrong, f"{name}: field: (got, expected) = {wrong}"


def test_json_has_exactly_the_contract_keys_plus_documented_extras():
    got = analyze_file(LOGS / "skulk-lavapipe-gemma-startup-lv4-faoff.log").to_json()
    assert set(got) == set(CONTRACT) | set(EXTRA) | {"warnings"}
    json.dumps(got)  # plain JSON types only


@pytest.mark.parametrize("name", ["skulk-lavapipe-gemma-startup-lv4-faoff.log", "b11434-cpu-tiny-qwen3moe-jsonl.log",
                                  "ext-ollama-8597-journald-cuda0-oom-model-load.log"])
def test_text_and_streamed_file_agree(name):
    path = LOGS / name
    assert analyze_log(path.read_text()).to_json() == analyze_file(path).to_json()


# --- wrapped lines read the same ----------------------------------------------------------------

BASE = "skulk-lavapipe-gemma-startup-lv4-faoff.log"
WRAPPERS = {
    "ansi colours": lambda i, line: f"\x1b[3{i % 7}m{line[:13]}\x1b[0m\x1b[1m{line[13:]}\x1b[0m",
    "journald": lambda i, line: f"Nov 26 06:{i // 60 % 60:02d}:{i % 60:02d} rig llama-server[48213]: {line}",
    "journald short": lambda i, line: f"llama-server[48213]: {line}",
    "docker compose": lambda i, line: f"llama-server-1  | {line}",
    "docker -t": lambda i, line: f"2026-11-26T06:00:{i % 60:02d}.{i:09d}Z {line}",
    "pid": lambda i, line: f"[48213] {line}",
    "crlf": lambda i, line: line + "\r",
    "iso + level": lambda i, line: f"2026-11-26 06:00:00.123 [Info] (Process) {line}",
}


@pytest.mark.parametrize("wrapper", sorted(WRAPPERS))
def test_prefixed_and_coloured_lines_read_the_same(wrapper):
    lines = (LOGS / BASE).read_text().splitlines()
    wrapped = [WRAPPERS[wrapper](i, line) for i, line in enumerate(lines)]
    got = analyze_lines(wrapped).to_json()
    want = EXPECTED[BASE]
    wrong = {key: got[key] for key in want if not _equal(got[key], want[key])}
    assert not wrong, f"{wrapper}: {wrong}"


def _to_jsonl(lines: list[str]) -> list[str]:
    """What --log-jsonl prints for the same messages (see b11434-cpu-tiny-qwen3moe-jsonl.log)."""
    out = []
    for i, line in enumerate(lines):
        m = re.match(r"^\d+\.\d\d\.\d{3}\.\d{3} ([IWED]) (.*)$", line)
        level, msg = ({"I": "info", "W": "warn", "E": "error", "D": "debug"}[m.group(1)], m.group(2)) if m \
            else ("info", line)
        out.append(json.dumps({"type": "log", "time": i, "level": level, "msg": msg + "\n"}))
    return out


def test_jsonl_of_the_same_log_reads_the_same():
    lines = (LOGS / BASE).read_text().splitlines()
    got = analyze_lines(_to_jsonl(lines)).to_json()
    want = EXPECTED[BASE]
    assert not {key for key in want if not _equal(got[key], want[key])}


def test_jsonl_message_with_embedded_newlines_is_split():
    line = json.dumps({"type": "log", "level": "info",
                       "msg": "load_tensors: offloaded 19/19 layers to GPU\nload_tensors:    Vulkan0 model buffer "
                              "size =    65.16 MiB\n"})
    report = analyze_lines([line])
    assert report.layers_offloaded == "19/19"
    assert report.model_buffers_mib == {"Vulkan0": 65.16}


# --- loads, contexts, dry runs -----------------------------------------------------------------

def test_rpc_worker_buffers_keep_the_name_the_log_prints_and_map_to_their_device():
    """A plan names an RPC worker's buffers as llama.cpp does (``RPC0[host:port]``); the report keeps
    that name, per worker, and the device list gives each worker's endpoint, so a caller maps every
    buffer to its device (RPC0 or RPC1) with nothing but the report."""
    report = analyze_file(LOGS / "vk-rpc2-tiny-llama-gqa-ts111.log")
    buffer_of = {f"RPC0[{d['name']}]": d["id"] for d in report.devices if d["id"].startswith("RPC")}
    assert buffer_of == {"RPC0[127.0.0.1:57567]": "RPC0", "RPC0[127.0.0.1:50457]": "RPC1"}
    for table in (report.model_buffers_mib, report.kv_buffers_mib, report.compute_buffers_mib):
        assert set(buffer_of) <= set(table)
    per_device = {buffer_of[name]: mib for name, mib in report.compute_buffers_mib.items() if name in buffer_of}
    assert per_device == {"RPC0": 41.05, "RPC1": 31.04}
    said = diagnose(report)
    assert any(line.startswith("RPC0[127.0.0.1:57567]: ") and "compute 41 MiB" in line for line in said), said


def test_fit_dry_run_counts_once_even_without_the_fit_markers():
    """The real load replaces the dry run both through the fit window and through the rule that a
    new load replaces the previous one (builds print the fit lines differently)."""
    lines = (LOGS / "vk-tiny-qwen3moe-ot-exps-cpu-verbose.log").read_text().splitlines()
    no_markers = [line for line in lines if "fit" not in line]
    assert len(no_markers) < len(lines)
    got = analyze_lines(no_markers).to_json()
    want = EXPECTED["vk-tiny-qwen3moe-ot-exps-cpu-verbose.log"]
    for key in ("model_buffers_mib", "kv_buffers_mib", "compute_buffers_mib", "graph_splits", "layers_offloaded"):
        assert _equal(got[key], want[key]), key


def test_a_context_created_twice_counts_once():
    lines = (LOGS / BASE).read_text().splitlines()
    start = next(i for i, line in enumerate(lines) if "constructing llama_context" in line)
    end = next(i for i, line in enumerate(lines) if "graph splits" in line) + 1
    twice = lines[:end] + lines[start:end] + lines[end:]
    report = analyze_lines(twice)
    assert report.kv_buffers_mib == {"Vulkan0": 27.0}  # not 54: the second context replaces the first
    assert report.compute_buffers_mib == {"Vulkan0": 51.51, "Vulkan_Host": 14.51}
    assert report.model_buffers_mib == {"AMX": 190.0, "CPU_Mapped": 170.0, "Vulkan0": 65.16}


def test_a_second_load_replaces_the_first_and_split_gguf_lines_are_summed():
    lines = (LOGS / "vk-tiny-qwen3moe-ngl2.log").read_text().splitlines()
    extra_shard = "0.00.104.764 I load_tensors:   CPU_Mapped model buffer size =     2.00 MiB"
    load_at = next(i for i, line in enumerate(lines) if "CPU_Mapped model buffer size" in line)
    with_shard = lines[:load_at + 1] + [extra_shard] + lines[load_at + 1:]
    assert analyze_lines(with_shard).model_buffers_mib == {"CPU_Mapped": 12.39, "Vulkan0": 3.50}
    second = (LOGS / "vk-tiny-qwen3moe-cpu-moe.log").read_text().splitlines()
    report = analyze_lines(lines + second)
    assert report.model_buffers_mib == {"CPU_Mapped": 13.78, "Vulkan0": 1.66}
    assert report.layers_offloaded == "5/5"
    assert report.graph_splits == 13


def test_fit_changing_the_placement_is_noted():
    report = analyze_file(LOGS / "vk-fit-on-ctx480k-fitt1800.log")
    # "cannot meet free memory target of 1800 MiB, need to reduce device memory by 730 MiB"
    assert any(w.startswith("--fit changed the placement to keep 1800 MiB free (it had to move 730 MiB")
               for w in report.warnings)
    assert not any(w.startswith("--fit") for w in analyze_file(LOGS / "vk-fit-on-ctx480k.log").warnings)


def test_pinned_memory_fallback_is_a_warning_not_an_oom():
    report = analyze_file(LOGS / "vk-fit-on-ctx480k.log")
    assert report.oom is False and report.oom_phase is None
    assert any("pinned" in w for w in report.warnings)


def test_an_oom_in_an_earlier_attempt_is_replaced_by_a_later_successful_load():
    failed = (LOGS / "ext-llama.cpp-20431-cuda0-oom-model-load.log").read_text().splitlines()
    good = (LOGS / "ext-llama.cpp-12171-cuda0-single-gpu.log").read_text().splitlines()
    report = analyze_lines(failed + good)
    assert report.oom is False
    assert report.model_buffers_mib == {"CUDA0": 8148.38, "CPU_Mapped": 417.66}
    assert any("earlier load attempt ran out of memory on CUDA0" in w for w in report.warnings)


# --- cut short, garbage --------------------------------------------------------------------------

def _cut(name: str, marker: str, keep_marker: bool = True) -> list[str]:
    lines = (LOGS / name).read_text().splitlines()
    at = next(i for i, line in enumerate(lines) if marker in line)
    return lines[:at + (1 if keep_marker else 0)]


def test_truncated_after_a_prompt_line_reports_the_previous_completed_request():
    lines = _cut(BASE, "task 34 | prompt eval time")
    report = analyze_lines(lines)
    assert (report.prompt_tps, report.gen_tps) == (2.79, 2.46)  # task 0, the last one that finished


def test_truncated_inside_the_kv_cache_keeps_what_was_printed():
    report = analyze_lines(_cut(BASE, "Vulkan0 KV buffer size =    12.00"))
    assert report.kv_buffers_mib == {"Vulkan0": 12.0}
    assert report.compute_buffers_mib == {}
    assert report.graph_splits is None
    assert report.prompt_tps is None and report.oom is False


def test_truncated_mid_line_does_not_crash():
    lines = _cut(BASE, "Vulkan0 model buffer size", keep_marker=False)
    lines.append("0.00.847.505 I load_tensors:      Vulkan0 model buffer si")
    report = analyze_lines(lines)
    assert report.model_buffers_mib == {"AMX": 190.0, "CPU_Mapped": 170.0}


@pytest.mark.parametrize("name", sorted(p.name for p in LOGS.glob("*.txt")))
def test_non_log_files_do_not_crash(name):
    report = analyze_file(LOGS / name)
    json.dumps(report.to_json())
    assert report.oom is False


def test_dmesg_segfault_is_fatal():
    report = analyze_file(LOGS / "skulk-lavapipe-gemma-fa-on-q8-segfault-dmesg.txt")
    assert report.fatal_error.startswith("[  998.841088] llama-server[6937]: segfault at e8")


def test_garbage_files_do_not_crash(tmp_path):
    rng = random.Random(5)
    cases = {
        "random.bin": bytes(rng.randrange(256) for _ in range(200_000)),
        "empty.log": b"",
        "newlines.log": b"\n" * 10_000,
        "one-long-line.log": b"model buffer size = " * 60_000,  # 1.2 MB, no newline
        "utf16.log": "load_tensors: CUDA0 model buffer size = 1.00 MiB\n".encode("utf-16"),
        "gguf.bin": b"GGUF\x03\x00\x00\x00" + bytes(range(256)) * 100,
    }
    for name, data in cases.items():
        path = tmp_path / name
        path.write_bytes(data)
        report = analyze_file(path)
        json.dumps(report.to_json())
        assert report.oom is False, name


@settings(max_examples=200, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(st.lists(st.one_of(
    st.text(max_size=200),
    st.sampled_from((LOGS / BASE).read_text().splitlines() + (LOGS / "cpu-fail-oom-ulimit.log").read_text()
                    .splitlines() + (LOGS / "ext-ik_llama.cpp-749-11gpu-compute-oom.log").read_text().splitlines()),
), max_size=60))
def test_any_mix_of_real_lines_and_noise_gives_a_valid_report(lines):
    report = analyze_lines(lines)
    data = report.to_json()
    json.dumps(data)
    assert data["oom_phase"] in (None, "model_load", "kv_cache", "compute_buffer", "runtime", "other")
    assert (data["oom_phase"] is None) == (not data["oom"])
    assert all(isinstance(v, float) for table in ("model_buffers_mib", "kv_buffers_mib") for v in data[table].values())
    assert diagnose(report)


def test_unreadable_file_is_bad_input_naming_the_file(tmp_path):
    missing = tmp_path / "nope.log"
    with pytest.raises(BadInput) as err:
        analyze_file(missing)
    assert str(missing) in str(err.value)
    with pytest.raises(BadInput):
        analyze_file(tmp_path)  # a directory


# --- diagnosis -----------------------------------------------------------------------------------

def _says(report: LogReport, fragment: str) -> bool:
    return any(fragment in sentence for sentence in diagnose(report))


def test_diagnosis_of_a_kv_cache_oom_names_device_phase_and_size():
    report = analyze_file(LOGS / "cpu-fail-oom-ulimit.log")
    assert diagnose(report)[0] == "CPU ran out while allocating the KV cache: asked 8.0 GiB"
    assert _says(report, "-ctk q8_0")


def test_diagnosis_of_a_gpu_oom_with_free_memory_printed():
    """Free memory at start (device_info) less what this load already put on that device."""
    log = "\n".join([
        "0.00.039.863 I cmn  common_param: common_params_print_info: build 5622 (97340b4c) with cc for x86_64",
        "0.00.039.979 I cmn  common_param:   - CUDA0 : NVIDIA GeForce RTX 4090 (24080 MiB, 23000 MiB free)",
        "0.00.039.980 I cmn  common_param:   - CUDA1 : NVIDIA GeForce RTX 5070 Ti (15848 MiB, 14000 MiB free)",
        "0.00.847.505 I load_tensors:        CUDA0 model buffer size = 17447.91 MiB",
        "0.00.847.506 I load_tensors:        CUDA1 model buffer size = 11000.00 MiB",
        "0.01.030.805 I llama_context: constructing llama_context",
        "0.01.030.830 I llama_context: n_ctx                 = 65536",
        "0.01.031.128 I llama_kv_cache:      CUDA0 KV buffer size =  2048.00 MiB",
        "0.01.031.200 E ggml_backend_cuda_buffer_type_alloc_buffer: allocating 3174.40 MiB on device 1: "
        "cudaMalloc failed: out of memory",
        "0.01.031.201 E alloc_tensor_range: failed to allocate CUDA1 buffer of size 3328600064",
        "0.01.031.300 E llama_init_from_model: failed to initialize the context: "
        "failed to allocate buffer for kv cache",
    ])
    report = analyze_log(log)
    assert (report.oom_device, report.oom_phase, report.oom_asked_mib, report.oom_free_mib) == \
        ("CUDA1", "kv_cache", 3174.40, 3000.0)
    assert report.build == "5622 (97340b4c)"
    assert report.fatal_error is None  # the aftermath lines of an OOM are not a separate fatal error
    assert diagnose(report)[0] == "CUDA1 ran out while allocating the KV cache: asked 3.1 GiB with 2.9 GiB free"


def test_diagnosis_of_sigill_names_the_missing_instructions():
    report = analyze_file(LOGS / "skulk-under-qemu-haswell.log")
    assert _says(report, "needs AVX-512/AMX (SIGILL)")


def test_diagnosis_of_a_corrupt_file_and_of_a_placement():
    assert _says(analyze_file(LOGS / "cpu-fail-truncated-gguf.log"), "truncated or corrupt")
    assert _says(analyze_file(LOGS / "cpu-fail-garbage-gguf.log"), "not a GGUF file")
    assert diagnose(analyze_file(LOGS / BASE))[0] == "all 19/19 layers offloaded; 3 graph splits"
    assert _says(analyze_file(LOGS / "ext-ollama-3711-journald-cuda-2gpu-partial-offload.log"),
                 "23/57 layers offloaded, 34 left on the CPU")
    assert _says(analyze_file(LOGS / "skulk-lavapipe-gemma-startup.log"), "launch with -lv 4")


def test_metal_working_set_warning_is_noted():
    report = analyze_file(LOGS / "ext-llama.cpp-8886-metal-old-format.log")
    assert report.warnings == ["Metal allocations exceed the recommended max working set size: "
                               "expect swapping or a failure"]
    assert _says(report, "Metal: 4.9 GiB (model 4.9 GiB)")  # 4988 MiB


def test_diagnosis_of_the_retry_without_pipeline_parallelism_is_not_an_oom():
    report = analyze_file(LOGS / "ext-llama.cpp-pr26297-compute-retry-without-pp.log")
    assert not any("ran out" in s for s in diagnose(report))
    assert _says(report, "retried without it")
