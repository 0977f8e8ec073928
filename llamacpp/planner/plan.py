"""``make_plan(header, rig, request) -> Plan``: predict llama.cpp's memory per device for one
placement (strategy "given") or choose the fastest placement that fits (strategies A/B/C/D/L/CPU).

The JSON (``Plan.to_json``) is the contract of ``onboard plan --json``:
``strategy, args, layers_offloaded, devices[{name, capacity_mib, weights_mib, kv_mib, compute_mib,
overhead_mib, total_mib, margin_mib, ...}], est_tokens_per_s, fits, warnings`` plus ``resolved``
(the defaults as resolved: ctx, parallel, unified KV, flash attention, batch, ubatch, cache types,
llama.cpp build). An RPC worker's entry (``RPC0``) adds ``buffer``, the name its buffers have in
the log and in ``-ot`` (``RPC0[host:port]``). ``total_mib`` = weights + KV + compute + overhead (+ output buffer and repacked
copies on the CPU entry); ``fits`` = total + margin <= capacity on every device; an unknown figure
is null. A chosen plan adds ``alternatives``: the placements weighed, fitting ones first, fastest
first (``strategy, est_tokens_per_s, fits, devices_total_mib``, with ``label``, ``args`` and
``rationale``; at most five; empty for a given placement), and ``est_prompt_tokens_per_s``.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from dataclasses import replace as dataclass_replace
from typing import Any, Sequence

from onboard.llamacpp.errors import BadInput
from onboard.llamacpp.gguf_model import GGUFHeader
from onboard.llamacpp.rig import Device, Rig

from . import compute as compute_mod
from .kv_cache import CACHE_TYPES, ContextShape, block_size, cache_type, estimate_kv, is_quantized
from .model_facts import ModelFacts, model_facts
from .overhead import HOST_MARGIN_MIB, device_overhead_mib, output_buffer_bytes
from .placement import CPU, GpuDevice, Placement, cpu_moe_rules, n_cpu_moe_rules, place_tensors, row_split
from .speed import estimate_speed
from .tensors import classify
from .versions import VERIFIED_BUILD, mla_v_less, output_layer_first

MIB = 1024.0 * 1024.0
AUTO_PARALLEL = 4  # tools/server/server.cpp: n_parallel auto -> 4 slots, kv_unified = true
DEFAULT_BATCH = 2048
DEFAULT_UBATCH = 512


@dataclass(frozen=True)
class PlanRequest:
    """What ``onboard plan`` was asked. None = llama-server's default (resolved in the plan).

    Placement flags (``ngl``, ``tensor_split``, ``overrides``, ``n_cpu_moe``, ``cpu_moe``) make the
    plan predict exactly that placement ("given"); without them the planner chooses one.
    ``overrides`` are ``(regex, buffer)`` pairs in command-line order.
    """

    ctx: int | None = None
    parallel: int | None = None
    cache_type_k: str = "f16"
    cache_type_v: str = "f16"
    flash_attn: str = "auto"
    batch: int = DEFAULT_BATCH
    ubatch: int = DEFAULT_UBATCH
    ngl: int | None = None
    tensor_split: tuple[float, ...] | None = None
    overrides: tuple[tuple[str, str], ...] = ()
    n_cpu_moe: int | None = None
    cpu_moe: bool = False
    llama_build: int | None = None
    depth_tokens: int | None = None  # context depth the speed estimate is for (default: min(ctx, 4096))
    split_mode: str = "layer"  # -sm: none (one device: --main-gpu), layer, row (split buffers)
    main_gpu: int | None = None  # -mg: index in llama.cpp's device order (RPC workers first)

    @property
    def given(self) -> bool:
        return (self.ngl is not None or bool(self.tensor_split) or bool(self.overrides)
                or self.n_cpu_moe is not None or self.cpu_moe or self.split_mode != "layer"
                or self.main_gpu is not None)


@dataclass
class DevicePlan:
    name: str
    capacity_mib: float | None
    weights_mib: float
    kv_mib: float
    compute_mib: float | None
    overhead_mib: float | None
    margin_mib: float
    output_mib: float = 0.0
    repack_mib: float | None = None  # CPU entry only
    buffer_name: str | None = None  # an RPC worker's buffer name as the log prints it: RPC0[host:port]

    @property
    def total_mib(self) -> float | None:
        if self.compute_mib is None or self.overhead_mib is None:
            return None
        return self.weights_mib + self.kv_mib + self.compute_mib + self.overhead_mib + self.output_mib + (self.repack_mib or 0.0)

    @property
    def fits(self) -> bool | None:
        total = self.total_mib
        if total is None or self.capacity_mib is None:
            return None
        return total + self.margin_mib <= self.capacity_mib

    def to_json(self) -> dict[str, Any]:
        r = lambda x: None if x is None else round(x, 2)  # noqa: E731
        out = {"name": self.name, "capacity_mib": r(self.capacity_mib), "weights_mib": r(self.weights_mib),
               "kv_mib": r(self.kv_mib), "compute_mib": r(self.compute_mib), "overhead_mib": r(self.overhead_mib),
               "total_mib": r(self.total_mib), "margin_mib": r(self.margin_mib), "output_mib": r(self.output_mib)}
        if self.name == CPU:
            out["repack_mib"] = r(self.repack_mib)
        if self.buffer_name and self.buffer_name != self.name:
            out["buffer"] = self.buffer_name
        return out


@dataclass
class Settings:
    """The request with llama-server's defaults resolved."""

    ctx: int
    parallel: int
    unified: bool
    flash_attn: bool
    flash_attn_source: str
    batch: int
    ubatch: int
    type_k: str
    type_v: str
    build: int | None
    parallel_given: bool

    def to_json(self) -> dict[str, Any]:
        return {"ctx": self.ctx, "parallel": self.parallel, "kv_unified": self.unified,
                "flash_attn": "on" if self.flash_attn else "off", "flash_attn_source": self.flash_attn_source,
                "batch": self.batch, "ubatch": self.ubatch, "cache_type_k": self.type_k,
                "cache_type_v": self.type_v, "llama_build": self.build}


