"""`onboard inspect PATH|REPO[:QUANT] [--json]`: what a GGUF model is, from its header alone.

Thin on purpose: resolve the target, read the header (local file, or range requests to the hub),
summarize, print. Target resolution:
- an existing path: a ``.gguf`` file (a shard reads every shard) or a folder holding one quant;
- ``OWNER/REPO:QUANT``: the quant's first file from the hub's listing (``llamacpp.hub.list_quants``);
- ``OWNER/REPO:path/in/repo.gguf``: that file;
- ``OWNER/REPO``: the repository's only quant (several: the names are listed, pick one).
"""
from __future__ import annotations

import json
import re
from pathlib import Path

import click

from onboard.workflow.commands._common import handle_errors

_REPO = re.compile(r"^[A-Za-z0-9][\w.\-]*/[\w.\-]+$")


def _human_bytes(n: int) -> str:
    size = float(n)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if size < 1024 or unit == "TiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.2f} {unit}"
        size /= 1024
    return f"{n} B"


def _human_count(n: int) -> str:
    for div, unit in ((1e12, "T"), (1e9, "B"), (1e6, "M"), (1e3, "K")):
        if n >= div:
            return f"{n / div:.2f}{unit}"
    return str(n)


def _resolve_local(target: str):
    """A local .gguf path, or the single quant of a folder."""
    from onboard.llamacpp.errors import BadInput

    p = Path(target)
    if p.is_dir():
        from onboard.llamacpp.hub import local_quants

        quants = local_quants(p)
        if len(quants) != 1:
            names = ", ".join(q.name for q in quants) or "none"
            raise BadInput(f"folder holds {len(quants)} GGUF quants ({names})", path=str(p),
                           fix="name the .gguf file (the first shard of a split model)")
        return p / quants[0].first_file
    return p


def _read(target: str, revision: str):
    """(header, where it came from) for a local path or a hub reference."""
    from onboard.llamacpp.errors import BadInput
    from onboard.llamacpp.gguf_header import read_header

    repo, sep, quant = target.partition(":")
    if Path(target).exists() or (target.lower().endswith(".gguf") and not sep):
        path = _resolve_local(target)
        return read_header(path), str(path)
    if not _REPO.match(repo):
        raise BadInput("not an existing file and not OWNER/REPO[:QUANT]", path=target,
                       fix="give a local .gguf path, or a hub repository like OWNER/NAME-GGUF:Q4_K_M")
    from onboard.llamacpp.remote_gguf import read_remote_header

    if quant.lower().endswith(".gguf"):
        filename = quant
    else:
        from onboard.llamacpp.hub import find_quant, list_quants

        quants = list_quants(repo, revision=revision)
        if quant:
            filename = find_quant(quants, quant).first_file
        elif len(quants) == 1:
            filename = quants[0].first_file
        else:
            raise BadInput(f"{repo} has {len(quants)} quants: {', '.join(q.name for q in quants)}",
                           field="QUANT", fix=f"pick one: onboard inspect {repo}:{quants[0].name}")
    return read_remote_header(repo, filename, revision=revision), f"hf://{repo}@{revision}/{filename}"


def render(summary) -> str:
    """The compact human summary (a few lines)."""
    s = summary
    a = s.attention
    lines = [f"{s.name or '(no name)'}  [{s.architecture or 'unknown architecture'}]  {s.source}"]
    params = f"{_human_count(s.total_params)} params"
    if s.kind == "moe":
        params += f", {_human_count(s.active_params)} active"
    lines.append(f"  kind        {s.kind}, {params}, file type {s.file_type or '?'}"
                 f" ({_human_bytes(s.total_bytes)} of tensors, {s.n_tensors} tensors, {s.shards} file(s))")
    layers = f"{s.layers}" if s.layers is not None else "?"
    if s.nextn_layers:
        layers += f" (+{s.nextn_layers} MTP/nextn block(s) llama.cpp does not load)"
    lines.append(f"  layers      {layers}")
    if s.kind == "moe":
        lines.append(f"  experts     {s.experts_total} total, {s.experts_used} used, {s.experts_shared} shared")
    att = f"{a.kind.upper()}, {a.heads} heads / {a.kv_heads} kv, head dim {a.head_dim_k}/{a.head_dim_v}"
    lines.append(f"  attention   {att}")
    if a.mla:
        lines.append(f"  MLA         kv_lora_rank {a.mla.kv_lora_rank}, key/value length {a.mla.key_length_mla}/"
                     f"{a.mla.value_length_mla}, latent cache {'yes' if a.mla.latent_cache else 'no'}")
    if a.sliding_window:
        w = a.sliding_window
        lines.append(f"  sliding     {w.type} window {w.window}, {len(w.swa_layers)} SWA + {len(w.full_layers)} full "
                     f"layers ({w.source})")
    if a.recurrent:
        r = a.recurrent
        lines.append(f"  recurrent   {r.kind}: {len(r.recurrent_layers)} recurrent, {len(r.attention_layers)} "
                     f"attention layers ({r.source})")
    lines.append(f"  context     {s.context_length} (training)   vocabulary {s.vocab_size}")
    lines.append("  tensors     " + ", ".join(f"{t} {_human_bytes(b)}" for t, b in s.bytes_by_type.items()))
    if not s.complete:
        lines.append("  note        header only / partial file: tensor data is missing")
    for w in s.warnings:
        lines.append(f"  warning     {w}")
    return "\n".join(lines)


@click.command(name="inspect")
@click.argument("target")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
@click.option("--revision", default="main", show_default=True, help="Hub revision (branch, tag or commit).")
@handle_errors
def command(target: str, as_json: bool, revision: str) -> None:
    """Summarize a GGUF model from its header: PATH (a .gguf, first shard of a split model) or
    OWNER/REPO[:QUANT] read from the hub by range requests (no download)."""
    from onboard.llamacpp.model_summary import summarize

    header, _ = _read(target, revision)
    summary = summarize(header)
    if as_json:
        click.echo(json.dumps(summary.to_json(), indent=2))
    else:
        click.echo(render(summary))
