"""Choosing a placement: candidate strategies, each searched for the smallest move that fits,
then the fastest fitting one wins (estimated tokens/s, see speed.py).

The strategies (``STRATEGIES`` is the data docs/gpu-strategy-guide.md is generated from):

- A: everything on one GPU (``-ngl`` all; with several GPUs ``-ts`` puts every layer on one).
- B: layer split across GPUs (``-ngl`` all, ``-ts`` in layers per device): start from the free
  memory of each device, then move layers onto the faster devices while everything still fits.
- C: MoE: attention, shared experts, router and KV stay on the GPUs; the routed experts of the
  first N layers go to the CPU with one compact anchored ``-ot`` rule; N is the smallest that fits.
- D: dense partial offload: the FFN matrices of the first N layers go to the CPU while attention and
  the whole KV cache stay on the GPUs (better than whole-layer offload at long context).
- L: whole-layer partial offload: ``-ngl`` lowered until it fits (attention and KV of the host
  layers run on the CPU).
- CPU: nothing offloaded (``-ngl 0``), the fallback when no GPU exists or nothing else fits.
With several GPUs, C, D and L are combined with B's layer split: "B+C", "B+D", "B+L".

Every candidate is ranked by its estimated generation speed at the requested context (speed.py,
fitted on public measurements); the plan keeps the ranking (``alternatives``) and its rationale
says what the winner beat and what did not fit, so a person can see why, and pick another.
"""
from __future__ import annotations

from dataclasses import replace
from typing import Callable, Sequence

from onboard.llamacpp.gguf_model import GGUFHeader
from onboard.llamacpp.rig import Rig

from .model_facts import ModelFacts
from .ot_rules import DENSE_FFN, EXPERTS, layer_prefix
from .placement import CPU
from .plan import Layout, Plan, Settings, evaluate
from .tensors import classify

# (letter, name, when it is a candidate, what it changes) -- rendered into the strategy guide
STRATEGIES: tuple[tuple[str, str, str, str], ...] = (
    ("A", "one GPU", "at least one GPU", "-ngl all; with several GPUs -ts gives every layer to that GPU"),
    ("B", "layer split", "two or more GPUs", "-ngl all, -ts in layers per GPU: free memory first, then the faster GPU takes more"),
    ("C", "MoE experts to CPU", "MoE model (expert_count > 0) and a GPU", "-ot 'blk\\.(<first N layers>)\\.ffn_(up|down|gate|gate_up)_(ch|)exps=CPU', smallest N that fits"),
    ("D", "dense FFN to CPU", "dense model and a GPU", "-ot 'blk\\.(<first N layers>)\\.ffn_(up|down|gate)\\.=CPU', smallest N that fits; KV stays on the GPUs"),
    ("L", "whole layers to CPU", "a GPU", "-ngl lowered until it fits (KV of host layers on the CPU)"),
    ("CPU", "CPU only", "always", "-ngl 0"),
)
ORDER = "A, B, C, D, L, CPU: every candidate that fits is estimated; the highest tokens/s wins; ties go to the earlier letter"

MAX_BALANCE_STEPS = 64


def _overflow(plan: Plan) -> dict[str, float]:
    """MiB over capacity (positive) or spare (negative) per device with known figures."""
    out = {}
    for d in plan.devices:
        total = d.total_mib
        if total is not None and d.capacity_mib is not None:
            out[d.name] = total + d.margin_mib - d.capacity_mib
    return out


def _counts_split(counts: Sequence[int]) -> tuple[float, ...]:
    return tuple(float(c) for c in counts)


def _initial_counts(rig: Rig, n_act: int) -> list[int]:
    caps = [max(d.usable_mib - d.margin_mib, 1.0) for d in rig.devices]
    total = sum(caps)
    counts = [int(n_act * c / total) for c in caps]
    counts[-1] += n_act - sum(counts)
    return counts


