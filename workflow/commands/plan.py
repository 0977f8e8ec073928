"""`onboard plan MODEL.gguf [...]`: what llama.cpp will allocate on every device, and where.

With any placement flag (--ngl, --tensor-split, --override-tensor, --n-cpu-moe, --cpu-moe) the
plan predicts exactly that placement as llama.cpp applies it with ``--fit off`` (strategy
"given"); without them it chooses the fastest placement that fits. Exit 0 whenever a plan is
produced, fitting or not; 6 on bad input (file, field named). Thin: parse, call
``llamacpp.planner.make_plan``, print.
"""
from __future__ import annotations

from pathlib import Path

import click

from onboard.workflow.commands._common import handle_errors
from onboard.workflow.exit_codes import Exit

MAX_CTX = 1 << 26  # 64 Mi tokens: more than any model's context; a larger number is a typo, refused with the option named


def _split(value: str | None) -> tuple[float, ...] | None:
    from onboard.llamacpp.errors import BadInput

    if not value:
        return None
    try:
        return tuple(float(x) for x in value.split(","))
    except ValueError:
        raise BadInput(f"{value!r}: expected comma-separated numbers such as 3,1", field="--tensor-split") from None


def _override(value: str) -> tuple[str, str]:
    from onboard.llamacpp.errors import BadInput

    pattern, sep, buft = value.rpartition("=")
    if not sep or not pattern or not buft:
        raise BadInput(f"{value!r}: expected REGEX=BUFFER such as 'blk\\.1\\.ffn_.*=CPU'", field="--override-tensor")
    return pattern, buft


def _root(ctx: click.Context) -> Path | None:
    from onboard.workflow.repo import find_root

    obj = ctx.find_root().obj or {}
    if obj.get("root"):
        return Path(obj["root"])
    return find_root()


def _table(plan_json: dict) -> str:
    rows = [("device", "capacity", "weights", "KV", "compute", "overhead", "output", "total", "margin", "fits")]
    f = lambda x: "?" if x is None else f"{x:.1f}"  # noqa: E731
    for d in plan_json["devices"]:
        total, cap, margin = d["total_mib"], d["capacity_mib"], d["margin_mib"]
        ok = "?" if total is None or cap is None else ("yes" if total + margin <= cap else "NO")
        rows.append((d["name"], f(cap), f(d["weights_mib"]), f(d["kv_mib"]), f(d["compute_mib"]),
                     f(d["overhead_mib"]), f(d.get("output_mib")), f(total), f(margin), ok))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(c.rjust(w) if i else c.ljust(w) for i, (c, w) in enumerate(zip(r, widths))) for r in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def _alternatives(plan_json: dict) -> str:
    """The strategies weighed, fastest fitting first, the chosen one marked."""
    rows = [("", "strategy", "est. speed", "fits", "GPU memory", "why")]
    for i, a in enumerate(plan_json["alternatives"]):
        tps = "?" if a["est_tokens_per_s"] is None else f"~{a['est_tokens_per_s']:g} t/s"
        mem = "?" if a["devices_total_mib"] is None else f"{a['devices_total_mib']:.0f} MiB"
        rows.append(("*" if i == 0 and plan_json["fits"] else "", a.get("label") or a["strategy"], tps,
                     "yes" if a["fits"] else "NO", mem, a.get("rationale", "")))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]) - 1)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r[:-1], widths)) + "  " + r[-1] for r in rows]
    return "strategies weighed (estimated generation speed; * = chosen):\n" + "\n".join("  " + line.rstrip() for line in lines)


@click.command(name="plan")
@click.argument("model", type=click.Path(dir_okay=False))
@click.option("--ctx", "ctx_n", type=click.IntRange(1, MAX_CTX), help="Context size (default: the model's training context).")
@click.option("--parallel", type=click.IntRange(1, 1024), help="Server slots (default: auto = 4 slots sharing one unified cache).")
@click.option("--cache-type-k", default="f16", show_default=True, help="K cache type (f16, q8_0, q4_0, ...).")
@click.option("--cache-type-v", default="f16", show_default=True, help="V cache type (quantized needs flash attention).")
@click.option("--flash-attn", type=click.Choice(["on", "off", "auto"]), default="auto", show_default=True)
@click.option("--batch", type=click.IntRange(1, MAX_CTX), default=2048, show_default=True)
@click.option("--ubatch", type=click.IntRange(1, MAX_CTX), default=512, show_default=True,
              help="Physical batch; llama.cpp caps it at --batch (so does the plan, and says so).")
@click.option("--device", "devices", multiple=True, metavar="NAME=MiB",
              help="A device and its usable memory, in llama.cpp's order (repeatable); replaces detection. "
                   "An RPC worker: RPC0[host:port]=MiB.")
