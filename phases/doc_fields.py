"""The shared vocabulary of the docs code: which fact a table column holds, and how a line names a profile.

Why one module: a person's hand-written docs call the same fact by many names ("Speed", "t/s",
"Tok/s"; "Profile", "ID", "Config"). The repository map, the docs check and the docs phase must agree
on what a column means and on when a row is "the row of qwen3-coder-30b", or one of them would add a
row the other reports as stray. Everything here is pure text handling; nothing reads the network.
"""
from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Mapping
from pathlib import Path, PurePosixPath, PureWindowsPath

# The facts a docs row can hold, each with the header texts that mean it (lowercase, markup stripped).
# Order matters only for headers that hold two synonyms: the first field listed wins.
SYNONYMS: dict[str, tuple[str, ...]] = {
    "profile": ("profile", "id", "profile id", "profile-id", "profile_id", "config", "profile name",
                "section", "models.conf profile", "models.conf section", "preset"),
    "model": ("model", "name", "llm", "model name", "models"),
    "start": ("start", "command", "start command", "launch", "launch command", "run", "how to start",
              "usage", "switch", "switch command", "start.sh"),
    "bench": ("bench", "bench profile", "bench-profile", "bench id", "benchmark profile", "bench config"),
    "file": ("file", "gguf", "gguf file", "path", "model file", "model path", "file path", "location",
             "files", "folder", "directory", "weights"),
    "quant": ("quant", "quantization", "quantisation", "qtype", "quant type", "format", "precision"),
    "arch": ("arch", "architecture", "type", "dense/moe", "moe/dense", "kind", "model type"),
    "params": ("params", "parameters", "size", "total params", "total parameters", "total", "param count"),
    "active": ("active", "active params", "active parameters", "active/token", "activated"),
    "context": ("context", "ctx", "context size", "ctx size", "ctx_size", "context length",
                "context window", "max context"),
    "speed": ("speed", "t/s", "tok/s", "tokens/s", "tg", "generation speed", "gen speed", "tps",
              "tokens per second", "tg t/s", "measured speed"),
    "vram": ("vram", "memory", "gpu0", "gpu1", "gpu2", "gpu3", "gpu", "vram usage", "gpu memory", "mem",
             "vram use", "memory use", "vram per gpu", "cpu", "ram", "cpu ram", "system ram", "host"),
    "strategy": ("strategy", "gpu strategy", "placement", "split", "offload", "offload strategy"),
    "description": ("description", "use case", "use", "best for", "purpose", "specialty", "role",
                    "strengths", "good at", "what for", "use cases"),
    "temp": ("temp", "temperature", "--temp"),
    "top_p": ("top_p", "top-p", "top p", "topp", "--top-p"),
    "top_k": ("top_k", "top-k", "top k", "topk", "--top-k"),
    "min_p": ("min_p", "min-p", "min p", "minp", "--min-p"),
    "repeat_penalty": ("repeat_penalty", "repeat-penalty", "repeat penalty", "rep penalty", "rep. penalty",
                       "repetition penalty", "--repeat-penalty"),
    "presence_penalty": ("presence_penalty", "presence-penalty", "presence penalty", "--presence-penalty"),
    "thinking": ("thinking", "reasoning", "think", "thinking mode", "reasoning mode"),
    "tools": ("tools", "tool calling", "tool use", "function calling", "tool calls", "tool-calling"),
    "vision": ("vision", "images", "image", "multimodal", "image input"),
    "system_prompt": ("system prompt", "system_prompt", "system", "sys prompt", "system-prompt"),
    "humaneval": ("humaneval", "he", "humaneval base", "he base", "base", "humaneval (base)"),
    "humaneval_plus": ("humaneval+", "he+", "plus", "humaneval plus", "humaneval+ (plus)"),
    "reference": ("reference", "official", "ref", "reference score", "official score", "published",
                  "reference scores", "official scores"),
    "status": ("status", "state", "tested"),
    "notes": ("notes", "note", "comments", "comment", "remarks"),
}
FIELDS: tuple[str, ...] = tuple(SYNONYMS)

_BY_HEADER: dict[str, str] = {}
for _field, _names in SYNONYMS.items():
    for _name in _names:
        _BY_HEADER.setdefault(_name, _field)
# synonyms long and specific enough to be found inside a longer header ("Tested speed", "VRAM GPU0")
_CONTAINED = sorted((n for n in _BY_HEADER if len(n) >= 4 or n in ("t/s", "he+", "ctx", "gpu0", "gpu1")),
                    key=len, reverse=True)
