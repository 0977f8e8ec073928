"""Which GGUF repository a candidate comes from, first source wins (:func:`resolve_repo`):

1. ``onboard start NAME --repo OWNER/REPO``;
2. ``gguf_repo:`` in the front matter (onboard's own key);
3. the card's own references to a ``*-GGUF`` repository (links, ``hf download`` / ``-hf`` commands)
   named like the card's model (a reference to another model counts only after 4 and 5);
4. the hub metadata: a ``base_model`` that is itself a GGUF repository, else ``quantized_by`` (the
   quantizer, who publishes ``<quantized_by>/<base model>-GGUF``) with ``base_model`` (which, on a
   GGUF repository's card, names the original model), else a tag naming the publisher the card's
   own links point to (unsloth's READMEs: ``tags: [unsloth]``, links to ``docs.unsloth.ai``);
5. a ``model-index`` name of the form ``OWNER/NAME-GGUF`` (or ``NAME-GGUF`` with ``quantized_by``);
6. GGUF files already on disk in ``models/<ModelName>/<Quant>/`` where ModelName is named like the
   card's model (the card's name, its ``base_model``, its title): the candidate is then evaluated
   from those files alone, with no hub at all.

Which one was used is kept (``repo_source`` and ``repo_note``) and printed by evaluate. When none
gives a repository, the card is refused (:func:`missing_repo_error`, BadInput, exit 6) with the
three ways to fix it. Sources 1 and 2 are read while the card is parsed
(:func:`llamacpp.candidate_card.load_card`).
"""
from __future__ import annotations

import re
from pathlib import Path

from .candidate_record import (CANDIDATES_DIR, GUESSED_SOURCES, REPO_ID_RE, REPO_KEY, CandidateCard,
                               model_index_names, norm_name, strip_gguf)
from .errors import BadInput

# A hub repository OWNER/NAME-GGUF named in text: after huggingface.co/ or hf.co/, or standing alone
# (`hf download X`, `-hf X:Q4_K_M`); never the tail of another site's path (docs.x.ai/a/b-gguf).
HUB_GGUF_REF = re.compile(
    r"(?:(?:huggingface\.co|hf\.co)/|(?<![\w./:-]))([A-Za-z0-9][\w.-]*/[\w.-]+-GGUF)(?![-\w]|\.\w)", re.IGNORECASE)
_OWNER_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,95}$")
_HUB_OWNER_LINK = re.compile(r"(?:huggingface\.co|hf\.co)/(?:collections/)?([A-Za-z0-9][\w.-]*)/", re.IGNORECASE)
_LINK_HOST = re.compile(r"https?://([A-Za-z0-9.-]+\.[A-Za-z]{2,})(?=[/:\s\"')>]|$)")
# path parts and host labels that name no publisher
_NOT_OWNERS = {"www", "github", "raw", "githubusercontent", "huggingface", "hf", "discord", "spaces", "datasets",
               "docs", "blog", "papers", "models", "collections", "api", "settings"}


def repo_root_of(card: Path) -> Path | None:
    """The repository a card sits in (``<root>/models/documentation/CANDIDATES/README_x.md``), else None."""
    parent = Path(card).resolve().parent
    if parent.parts[-len(CANDIDATES_DIR.parts):] == CANDIDATES_DIR.parts:
        return parent.parents[len(CANDIDATES_DIR.parts) - 1]
    return None


def resolve_repo(card: CandidateCard, body_lines: list[str], *, first_line: int, root: Path | None) -> None:
    """Fill ``card.repo_id`` / ``repo_source`` / ``repo_note`` from the first source that gives one
    (the order is in the module's docstring); with ``root``, a card with no repository at all gets
    ``local_dir``, the ``models/<ModelName>/`` folder holding its files. A repository guessed from
    metadata (``quantized_by`` or a publisher tag with ``base_model``, a ``model-index`` name) adds a
    warning saying so."""
    if card.repo_id is None:
        linked = _repo_from_links(card, body_lines, first_line)
        # a link named like the card's model beats the metadata; one named otherwise (a table of the
        # quantizer's other models) only counts when the metadata names nothing
        named_like_model = linked[:3] if linked and linked[3] else None
        found = named_like_model or _repo_from_metadata(card) or (linked[:3] if linked else None)
        if found is not None:
            card.repo_id, card.repo_source, card.repo_note = found
            if card.repo_source in GUESSED_SOURCES:
                card.warnings.append(
                    f"the GGUF repository {card.repo_id} is not written in the card: it was built from "
                    f"{card.repo_note}; "
                    f"if it is not the right one, add `{REPO_KEY}: OWNER/REPO` to the card's front matter")
    if card.repo_id is None and root is not None:
        folder = find_local_model_dir(Path(root), card)
        if folder is not None:
            card.local_dir = folder
            card.repo_source = "local files"
            card.repo_note = f"the model files already in {folder.relative_to(root).as_posix()}/ (no hub repository)"