def _balanced(make: Callable[[tuple[float, ...] | None], Plan], rig: Rig, n_act: int) -> Plan:
    """Layer split for several GPUs: start by free memory, then move layers from overflowing
    devices to ones with room, then toward faster devices while it still fits and is faster."""
    if len(rig.devices) < 2:
        return make(None)
    names = [d.name for d in rig.devices]
    counts = _initial_counts(rig, n_act)
    plan = make(_counts_split(counts))
    for _ in range(MAX_BALANCE_STEPS):
        over = _overflow(plan)
        gpu_over = {n: over.get(n, 0.0) for n in names}
        worst = max(names, key=lambda n: gpu_over[n])
        if gpu_over[worst] <= 0:
            break
        i = names.index(worst)
        room = [j for j in range(len(names)) if j != i and gpu_over[names[j]] < 0]
        if counts[i] == 0 or not room:
            break
        j = min(room, key=lambda k: gpu_over[names[k]])
        counts[i] -= 1
        counts[j] += 1
        plan = make(_counts_split(counts))
    if not plan.fits:
        return plan
    # speed: move layers from slower to faster devices while everything fits and it gets faster
    bw = [d.bandwidth_gbs or 0.0 for d in rig.devices]
    fast = sorted(range(len(names)), key=lambda k: -bw[k])
    for _ in range(MAX_BALANCE_STEPS):
        improved = False
        for a in fast:
            for b in reversed(fast):
                if bw[b] >= bw[a] or counts[b] == 0:
                    continue
                trial = list(counts)
                trial[b] -= 1
                trial[a] += 1
                cand = make(_counts_split(trial))
                if cand.fits and (cand.est_tokens_per_s or 0) > (plan.est_tokens_per_s or 0):
                    counts, plan, improved = trial, cand, True
                    break
            if improved:
                break
        if not improved:
            break
    return plan


def _smallest_fitting(n_max: int, build: Callable[[int], Plan]) -> Plan | None:
    """Smallest n in 1..n_max whose plan fits (fitting is monotone in n), or None."""
    top = build(n_max)
    if not top.fits:
        return None
    lo, hi, best = 1, n_max, top
    while lo < hi:
        mid = (lo + hi) // 2
        p = build(mid)
        if p.fits:
            hi, best = mid, p
        else:
            lo = mid + 1
    return best if hi == n_max else build(hi)


def choose(header: GGUFHeader, facts: ModelFacts, rig: Rig, settings: Settings, warnings: list[str],
           *, depth_tokens: int | None = None) -> Plan:
    """Evaluate every candidate strategy and return the fastest plan that fits (module docstring)."""
    L = facts.n_layer_all
    n_all = L + 1
    multi = len(rig.devices) > 1

    def ev(layout: Layout, strategy: str) -> Plan:
        return evaluate(header, facts, rig, settings, layout, strategy=strategy, base_warnings=warnings,
                        depth_tokens=depth_tokens)

    candidates: list[Plan] = []
    if rig.devices:
        # A: each GPU alone
        for k, d in enumerate(rig.devices):
            ts = tuple(1.0 if j == k else 0.0 for j in range(len(rig.devices))) if multi else None
            p = ev(Layout(n_all, ts), "A")
            p.rationale = f"whole model on {d.name}"
            candidates.append(p)
        # B: layer split
        if multi:
            p = _balanced(lambda ts: ev(Layout(n_all, ts), "B"), rig, n_all)
            p.rationale = "layers split across GPUs by free memory, then toward the faster GPU"
            candidates.append(p)
        prefix = "B+" if multi else ""
        # C (MoE) or D (dense): move the FFN part of the first n layers to the CPU
        tail, letter = (EXPERTS, "C") if facts.is_moe else (DENSE_FFN, "D")
        part = "ffn_exps" if facts.is_moe else "ffn"
        moe_layers = sorted({r.layer for r in (classify(t.name) for t in header.tensors)
                             if r.kind == "layer" and r.part == part and r.layer is not None and r.layer < facts.n_layer})
        if moe_layers:
            def build_cd(n: int) -> Plan:
                rule = (layer_prefix(moe_layers[:n]) + tail, CPU)
                return _balanced(lambda ts: ev(Layout(n_all, ts, (rule,)), prefix + letter), rig, n_all)
            p = _smallest_fitting(len(moe_layers), build_cd)
            if p is not None:
                what = "routed experts" if facts.is_moe else "FFN matrices"
                p.rationale = f"{what} of the first layers on the CPU, attention and KV on the GPU(s)"
                candidates.append(p)
        # L: fewer GPU layers
        def build_l(k: int) -> Plan:
            ngl = n_all - k
            return _balanced(lambda ts: ev(Layout(ngl, ts), prefix + "L"), rig, ngl)
        p = _smallest_fitting(n_all - 1, build_l)
        if p is not None:
            p.rationale = "whole layers (with their KV) on the CPU, the rest on the GPU(s)"
            candidates.append(p)
    cpu = ev(Layout(0), "CPU")
    cpu.rationale = "nothing offloaded"
    candidates.append(cpu)
    ranked = rank(candidates)
    fitting = [p for p in ranked if p.fits]
    if fitting:
        best = fitting[0]
        best.rationale = f"{best.rationale}; {why_chosen(best, ranked)}"
    else:
        least = min(candidates, key=lambda p: max(_overflow(p).values(), default=0.0))
        least.warnings.append("no placement fits this rig: the one that overflows least is shown")
        best = replace(least)
    best.alternatives = [alternative(p) for p in distinct(ranked)[:MAX_ALTERNATIVES]]
    return best