_DEVICE_RE = re.compile(r"\b(gpu\s*\d+|cuda\s*\d+|vulkan\s*\d+|rtx\s*\d{4}\s*(?:ti)?|cpu|ram)\b")
_QUANT_RE = re.compile(r"[-._](?:ud[-_])?(?:i?q\d[a-z0-9_]*|f16|bf16|f32|mxfp4[a-z0-9_]*|tq\d[a-z0-9_]*)$", re.I)
_SHARD_RE = re.compile(r"-\d{5}-of-\d{5}$", re.I)
_QUANT_TOKEN_RE = re.compile(r"^(?:i?q\d+|k|m|s|l|xl|xxl|xs|xxs|ud|f16|bf16|f32|mxfp4|0|1|gguf)$")
_TOKEN_RE = re.compile(r"[a-z0-9]+")
# words a release adds after the model's name, often left out when a person writes the name
_RELEASE_WORDS = {"instruct", "it", "chat", "base", "gguf", "hf", "ud", "i", "imatrix"}


def _plain(text: str) -> str:
    """Text without Markdown emphasis, code ticks, links' targets, emoji and surrounding punctuation."""
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", text)  # [label](target) -> label
    text = text.replace("**", "").replace("__", "").replace("`", "").replace("~~", "")
    text = "".join(ch for ch in text if unicodedata.category(ch) not in ("So", "Sk", "Cf", "Cs", "Co")
                   and not 0xFE00 <= ord(ch) <= 0xFE0F)
    text = re.sub(r"(?<![\w+])[*_]|[*_](?![\w])", "", text)  # single * / _ emphasis
    return " ".join(text.split()).strip(" :.-").lower()


def normalize(text: str) -> str:
    """Lowercase alphanumerics only, for comparing names written in different styles."""
    return "".join(_TOKEN_RE.findall(text.lower()))


def field_for_header(text: str) -> str | None:
    """The field a table column with this header holds, or None when onboard cannot tell.

    Exact synonyms first ("Temp", "**Speed**", "`top_p`"), then the header without a parenthesised
    unit ("Speed (t/s)"), then the unit itself ("(t/s)"), then the synonym contained as whole words that
    ends last, the longest at a tie ("Tested speed" -> speed, "VRAM GPU0")."""
    key = _plain(text)
    if not key:
        return None
    if key in _BY_HEADER:
        return _BY_HEADER[key]
    outside = " ".join(re.sub(r"\([^)]*\)", " ", key).split()).strip(" :.-")
    if outside in _BY_HEADER:
        return _BY_HEADER[outside]
    for inner in re.findall(r"\(([^)]*)\)", key):
        inner = inner.strip()
        if inner in _BY_HEADER:
            return _BY_HEADER[inner]
    if _DEVICE_RE.search(key) and re.search(r"\b(?:vram|memory|mem|mib|gib|gb)\b|^gpu\s*\d+$", key):
        return "vram"
    found = []  # (end, length, field): the head noun of a header comes last ("Tested speed")
    for name in _CONTAINED:
        for match in re.finditer(r"(?<![\w+])" + re.escape(name) + r"(?![\w+])", key):
            found.append((match.end(), len(name), _BY_HEADER[name]))
    return max(found)[2] if found else None


def header_names_field(text: str) -> str | None:
    """The field a header names outright ("Model", "Speed (t/s)"), not by a word inside a longer header
    ("profile key" is not a profile column): how a table of models is told from other tables."""
    key = _plain(text)
    outside = " ".join(re.sub(r"\([^)]*\)", " ", key).split()).strip(" :.-")
    return _BY_HEADER.get(key) or _BY_HEADER.get(outside)


def device_of(header: str) -> str | None:
    """The device a per-device column is about ("VRAM GPU0" -> "gpu0", "RTX 4090" -> "rtx4090")."""
    match = _DEVICE_RE.search(_plain(header))
    return match.group(1).replace(" ", "") if match else None


def model_file_stem(model_path: str) -> str:
    """The GGUF file's name without directory, ``.gguf``, shard suffix and quant tag."""
    name = PureWindowsPath(model_path).name if "\\" in model_path else PurePosixPath(model_path).name
    stem = re.sub(r"\.gguf$", "", name, flags=re.I)
    stem = _SHARD_RE.sub("", stem)
    return _QUANT_RE.sub("", stem)


def model_folder(model_path: str) -> str | None:
    """The ``<ModelName>`` folder of ``models/<ModelName>/<Quant>/file.gguf`` (or the file's parent)."""
    parts = [p for p in re.split(r"[\\/]+", model_path) if p and p != "."]
    if len(parts) < 2:
        return None
    for i, part in enumerate(parts[:-2]):
        if part == "models":
            return parts[i + 1]
    parent = parts[-2]
    if len(parts) >= 3 and (_QUANT_TOKEN_RE.match(normalize(parent)) or re.match(r"^(ud[-_])?i?q\d", parent, re.I)):
        return parts[-3]
    return parent


