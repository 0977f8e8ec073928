"""The fit table the evaluate phase prints: for each quant of a repository, the strategy it would
need on the rig, the memory per device at the target context, an estimated speed, and a
recommendation.

Only one quant's header is read (a few range requests, or the local file). The other quants are
planned on that tensor table with every tensor's size scaled by the ratio of the quants' file
sizes: placement, KV cache and compute buffers come from the real planner; the weights are an
estimate for those rows, and each row says which basis it has ("header" or "scaled").
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Sequence

from .gguf_model import GGUFHeader
from .planner.plan import Plan, PlanRequest, make_plan
from .rig import Rig

GIB = 1024.0 ** 3
QUALITY_CAP_BPW = 8.6  # above Q8_0 (8.5 bits per weight) more bits buy no quality worth the memory


@dataclass
class FitRow:
    quant: str
    size_bytes: int
    bits_per_weight: float | None
    basis: str  # "header" (this quant's own tensor table) or "scaled" (another quant's, scaled)
    plan: Plan

    def to_json(self) -> dict[str, Any]:
        return {"quant": self.quant, "size_gib": round(self.size_bytes / GIB, 2),
                "bits_per_weight": None if self.bits_per_weight is None else round(self.bits_per_weight, 2),
                "basis": self.basis, "strategy": self.plan.strategy, "fits": self.plan.fits,
                "layers_offloaded": self.plan.layers_offloaded,
                "devices": {d.name: None if d.total_mib is None else round(d.total_mib) for d in self.plan.devices},
                "est_tokens_per_s": None if self.plan.est_tokens_per_s is None else round(self.plan.est_tokens_per_s, 1)}


def scaled_header(header: GGUFHeader, factor: float) -> GGUFHeader:
    """``header`` with every tensor's byte size multiplied by ``factor`` (an estimate for another quant)."""
    tensors = [dataclasses.replace(t, n_bytes=int(t.n_bytes * factor)) for t in header.tensors]
    return dataclasses.replace(header, tensors=tensors, warnings=list(header.warnings))


def fit_table(header: GGUFHeader, header_quant: str | None, quants: Sequence[tuple[str, int]], rig: Rig,
              ctx: int, n_params: int | None) -> list[FitRow]:
    """One row per ``(quant name, total bytes)``, planned at context ``ctx`` on ``rig``."""
    base = sum(t.n_bytes for t in header.tensors) or 1
    rows = []
    for name, size in quants:
        own = name == header_quant
        plan = make_plan(header if own else scaled_header(header, size / base), rig,
                         PlanRequest(ctx=ctx, llama_build=rig.llama_build))
        bpw = size * 8 / n_params if n_params else None
        rows.append(FitRow(name, size, bpw, "header" if own else "scaled", plan))
    return rows


def recommend(rows: Sequence[FitRow]) -> FitRow | None:
    """The quant to choose: it fits; all on GPUs beats any CPU offload; then more quality (bits per
    weight, up to Q8_0's); then speed."""
    fitting = [r for r in rows if r.plan.fits]
    if not fitting:
        return None

    def rank(r: FitRow) -> tuple:
        on_gpus = r.plan.strategy in ("A", "B")
        quality = min(r.bits_per_weight or 0.0, QUALITY_CAP_BPW)
        return (on_gpus, round(quality, 1), r.plan.est_tokens_per_s or 0.0)

    return max(fitting, key=rank)


def render(rows: Sequence[FitRow], recommended: FitRow | None) -> str:
    if not rows:
        return "(no quants listed)"
    devices = [d.name for d in rows[0].plan.devices]
    head = f"{'quant':<14} {'GiB':>7} {'bpw':>5} {'strategy':<8} {'fits':<4} " + " ".join(f"{d:>9}" for d in devices)
    lines = [head + f" {'t/s':>6}  basis", "-" * (len(head) + 14)]
    for r in rows:
        mark = "*" if r is recommended else " "
        devs = " ".join(f"{'?' if d.total_mib is None else round(d.total_mib):>9}" for d in r.plan.devices)
        tps = "?" if r.plan.est_tokens_per_s is None else f"{r.plan.est_tokens_per_s:.1f}"
        bpw = "?" if r.bits_per_weight is None else f"{r.bits_per_weight:.2f}"
        lines.append(f"{mark}{r.quant:<13} {r.size_bytes / GIB:>7.2f} {bpw:>5} {r.plan.strategy:<8} "
                     f"{'yes' if r.plan.fits else 'NO':<4} {devs} {tps:>6}  {r.basis}")
    lines.append("memory per device in MiB (weights + KV + compute + overhead), est. generation speed in tokens/s;")
    lines.append("basis 'scaled': that quant's weights estimated from the read header scaled by file size.")
    return "\n".join(lines)