MAX_ALTERNATIVES = 5


def rank(candidates: Sequence[Plan]) -> list[Plan]:
    """Fitting plans first, each group by estimated tokens/s (highest first); ties go to the
    earlier letter of ``STRATEGIES``."""
    order = {c[0]: i for i, c in enumerate(STRATEGIES)}
    return sorted(candidates, key=lambda p: (not p.fits, -round(p.est_tokens_per_s or 0.0, 6),
                                             order.get(p.strategy.split("+")[-1], 99)))


def distinct(plans: Sequence[Plan]) -> list[Plan]:
    """One plan per placement: a layer split that ends with every layer on one GPU is strategy A again."""
    seen: set = set()
    out = []
    for p in plans:
        pl = p.placement
        key = (tuple(pl.layer_device), pl.output_device, tuple(sorted(pl.bytes_by_device.items()))) if pl else id(p)
        if key not in seen:
            seen.add(key)
            out.append(p)
    return out


def alternative(plan: Plan) -> dict:
    """One entry of the plan's ``alternatives``: strategy, speed, fit, GPU memory, and why it is what it is."""
    out = plan.summary()
    out["label"] = label(plan)
    out["args"] = plan.args[:-2] if plan.args[-2:] == ["-fit", "off"] else list(plan.args)
    out["rationale"] = plan.rationale.split("; ")[0]
    return out


def label(p: Plan) -> str:
    """The strategy letter, with the GPU for A when there are several to choose from."""
    if p.strategy == "A" and p.placement is not None and len({d.name for d in p.devices}) > 2:
        return f"A on {p.placement.output_device}"
    return p.strategy


def _fmt_tps(p: Plan, digits: int = 1) -> str:
    return "unknown" if p.est_tokens_per_s is None else f"~{p.est_tokens_per_s:.{digits}f} t/s"


def why_chosen(best: Plan, ranked: Sequence[Plan]) -> str:
    """Why the chosen plan won: its estimate against the next fitting one, and what did not fit."""
    others = [p for p in distinct(ranked) if p is not best]
    fitting = [p for p in others if p.fits]
    parts = [f"estimated {_fmt_tps(best)}"]
    if fitting:
        nxt = fitting[0]
        digits = 1 if round(nxt.est_tokens_per_s or 0, 1) != round(best.est_tokens_per_s or 0, 1) else 2
        parts[0] = f"estimated {_fmt_tps(best, digits)}"
        if (nxt.est_tokens_per_s or 0) >= (best.est_tokens_per_s or 0):
            parts.append(f"as fast as {label(nxt)} ({_fmt_tps(nxt, digits)}), chosen by the order {ORDER.split(':')[0]}")
        else:
            parts.append(f"faster than {label(nxt)} ({_fmt_tps(nxt, digits)})")
    else:
        parts.append("the only placement that fits")
    over = []
    for p in others:
        if p.fits:
            continue
        worst = max(_overflow(p).items(), key=lambda kv: kv[1], default=None)
        if worst is not None and not any(o.startswith(label(p) + " needs") for o in over):
            over.append(f"{label(p)} needs {worst[1]:.0f} MiB more on {worst[0]}")
    if over:
        parts.append("does not fit: " + ", ".join(over[:3]))
    return "; ".join(parts)