def _repo_from_links(card: CandidateCard, body_lines: list[str],
                     first_line: int) -> tuple[str, str, str, bool] | None:
    """The ``*-GGUF`` repository the card's text refers to (links, ``hf download X``, ``-hf X:Q``):
    the one named like the card's model first, then the one referred to most, then the first; and
    whether it is named like the card's model."""
    seen: dict[str, list[int]] = {}
    for offset, line in enumerate(body_lines):
        for m in HUB_GGUF_REF.finditer(line):
            repo = m.group(1)
            if REPO_ID_RE.fullmatch(repo) and ".." not in repo.split("/") and repo.split("/")[0].lower() not in \
                    ("collections", "datasets", "spaces", "blog", "docs"):
                seen.setdefault(repo, []).append(first_line + offset)
    if not seen:
        return None
    names = [norm_name(n) for n in card.model_names if len(norm_name(n)) >= 3]

    def rank(repo: str) -> tuple[int, int, int]:
        model = norm_name(strip_gguf(repo.split("/")[1]))
        closeness = 0 if model in names else 1 if any(n in model for n in names) else 2
        return closeness, -len(seen[repo]), seen[repo][0]

    best = min(seen, key=rank)
    note = f"the card's reference to it on line {seen[best][0]}"
    if len(seen) > 1:
        note += f" (the card names {len(seen)} GGUF repositories; this one is named like its model)" \
            if rank(best)[0] < 2 else f" (the card names {len(seen)} GGUF repositories; this one most often)"
    return best, "link", note, rank(best)[0] < 2


def _repo_from_metadata(card: CandidateCard) -> tuple[str, str, str] | None:
    """The hub metadata of a GGUF repository's own card: a ``base_model`` that is a GGUF repository,
    ``quantized_by`` + ``base_model``, or a ``model-index`` name."""
    meta, lines = card.metadata, card.key_lines
    bases = [b for b in (card.base_model if isinstance(card.base_model, list) else [card.base_model])
             if isinstance(b, str) and REPO_ID_RE.fullmatch(b.strip())]
    for base in bases:
        if strip_gguf(base) != base:
            return base.strip(), "base_model", f"the card's base_model (line {lines.get('base_model')})"
    owner = meta.get("quantized_by")
    owner = owner.strip() if isinstance(owner, str) and _OWNER_RE.fullmatch(owner.strip()) else None
    if owner and bases:
        repo = f"{owner}/{bases[0].strip().split('/')[1]}-GGUF"
        return repo, "quantized_by", (f"quantized_by: {owner} (line {lines.get('quantized_by')}) and base_model: "
                                      f"{bases[0].strip()} (line {lines.get('base_model')})")
    publisher = _publisher_tag(card) if not owner else None
    if publisher and bases:
        tag, line = publisher
        repo = f"{tag}/{bases[0].strip().split('/')[1]}-GGUF"
        return repo, "tags", (f"the card's tag {tag} (line {line}), the publisher the card's own links name, and "
                              f"base_model: {bases[0].strip()} (line {lines.get('base_model')})")
    for name in model_index_names(meta):
        if strip_gguf(name) == name:
            continue
        if REPO_ID_RE.fullmatch(name):
            return name, "model-index", f"the card's model-index name (line {lines.get('model-index')})"
        if owner and REPO_ID_RE.fullmatch(f"{owner}/{name}"):
            return (f"{owner}/{name}", "model-index",
                    f"the card's model-index name {name} and quantized_by: {owner}")
    return None


