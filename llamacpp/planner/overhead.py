"""Memory a backend uses outside llama.cpp's own buffers, and the output buffer on the host.

llama.cpp's buffer figures (model / KV / compute, and what ``llama-fit-params`` projects) leave out
what the backend runtime itself takes on the device: for CUDA the context, kernels, cuBLAS handle
and workspace and the VMM pool. llama.cpp PR #15860 measured ~451-456 MiB "unaccounted" per
RTX 4090; reports run to ~600 MiB with larger workspaces, so CUDA is charged 500 MiB here and the
device's margin (default 1024 MiB, as llama.cpp's ``--fit-target``) absorbs the rest.
Mesa lavapipe (the software Vulkan device of the tests) allocates host memory: ~0 MiB on the
"device". A real Vulkan GPU driver keeps a small context (~100 MiB, an estimate). RPC devices
are charged nothing locally: the remote ``rpc-server`` holds its own backend context, and its
memory figure is what it reports as free.
"""
from __future__ import annotations

from onboard.llamacpp.rig import Device

# MiB per device, by backend; None = unknown (the plan says so with a null figure)
BACKEND_OVERHEAD_MIB: dict[str, float] = {
    "CUDA": 600.0,
    "ROCm": 600.0,
    "HIP": 600.0,
    "SYCL": 400.0,
    "Vulkan": 100.0,
    "Metal": 0.0,
    "RPC": 0.0,
    "CPU": 0.0,
}

# host-side safety margin when the rig declares none (OS, page cache, the server process itself)
HOST_MARGIN_MIB = 2048.0


def device_overhead_mib(device: Device) -> float | None:
    """Runtime overhead of ``device``: lavapipe (software Vulkan) is ~0, others per backend."""
    desc = (device.description or "").lower()
    if device.backend == "Vulkan" and ("llvmpipe" in desc or "lavapipe" in desc):
        return 0.0
    return BACKEND_OVERHEAD_MIB.get(device.backend)


def output_buffer_bytes(n_vocab: int, n_seq_max: int) -> int:
    """The logits buffer llama.cpp keeps in host memory (src/llama-context.cpp output_reserve:
    ``n_vocab * max(n_outputs, n_seq_max)`` floats at context creation), in the output device's
    host buffer type (pinned ``CUDA_Host``/``Vulkan_Host``) or ``CPU``: never on the GPU."""
    return 4 * n_vocab * max(1, n_seq_max)
