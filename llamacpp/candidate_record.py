"""What onboard knows about one candidate's card (:class:`CandidateCard`), the context claims read
from it (:class:`ContextClaim`), and how model names are compared loosely.

Why a module of its own: the card is parsed in :mod:`llamacpp.candidate_card`, its GGUF repository
found in :mod:`llamacpp.candidate_repo`, its context claims read in :mod:`llamacpp.candidate_context`;
all of them share these types and rules.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

CANDIDATES_DIR = Path("models") / "documentation" / "CANDIDATES"
REPO_KEY = "gguf_repo"
REPO_SOURCES = ("--repo", "gguf_repo", "link", "base_model", "quantized_by", "tags", "model-index", "local files")
GUESSED_SOURCES = ("quantized_by", "tags", "model-index")  # a repo id built from metadata, not written in the card
REPO_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,95}/[A-Za-z0-9][A-Za-z0-9._-]{0,95}$")
_ORIGINAL_MODEL = re.compile(r"^\W*original model\W*:?\s*\S*?huggingface\.co/([\w.-]+/[\w.-]+)",
                             re.IGNORECASE | re.MULTILINE)


@dataclass(frozen=True)
class ContextClaim:
    """A context length the card states: ``tokens``, where (line in the file), and the words."""

    tokens: int
    line: int | None
    text: str
    extended: bool = False  # said of an extended context (YaRN / RoPE scaling), not the native one


@dataclass
class CandidateCard:
    """One candidate's card as read: front-matter facts, the body's claims, and where its GGUF comes
    from (``repo_id`` with ``repo_source``/``repo_note``, or ``local_dir`` for files on disk)."""

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
        names += [strip_gguf(n.split("/")[-1]) for n in model_index_names(self.metadata)]
        if isinstance(self.metadata.get("model_name"), str):
            names.append(self.metadata["model_name"])
        for m in _ORIGINAL_MODEL.finditer(self.body):
            names.append(m.group(1).split("/")[-1])
        if self.title:
            names += [w.strip("()[]*`,:;") for w in self.title.split()
                      if re.search(r"[A-Za-z]", w) and re.search(r"\d", w)]
        names.append(self.name)
        seen: set[str] = set()
        return [n for n in names if n and not (norm_name(n) in seen or seen.add(norm_name(n)))]

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


def model_index_names(meta: dict[str, Any]) -> list[str]:
    """The ``name`` of each ``model-index`` entry of the front matter."""
    index = meta.get("model-index") or meta.get("model_index")
    if not isinstance(index, list):
        return []
    return [e["name"].strip() for e in index if isinstance(e, dict) and isinstance(e.get("name"), str)]


def strip_gguf(name: str) -> str:
    """A repository or model name without its ``-GGUF`` ending."""
    return re.sub(r"[-_.]gguf$", "", name.strip(), flags=re.IGNORECASE)


def norm_name(name: str) -> str:
    """A model name compared loosely: lower case, letters and digits only."""
    return re.sub(r"[^a-z0-9]", "", name.lower())