def _publisher_tag(card: CandidateCard) -> tuple[str, int | None] | None:
    """A tag naming who published the README: the tag the card's own links name most, as a hub
    account (``huggingface.co/collections/unsloth/...``) or as their website (``docs.unsloth.ai``).
    That publisher puts the GGUF at ``<publisher>/<base model>-GGUF``. Never the base model's owner."""
    tags = card.metadata.get("tags")
    if not isinstance(tags, list):
        return None
    bases = card.base_model if isinstance(card.base_model, list) else [card.base_model]
    base_owners = {b.split("/")[0].lower() for b in bases if isinstance(b, str) and "/" in b}
    named: dict[str, int] = {}
    for m in _HUB_OWNER_LINK.finditer(card.body):
        named[m.group(1).lower()] = named.get(m.group(1).lower(), 0) + 1
    for m in _LINK_HOST.finditer(card.body):
        for label in m.group(1).lower().split(".")[:-1]:  # docs.unsloth.ai -> docs, unsloth
            named[label] = named.get(label, 0) + 1
    scored = [(named.get(t.lower(), 0), -i, t) for i, t in enumerate(tags)
              if isinstance(t, str) and _OWNER_RE.fullmatch(t) and t.lower() not in base_owners | _NOT_OWNERS]
    scored = [x for x in scored if x[0] > 0]
    if not scored:
        return None
    tag = max(scored)[2]
    line = next((no for no, text in enumerate(card.path.read_text(encoding="utf-8").splitlines(), 1)
                 if re.match(rf"^\s*-\s*{re.escape(tag)}\s*$", text)), card.key_lines.get("tags"))
    return tag, line


def find_local_model_dir(root: Path, card: CandidateCard) -> Path | None:
    """``<root>/models/<ModelName>/`` named like the card's model (case, ``-``, ``_`` and ``.`` aside)
    and holding GGUF files in quant folders (``<ModelName>/<Quant>/*.gguf``), else None."""
    models = Path(root) / "models"
    if not models.is_dir():
        return None
    wanted = [norm_name(n) for n in card.model_names]
    folders = [p for p in sorted(models.iterdir()) if p.is_dir() and not p.name.startswith(".")
               and p.name != "documentation" and norm_name(p.name) in wanted]
    folders.sort(key=lambda p: wanted.index(norm_name(p.name)))
    for folder in folders:
        if any(q.is_dir() and not q.name.startswith(".") and any(q.rglob("*.gguf")) for q in folder.iterdir()):
            return folder
    return None


def missing_repo_error(card: CandidateCard, *, fm_lines: bool = True) -> BadInput:
    """No source names the GGUF: the card and the three ways to fix it (exit 6)."""
    hint = HUB_GGUF_REF.search(card.body or "")
    example = hint.group(1) if hint else "OWNER/NAME-GGUF"
    # an original model's card names its parent checkpoint as base_model and itself in its title
    titled = [w.strip("()[]*`,:;") for w in (card.title or "").split() if "/" not in w
              and re.search(r"[A-Za-z]", w) and re.search(r"\d", w)]
    model = (titled or [n for n in card.model_names if n != card.name and "/" not in n] or [card.name])[0]
    gguf_card = any(str(t).lower() == "gguf" for t in (card.metadata.get("tags") or [])) \
        or str(card.metadata.get("library_name", "")).lower() == "gguf"
    why = "the card does not say which GGUF repository to use" + (
        " (it is a GGUF repository's card, but neither its text nor its quantized_by names that repository)"
        if gguf_card else "") + f", and no model files are in models/{model}/<Quant>/"
    front = ("to the front matter (between the `---` lines)" if fm_lines
             else "in a front matter at the top of the card (a `---` line, that line, a `---` line)")
    return BadInput(why, path=str(card.path), line=1 if fm_lines else None, field=REPO_KEY,
                    fix=f"one of: (1) add `{REPO_KEY}: {example}` {front}; "
                        f"(2) run `onboard start {card.name} --repo OWNER/REPO`; "
                        f"(3) put the GGUF files you downloaded in models/{model}/<Quant>/ "
                        f"(e.g. models/{model}/Q4_K_M/), then run `onboard start {card.name}` again")