@dataclass
class Plan:
    strategy: str
    args: list[str]
    layers_offloaded: str
    devices: list[DevicePlan]
    est_tokens_per_s: float | None
    warnings: list[str]
    settings: Settings
    placement: Placement | None = field(default=None, repr=False)
    rationale: str = ""
    n_splits: int = 0
    est_prompt_tokens_per_s: float | None = None
    alternatives: list[dict[str, Any]] = field(default_factory=list)  # the other strategies weighed (chosen plans)
    speed_ratio: float = 1.0  # measured/estimated factor a rig's calibration applied to the speed estimates

    @property
    def fits(self) -> bool:
        # an unknown figure (null) cannot prove an overflow; the plan's warnings say what is unknown
        return all(d.fits is not False for d in self.devices)

    def device(self, name: str) -> DevicePlan | None:
        return next((d for d in self.devices if d.name == name), None)

    def to_json(self) -> dict[str, Any]:
        return {
            "strategy": self.strategy,
            "args": list(self.args),
            "layers_offloaded": self.layers_offloaded,
            "devices": [d.to_json() for d in self.devices],
            "est_tokens_per_s": None if self.est_tokens_per_s is None else round(self.est_tokens_per_s, 1),
            "fits": self.fits,
            "warnings": list(self.warnings),
            "resolved": self.settings.to_json(),
            "rationale": self.rationale,
            "est_prompt_tokens_per_s": None if self.est_prompt_tokens_per_s is None
            else round(self.est_prompt_tokens_per_s, 1),
            "alternatives": [dict(a) for a in self.alternatives],
        }

    def summary(self) -> dict[str, Any]:
        """What ``alternatives`` lists for this plan: strategy, estimated speed, fit, memory on GPUs."""
        totals = [d.total_mib for d in self.devices if d.name != CPU]
        return {"strategy": self.strategy,
                "est_tokens_per_s": None if self.est_tokens_per_s is None else round(self.est_tokens_per_s, 1),
                "fits": self.fits,
                "devices_total_mib": None if any(t is None for t in totals) else round(sum(totals), 1)}