def profile_identities(section, root: Path | None = None) -> set[str]:
    """The normalized names by which a doc row, line or heading may name this profile.

    ``section`` is a ``store.models_conf.Section``. The names: its id, its NAME (with and without a
    parenthesised part), the model folder and the GGUF file stem from MODEL (without shard and quant),
    each also without trailing release words ("Instruct", "GGUF").
    ``root`` makes an absolute MODEL path relative first, so a folder above the repository never counts."""
    names = {section.id}
    display = section.values.get("NAME", "")
    if display:
        names.add(display)
        names.add(re.sub(r"\([^)]*\)", " ", display))
    model = section.values.get("MODEL", "")
    if model:
        if root is not None:
            try:
                model = str(Path(model).relative_to(root)) if Path(model).is_absolute() else model
            except ValueError:
                pass
        folder = model_folder(model)
        if folder:
            names.add(folder)
            names.add(re.sub(r"-gguf$", "", folder, flags=re.I))
        names.add(model_file_stem(model))
    for name in list(names):  # "Qwen3-Coder-30B-A3B-Instruct" is also written "Qwen3-Coder 30B-A3B"
        tokens = _TOKEN_RE.findall(name.lower())
        while len(tokens) > 1 and tokens[-1] in _RELEASE_WORDS:
            tokens.pop()
            names.add("".join(tokens))
    return {n for n in (normalize(x) for x in names) if n}


def _run_length(tokens: list[str], start: int, identity: str) -> int:
    """How many tokens from ``start`` concatenate to exactly ``identity`` (0 when they do not)."""
    joined = ""
    for end in range(start, len(tokens)):
        joined += tokens[end]
        if joined == identity:
            return end - start + 1
        if not identity.startswith(joined):
            return 0
    return 0


def match_length(text: str, identities: Iterable[str]) -> int:
    """Length of the longest identity the text names as whole words, 0 when it names none.

    A run of words names an identity when the words joined equal it and the next word is not another
    size or version ("Qwen3" does not name "Qwen3-32B": the next word "32b" makes it a different model;
    a quant tag after it, "Q4_K_M", is fine)."""
    tokens = _TOKEN_RE.findall(_plain(text))
    best = 0
    for identity in identities:
        if len(identity) <= best:
            continue
        for start in range(len(tokens)):
            length = _run_length(tokens, start, identity)
            if not length:
                continue
            nxt = tokens[start + length] if start + length < len(tokens) else ""
            if nxt and re.search(r"\d", nxt) and not _QUANT_TOKEN_RE.match(nxt):
                continue
            best = len(identity)
            break
    return best


def names_profile(text: str, identities: Iterable[str]) -> bool:
    """Does this cell, line or heading name the profile with these identities?"""
    return match_length(text, identities) > 0


def best_profile(text: str, identities_by_id: Mapping[str, Iterable[str]]) -> str | None:
    """The profile the text names, preferring the longest (most specific) identity; None if none or a tie."""
    scored = sorted(((match_length(text, ids), pid) for pid, ids in identities_by_id.items()), reverse=True)
    if not scored or scored[0][0] == 0:
        return None
    if len(scored) > 1 and scored[1][0] == scored[0][0]:
        exact = [pid for length, pid in scored if length == scored[0][0] and normalize(pid) in _word_runs(text)]
        return exact[0] if len(exact) == 1 else None
    return scored[0][1]


def _word_runs(text: str) -> set[str]:
    """Every run of words in the text joined: to break ties in favour of a profile named by its id."""
    tokens = _TOKEN_RE.findall(_plain(text))
    return {"".join(tokens[i:j]) for i in range(len(tokens)) for j in range(i + 1, len(tokens) + 1)}


def conf_identities(conf, root: Path | None = None, *, bench: bool = False) -> dict[str, set[str]]:
    """Identities of every production profile (``bench=True``: of every bench profile) of a ModelsConf."""
    return {s.id: profile_identities(s, root) for s in conf.sections
            if s.id.startswith("bench-") == bench}


def looks_like_model_name(text: str) -> bool:
    """Does a heading or item read like a model's name (a size or version: 32B, 4.5, A3B, 120b)?

    Used to tell a stale "### Qwen2.5 Coder 32B" section from a "### General notes" one between the
    per-model sections."""
    return bool(re.search(r"\b\d+(\.\d+)?[bBmM]\b|\b[a-zA-Z]+-?\d+(\.\d+)+\b|\bA\d+B\b", _plain(text)))