@click.option("--rig", "rig_path", type=click.Path(dir_okay=False), help="Rig file (TOML).")
@click.option("--ngl", type=click.IntRange(-1, 100_000), help="Layers to offload, as llama.cpp's -ngl (output layer first).")
@click.option("--tensor-split", help="Split proportions per device, as llama.cpp's -ts (e.g. 3,1).")
@click.option("--override-tensor", "overrides", multiple=True, metavar="REGEX=BUF",
              help="As llama.cpp's -ot (repeatable; first match wins).")
@click.option("--n-cpu-moe", type=click.IntRange(0, 100_000), help="Experts of the first N layers on the CPU.")
@click.option("--cpu-moe", is_flag=True, help="All experts on the CPU.")
@click.option("--split-mode", type=click.Choice(["none", "layer", "row"]), default="layer", show_default=True,
              help="As llama.cpp's -sm: none = one device (--main-gpu), row = split buffers (CUDA only).")
@click.option("--main-gpu", type=click.IntRange(-1, 1024),
              help="As llama.cpp's -mg: device index in llama.cpp's order (RPC workers first).")
@click.option("--json", "as_json", is_flag=True, help="Print the plan as JSON.")
@click.pass_context
@handle_errors
def command(ctx: click.Context, model: str, **opts) -> int:  # type: ignore[no-untyped-def]
    """Predict llama.cpp's memory per device for MODEL.gguf and the llama-server arguments."""
    return _run(ctx, model, **opts)


def _run(click_ctx: click.Context, model: str, *, ctx_n, parallel, cache_type_k, cache_type_v, flash_attn,  # type: ignore[no-untyped-def]
         batch, ubatch, devices, rig_path, ngl, tensor_split, overrides, n_cpu_moe, cpu_moe, split_mode, main_gpu,
         as_json) -> int:
    import json

    from onboard.llamacpp.errors import BadInput
    from onboard.llamacpp.gguf_header import read_header
    from onboard.llamacpp.hardware import resolve_rig
    from onboard.llamacpp.planner import PlanRequest, make_plan

    if not Path(model).is_file():
        raise BadInput("no such file", path=model, fix="give the path of a local .gguf (the first shard of a split model)")
    header = read_header(model)
    rig = resolve_rig(devices=devices, rig_path=rig_path, root=_root(click_ctx))
    if ubatch > batch:  # llama.cpp's own rule (n_ubatch = min(n_batch, n_ubatch)), said aloud
        click.echo(f"note: --ubatch {ubatch} is larger than --batch {batch}; llama.cpp uses {batch}, so does this plan",
                   err=True)
        ubatch = batch
    request = PlanRequest(
        ctx=ctx_n, parallel=parallel, cache_type_k=cache_type_k, cache_type_v=cache_type_v, flash_attn=flash_attn,
        batch=batch, ubatch=ubatch, ngl=ngl, tensor_split=_split(tensor_split),
        overrides=tuple(_override(o) for o in overrides), n_cpu_moe=n_cpu_moe, cpu_moe=cpu_moe,
        llama_build=rig.llama_build, split_mode=split_mode, main_gpu=main_gpu)
    plan = make_plan(header, rig, request)
    data = plan.to_json()
    if as_json:
        click.echo(json.dumps(data, indent=2))
        return int(Exit.OK)
    est = data["est_tokens_per_s"]
    click.echo(f"model:     {model}")
    click.echo(f"strategy:  {data['strategy']} ({plan.rationale})")
    click.echo(f"offloaded: {data['layers_offloaded']} layers   est. speed: "
               + (f"~{est:g} t/s" if est is not None else "unknown") + f"   fits: {'yes' if data['fits'] else 'NO'}")
    r = data["resolved"]
    click.echo(f"context:   {r['ctx']} x {r['parallel']} slots ({'unified' if r['kv_unified'] else 'per-slot'} KV), "
               f"flash attention {r['flash_attn']}, K {r['cache_type_k']}, V {r['cache_type_v']}")
    if data.get("alternatives"):
        click.echo("")
        click.echo(_alternatives(data))
    click.echo("")
    click.echo(_table(data) + "   (MiB)")
    click.echo("")
    from onboard.workflow.memory_bars import device_rows

    for line in device_rows([{"name": d["name"], "capacity": d["capacity_mib"],
                              "predicted": {"weights": d["weights_mib"], "kv": d["kv_mib"], "compute": d["compute_mib"],
                                            "overhead": (d["overhead_mib"] or 0) + (d.get("output_mib") or 0)}}
                             for d in data["devices"]]):
        click.echo(line)
    click.echo("")
    click.echo("llama-server " + " ".join(_quote(a) for a in data["args"]))
    for w in data["warnings"]:
        click.echo(f"warning: {w}")
    return int(Exit.OK)


def _quote(arg: str) -> str:
    import shlex

    return shlex.quote(arg)