def resolve_settings(facts: ModelFacts, req: PlanRequest) -> tuple[Settings, list[str]]:
    """llama-server's defaults and refusals (src/llama-context.cpp llama_init_from_model,
    tools/server/server.cpp): ctx 0 = training context; auto parallel = 4 unified slots; explicit
    ``-np`` = non-unified; quantized V needs flash attention; MLA needs equal K and V types."""
    warnings: list[str] = []
    for name, value in (("--batch", req.batch), ("--ubatch", req.ubatch)):
        if value <= 0:
            raise BadInput(f"must be a positive number, got {value}", field=name)
    if req.ctx is not None and req.ctx < 0:
        raise BadInput(f"must not be negative, got {req.ctx}", field="--ctx")
    ctx = req.ctx or facts.n_ctx_train
    if not ctx:
        raise BadInput("the GGUF has no context_length and --ctx was not given", field="--ctx",
                       fix="pass --ctx N")
    if req.parallel is not None and req.parallel <= 0:
        raise BadInput(f"must be a positive number, got {req.parallel}", field="--parallel")
    parallel = req.parallel or AUTO_PARALLEL
    unified = req.parallel is None
    tk = cache_type(req.cache_type_k, "--cache-type-k")
    tv = cache_type(req.cache_type_v, "--cache-type-v")
    fa_req = req.flash_attn.lower()
    if fa_req not in ("on", "off", "auto"):
        raise BadInput(f"must be on, off or auto, got {req.flash_attn!r}", field="--flash-attn")
    if facts.is_mla and tk != tv:
        raise BadInput(f"this MLA model needs the same K and V cache types (got {req.cache_type_k} and "
                       f"{req.cache_type_v}); llama.cpp refuses the pair", field="--cache-type-v",
                       fix=f"pass --cache-type-v {req.cache_type_k}")
    if fa_req == "off" and is_quantized(tv):
        raise BadInput("a quantized V cache needs flash attention; llama-server exits with an error",
                       field="--cache-type-v", fix="use --flash-attn on (or auto), or an f16 V cache")
    if fa_req == "auto":
        fa = facts.arch != "grok"
        source = "auto: assumed on (llama.cpp turns it off where a device lacks the kernel)"
        if is_quantized(tv):
            fa, source = True, "auto: on (required by the quantized V cache)"
    else:
        fa, source = fa_req == "on", "given"
    # src/llama-context.cpp llama_init_from_model: with flash attention a quantized K (V) cache
    # needs the per-head K (V) width to be a multiple of the type's block size
    if fa:
        for which, t, width in (("K", tk, facts.mla_k if facts.is_mla else facts.head_k),
                                ("V", tv, facts.mla_v if facts.is_mla else facts.head_v)):
            block = block_size(t)
            if is_quantized(t) and (which == "K" or not facts.is_mla) and width % block:
                raise BadInput(f"{which} cache type {t.name.lower()} with block size {block} does not divide the "
                               f"head width {width}; llama-server refuses it",
                               field=f"--cache-type-{which.lower()}", fix="use f16 (or bf16) for this model")
    if req.llama_build is None:
        warnings.append(f"llama.cpp build unknown: rules of current builds assumed (checked on build {VERIFIED_BUILD})")
    else:
        if not output_layer_first(req.llama_build):
            warnings.append(f"llama.cpp build {req.llama_build}: -ngl counts blocks from the last one, "
                            "the output layer moves only with ngl = n_layer + 1 (before PR #18148)")
        if facts.is_mla and not mla_v_less(req.llama_build):
            warnings.append(f"llama.cpp build {req.llama_build}: MLA cache stores K and V latents (before PR #19067)")
    settings = Settings(ctx, parallel, unified, fa, source, req.batch, req.ubatch,
                        req.cache_type_k.lower(), req.cache_type_v.lower(), req.llama_build, req.parallel is not None)
    return settings, warnings


def all_overrides(req_overrides: Sequence[tuple[str, str]], cpu_moe: bool, n_cpu_moe: int | None) -> list[tuple[str, str]]:
    """The rule list llama.cpp ends up with: ``-ot`` rules, then ``--cpu-moe``, then ``--n-cpu-moe``."""
    rules = list(req_overrides)
    if cpu_moe:
        rules += cpu_moe_rules()
    if n_cpu_moe:
        if n_cpu_moe < 0:
            raise BadInput("must not be negative", field="--n-cpu-moe")
        rules += n_cpu_moe_rules(n_cpu_moe)
    return rules


@dataclass(frozen=True)
class Layout:
    """One concrete placement: what the args will say."""

    ngl: int
    tensor_split: tuple[float, ...] | None = None
    overrides: tuple[tuple[str, str], ...] = ()
    cpu_moe: bool = False
    n_cpu_moe: int | None = None
    split_mode: str = "layer"
    main_gpu: int | None = None


def evaluate(header: GGUFHeader, facts: ModelFacts, rig: Rig, settings: Settings, layout: Layout,
             *, strategy: str, base_warnings: Sequence[str] = (), depth_tokens: int | None = None) -> Plan:
    """Predict per-device memory and speed of one layout."""
    model_devices = split_mode_devices(rig, layout.split_mode, layout.main_gpu)
    if layout.split_mode == "row" and model_devices:  # every layer on the main GPU; matrices spread below
        model_devices = [model_devices[layout.main_gpu or 0]]
    gpus = [GpuDevice(d.name, d.usable_mib, d.max_alloc_mib) for d in model_devices]
    rules = all_overrides(layout.overrides, layout.cpu_moe, layout.n_cpu_moe)
    placement = place_tensors(header.tensors, facts, gpus, ngl=layout.ngl, tensor_split=layout.tensor_split,
                              overrides=rules, build=settings.build,
                              extra_buffers=[d.name for d in rig.devices if d not in model_devices])
    if layout.split_mode == "row":
        placement = row_split(header.tensors, placement, [GpuDevice(d.name, d.usable_mib) for d in rig.devices],
                              layout.tensor_split)
    shape = ContextShape.resolve(settings.ctx, settings.parallel, settings.unified, settings.ubatch)
    kv = estimate_kv(facts, placement.layer_device, shape, type_k=CACHE_TYPES[settings.type_k],
                     type_v=CACHE_TYPES[settings.type_v], flash_attn=settings.flash_attn, build=settings.build)
    offload = next((d for d in model_devices if d.backend not in NO_OP_OFFLOAD), None)
    # Vulkan refuses an op whose tensors exceed its largest buffer (supports_op): such an op runs on
    # the host, so a host weight above the limit is never staged on the GPU for op offload
    op_limit = _vulkan_op_limit(model_devices)
    host_weights = {t.name: t.n_bytes for t in header.tensors
                    if placement.tensor_device.get(t.name) == CPU and classify(t.name).kind != "input"
                    and classify(t.name).part != "ffn_exps"
                    and (offload is None or t.n_bytes <= op_limit.get(offload.name, t.n_bytes))}
    in_host_blocks = {name: _block_device(placement, name) in (None, CPU) for name in host_weights}
    n_tokens = min(shape.n_ctx, settings.ubatch)
    scores = 4 * shape.n_ctx_seq * n_tokens * max(facts.n_head or [0])
    cshape = compute_mod.ComputeShape(n_tokens=n_tokens, n_kv=shape.n_ctx_seq,
                                      n_kv_swa=kv.cells_swa, flash_attn=settings.flash_attn,
                                      n_outputs=compute_mod.reserved_outputs(n_tokens, shape.n_seq_max),
                                      scores_on_host=not settings.flash_attn
                                      and any(scores > limit for limit in op_limit.values()))
    host_kv = max((b // max(shape.n_stream, 1) for _, d, b in kv.per_layer if d == CPU), default=0)
    gpu_names = [g.name for g in gpus]
    comp = compute_mod.estimate_compute(
        facts, cshape, placement.layer_device, placement.output_device, gpu_names,
        max(host_weights.values(), default=0),
        host_kv, host_attention_scores=is_quantized(CACHE_TYPES[settings.type_k])
        and any(d.backend == "Vulkan" for d in rig.devices),
        weight_devices=frozenset(dev for name, dev in placement.tensor_device.items()
                                 if classify(name).kind == "layer" and dev != CPU
                                 and dev not in placement.layer_device),
        offload_device=offload.name if offload else None,
        pipeline_copies=PIPELINE_COPIES if pipeline_parallel(model_devices, layout, facts, rules) else 1,
        remote_ffn_blocks=_remote_ffn_blocks(placement),
        largest_host_expert=max((t.n_bytes for t in header.tensors if placement.tensor_device.get(t.name) == CPU
                                 and classify(t.name).part == "ffn_exps"
                                 and (offload is None or t.n_bytes <= op_limit.get(offload.name, t.n_bytes))),
                                default=0),
        gpu_block_host_weight=max((b for n, b in host_weights.items() if not in_host_blocks[n]), default=0),
        host_block_weight=max((b for n, b in host_weights.items() if in_host_blocks[n]), default=0))
    warnings = list(base_warnings)
    devices: list[DevicePlan] = []
    for d in rig.devices:
        devices.append(DevicePlan(
            name=d.name, capacity_mib=d.usable_mib, weights_mib=placement.bytes_by_device.get(d.name, 0) / MIB,
            kv_mib=kv.total(d.name) / MIB, compute_mib=comp.get(d.name, 0) / MIB,
            overhead_mib=device_overhead_mib(d), margin_mib=d.margin_mib, buffer_name=d.buffer_name))
    host = rig.host
    cpu_cap = host.usable_ram_mib if host.usable_ram_mib is not None else (host.ram_mib or None)
    devices.append(DevicePlan(
        name=CPU, capacity_mib=cpu_cap, weights_mib=placement.bytes_by_device.get(CPU, 0) / MIB,
        kv_mib=kv.total(CPU) / MIB, compute_mib=comp.get(CPU, 0) / MIB, overhead_mib=0.0,
        margin_mib=HOST_MARGIN_MIB, output_mib=output_buffer_bytes(facts.n_vocab, shape.n_seq_max) / MIB,
        repack_mib=_repack_mib(header, placement, rig)))
    if placement.fallbacks:
        warnings.append(f"{len(placement.fallbacks)} tensor(s) exceed a device's largest allocation and stay on the host: "
                        + ", ".join(placement.fallbacks[:3]))
    if devices[-1].repack_mib is None:
        warnings.append("CPU: host weights may be repacked (AMX / CPU_REPACK) into a larger buffer; size unknown")
    depth = depth_tokens or min(shape.n_ctx, 4096)
    speed = estimate_speed(header.tensors, facts, placement, {k: v for k, v in kv.kv_by_device.items()},
                           depth_tokens=depth, kv_cells=shape.n_ctx_seq * shape.n_stream,
                           bandwidth_gbs={**{d.name: d.bandwidth_gbs for d in rig.devices}, CPU: host.bandwidth_gbs},
                           backends={d.name: d.backend for d in rig.devices}, threads=host.threads,
                           link_gbs={d.name: d.link_gbs for d in rig.devices}, ubatch=settings.ubatch,
                           cpu_flags=host.cpu_flags)
    warnings += speed.assumed
    args = _args(settings, layout, rig)
    rpc = list(dict.fromkeys(d.rpc_endpoint for d in rig.devices if d.rpc_endpoint))
    if rpc:  # llama.cpp's RPC workers: devices RPC0, RPC1, ... in this order; the server needs the list
        args[-2:-2] = ["--rpc", ",".join(rpc)]
    return Plan(strategy, args, placement.layers_offloaded, devices, speed.tokens_per_s, warnings, settings,
                placement, n_splits=speed.n_splits, est_prompt_tokens_per_s=speed.prompt_tokens_per_s)


def _block_device(placement: Placement, tensor: str) -> str | None:
    """Where the block of ``tensor`` runs (its attention's device); None for a tensor of no block."""
    layer = classify(tensor).layer
    return placement.layer_device[layer] if layer is not None and layer < len(placement.layer_device) else None


def _vulkan_op_limit(devices: Sequence[Device]) -> dict[str, float]:
    """Bytes of the largest tensor an op may touch on each Vulkan device whose limit is known (its
    largest allocation: ggml-vulkan's supports_op refuses larger sources and results, so the
    scheduler runs those ops on the host)."""
    return {d.name: d.max_alloc_mib * MIB for d in devices if d.backend == "Vulkan" and d.max_alloc_mib}


def _remote_ffn_blocks(placement: Placement) -> frozenset[int]:
    """Blocks with FFN weights on another device than the block's own (``-ot``, ``--n-cpu-moe``)."""
    out = set()
    for name, dev in placement.tensor_device.items():
        role = classify(name)
        if (role.kind == "layer" and role.layer is not None and role.layer < len(placement.layer_device)
                and (role.part or "").startswith("ffn") and role.part != "ffn_norm"
                and dev != placement.layer_device[role.layer]):
            out.add(role.layer)
    return frozenset(out)


def _repack_mib(header: GGUFHeader, placement: Placement, rig: Rig) -> float | None:
    """Extra host memory of repacked weights. ggml-cpu repacks some quant types into
    interleaved layouts (CPU_REPACK: same size) or AMX tiles (larger: +11.8% was measured on a Q8_0
    output). AMX growth is unknown per type: null when the host has AMX and holds quantized weights."""
    flags = {f.lower() for f in rig.host.cpu_flags}
    if not any(f.startswith("amx") for f in flags):
        return 0.0
    quantized_on_host = any(placement.tensor_device.get(t.name) == CPU and t.ggml_type not in (0, 1, 30)
                            for t in header.tensors)
    return None if quantized_on_host else 0.0


def _fmt_split(ts: Sequence[float]) -> str:
    return ",".join(f"{x:g}" for x in ts)


def _args(s: Settings, layout: Layout, rig: Rig) -> list[str]:
    """llama-server arguments for this placement and context, one token per element. ``-ot``
    names a device by its buffer name, the only spelling llama-server accepts
    (``RPC0[host:port]`` for a worker)."""
    args = ["-c", str(s.ctx), "-ngl", str(layout.ngl)]
    if layout.split_mode != "layer":
        args += ["-sm", layout.split_mode]
    if layout.main_gpu is not None:
        args += ["-mg", str(layout.main_gpu)]
    if layout.tensor_split and len(rig.devices) > 1:
        args += ["-ts", _fmt_split(layout.tensor_split)]
    buffers = {d.name: d.buffer_name for d in rig.devices}
    for pattern, buft in layout.overrides:
        args += ["-ot", f"{pattern}={buffers.get(buft, buft)}"]
    if layout.cpu_moe:
        args.append("--cpu-moe")
    if layout.n_cpu_moe:
        args += ["--n-cpu-moe", str(layout.n_cpu_moe)]
    if s.type_k != "f16":
        args += ["-ctk", s.type_k]
    if s.type_v != "f16":
        args += ["-ctv", s.type_v]
    args += ["-fa", "on" if s.flash_attn else "off"]
    if s.parallel_given:
        args += ["-np", str(s.parallel)]
    if s.batch != DEFAULT_BATCH:
        args += ["-b", str(s.batch)]
    if s.ubatch != DEFAULT_UBATCH:
        args += ["-ub", str(s.ubatch)]
    args += ["-fit", "off"]
    return args


# ggml-backend.h GGML_SCHED_MAX_COPIES: input copies the scheduler keeps with pipeline parallelism
PIPELINE_COPIES = 4
# backends whose devices report async compute and events (needed for pipeline parallelism)
ASYNC_BACKENDS = ("CUDA", "ROCm", "HIP", "Vulkan", "RPC", "SYCL")
# backends that never take the host's big-batch operations (their offload_op is absent)
NO_OP_OFFLOAD = ("RPC",)


def pipeline_parallel(model_devices: Sequence[Device], layout: Layout, facts: ModelFacts,
                      rules: Sequence[tuple[str, str]]) -> bool:
    """llama.cpp's condition (src/llama-context.cpp, llama_context constructor): more than one
    device, every layer and the output offloaded (``-ngl`` > n_layer), layer split, no tensor
    overrides (``-ot``, ``--cpu-moe``, ``--n-cpu-moe``), and async compute with events on every
    device; the log then says "pipeline parallelism enabled" and "sched copies = 4"."""
    return (len(model_devices) > 1 and layout.ngl > facts.n_layer_all and layout.split_mode == "layer"
            and not rules and all(d.backend in ASYNC_BACKENDS for d in model_devices))


SPLIT_MODES = ("none", "layer", "row")
# backends with a split buffer type (ggml_backend_split_buffer_type): only these take -sm row
ROW_SPLIT_BACKENDS = ("CUDA", "ROCm", "HIP", "SYCL")


def split_mode_devices(rig: Rig, split_mode: str, main_gpu: int | None) -> list[Device]:
    """The devices the model uses (src/llama.cpp llama_model_load_from_splits): all of them for
    ``layer`` and ``row``; for ``none`` only the one at ``main_gpu`` in llama.cpp's order (RPC
    workers first), none at all for ``-mg -1``. ``row`` needs a split buffer type on every device:
    CPU, Vulkan, Metal and RPC have none, and llama.cpp refuses the model."""
    if split_mode not in SPLIT_MODES:
        raise BadInput(f"unknown split mode {split_mode!r}", field="--split-mode", fix="use none, layer or row")
    mg = 0 if main_gpu is None else main_gpu
    if split_mode in ("none", "row") and rig.devices and not -1 <= mg < len(rig.devices):
        order = ", ".join(f"{i} = {d.name}" for i, d in enumerate(rig.devices))
        raise BadInput(f"--main-gpu {mg} is not a device index; llama.cpp refuses it (devices: {order})",
                       field="--main-gpu", fix=f"use 0 to {len(rig.devices) - 1}")
    if split_mode == "none":
        return [] if mg < 0 else [rig.devices[mg]] if rig.devices else []
    if split_mode == "row":
        lacking = [d.name for d in rig.devices if d.backend not in ROW_SPLIT_BACKENDS]
        if lacking:
            raise BadInput(f"--split-mode row needs split buffers, which the backend of {', '.join(lacking)} does not "
                           f"have ({', '.join(ROW_SPLIT_BACKENDS)} do); llama.cpp cannot load the model so",
                           field="--split-mode", fix="use --split-mode layer (or none with --main-gpu)")
        if mg < 0:
            raise BadInput("--split-mode row needs a main GPU", field="--main-gpu", fix="use 0 or more")
    return list(rig.devices)


def buffer_to_device(buft: str, rig: Rig) -> str:
    """The device an ``-ot`` buffer names: ``RPC0[host:port]`` (what llama-server takes) or the
    device name itself. A worker whose address is unknown cannot be named on a command line."""
    d = rig.device(buft)
    if d is not None and d.backend == "RPC" and not d.rpc_endpoint:
        raise BadInput(f"-ot ...={buft}: llama-server names a worker's buffers RPC<k>[host:port], and the address "
                       f"of {buft} is unknown", field="--override-tensor",
                       fix=f"declare it as --device {buft}[host:port]=MiB or in the rig file's [[rpc]]")
    for d in rig.devices:
        if buft == d.buffer_name:
            return d.name
    return buft


def llama_device_order(rig: Rig) -> Rig:
    """Devices in the order llama.cpp uses them: RPC servers first ("to minimize network
    transfers", src/llama.cpp llama_model_load_from_splits), then local GPUs in the given order.
    ``-ts`` proportions and the layer split follow this order; the last device gets the output."""
    rpc = [d for d in rig.devices if d.backend == "RPC" or d.rpc_endpoint]
    if not rpc or rig.devices[: len(rpc)] == rpc:
        return rig
    return dataclass_replace(rig, devices=rpc + [d for d in rig.devices if d not in rpc])


def make_plan(header: GGUFHeader, rig: Rig, request: PlanRequest) -> Plan:
    """Plan for ``header`` on ``rig``: the given placement, or the fastest that fits."""
    facts = model_facts(header)
    rig = llama_device_order(rig)
    settings, warnings = resolve_settings(facts, request)
    build = request.llama_build if request.llama_build is not None else rig.llama_build
    if build != settings.build:
        settings, warnings = resolve_settings(facts, PlanRequest(**{**request.__dict__, "llama_build": build}))
    warnings = list(header.warnings) + facts.warnings + warnings
    if not header.complete:
        warnings.append("header-only or partial GGUF: sizes come from the tensor table; the file itself is incomplete")
    warnings += rig.warnings
    if request.given:
        ngl = request.ngl if request.ngl is not None else facts.n_layer_all + 1  # -ngl auto/all with -fit off
        if ngl < 0:
            raise BadInput("must be 0 or more", field="--ngl")
        overrides = tuple((pattern, buffer_to_device(buft, rig)) for pattern, buft in request.overrides)
        layout = Layout(ngl, tuple(request.tensor_split) if request.tensor_split else None,
                        overrides, request.cpu_moe, request.n_cpu_moe, request.split_mode, request.main_gpu)
        plan = evaluate(header, facts, rig, settings, layout, strategy="given", base_warnings=warnings,
                        depth_tokens=request.depth_tokens)
        plan.rationale = "placement given on the command line, predicted as llama.cpp applies it with -fit off"
        return plan
    from .strategies import choose  # late import: strategies builds on evaluate()
    return choose(header, facts, rig, settings, warnings, depth_tokens=request.depth_tokens)
