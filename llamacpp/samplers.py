"""Recommended sampler settings for a model, read from its card, ``generation_config.json`` and GGUF.

Why this module exists: a model served with llama.cpp's defaults (temp 0.8, top-k 40, ...) often
performs worse than with the settings its authors recommend, and those settings hide in model cards
written in every shape: prose ("a temperature of 0.6"), bullet lists, markdown tables, code
snippets (``temperature=0.7``, ``--temp 0.6``, ``top_p: 0.95``), per-mode paragraphs ("For
thinking mode ... For non-thinking mode ..."). The knowledge lives in the pattern tables below
(data); the functions only walk the text with them.

Rules (``onboard samplers`` in DESIGN.md):

* per key the first source wins, in this order: the card's explicit recommendation for the
  model's default mode, ``generation_config.json``, GGUF ``general.sampling.*``; a lower source
  that disagrees is named in that key's ``sources`` entry ("... (differs: generation_config.json
  = 0.7)");
* a key no source gives is ``None``, never invented; a range ("between 0 and 2") is not a value:
  it stays ``None`` and is recorded in ``notes``, unless the card names one value in it as the
  recommended one ("0.5-0.7 (0.6 is recommended)");
* ``modes`` is ``{}`` when the card gives no per-mode settings; a mode's dict holds the card's
  general values plus that mode's own (the mode's win); ``recommended`` is the default mode's;
* inside the card, a value stated under a recommendation heading ("Best Practices", "Sampling
  parameters", "Usage Recommendations", ...) wins over the same key elsewhere (an example command
  line); a differing value elsewhere is named in ``sources`` and ``notes``.

``SamplerAdvice.to_json()`` is the exact contract of issue 5 (``recommended``, ``modes``,
``sources``, ``system_prompt``, ``thinking_model``) plus ONE extra key, ``notes``: a list of
plain sentences (chat-template needs such as ``--jinja``, reasoning format, ranges, conflicts,
ignored values) that a person or the docs phase can show as they are.

Card text is data: it is only matched with regular expressions, never executed.
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping

KEYS: tuple[str, ...] = ("temperature", "top_p", "top_k", "min_p", "repeat_penalty", "presence_penalty")

# ---------------------------------------------------------------------------------------------
# Pattern tables (the knowledge). Every name pattern is matched case-insensitively.
# ---------------------------------------------------------------------------------------------

# How each key is written in cards, code and command lines. ``\\_`` (escaped markdown) is turned
# into ``_`` before matching. The left guard (below) keeps ``speculative-eagle-topk``,
# ``get_current_temperature`` or ``RETRIEVAL_TOP_K`` from counting.
KEY_NAMES: dict[str, str] = {
    "temperature": r"temperature|temp(?![a-z])",
    "top_p": r"top[ _\-]?p(?![a-z])|nucleus[ _\-]p",
    "top_k": r"top[ _\-]?k(?![a-z])",
    "min_p": r"min[ _\-]?p(?![a-z])",
    "repeat_penalty": r"repeat[ _\-]?penalty|repetition[ _\-]?penalty|penalty[ _\-]repeat|rep[ _\-]pen(?![a-z])",
    "presence_penalty": r"presence[ _\-]?penalty",
}
_LEFT_GUARD = r"(?<![A-Za-z0-9])(?<![A-Za-z0-9][\-_])"

# What may stand between a name and its value: quotes, markdown emphasis, one connector word.
_SEP = (r"[\s`'\"*\\)]*(?:=|:=|:|\||\bof\b|\bis\b|\bto\b|\bat\b|\baround\b|\bset\s+to\b|\bequal\s+to\b|"
        r"\bequals\b)?[\s`'\"*(]*")
_NUM = r"(-?\d+(?:\.\d+)?)(?![\d.]*[A-Za-z%])"

# A range instead of one value: "within the range of 0.5-0.7", "between 20 and 40", "0 to 2".
_RANGE = (r"(?:(?:within\s+)?(?:the\s+)?range\s+(?:of\s+)?|between\s+|from\s+)?"
          r"(-?\d+(?:\.\d+)?)\s*(?:-|–|—|to|and|~)\s*(-?\d+(?:\.\d+)?)(?![\d.]*[A-Za-z%])")
_RANGE_WORDS = r"(?:(?:within\s+)?(?:the\s+)?range\s+(?:of\s+)?|between\s+|from\s+)"
# "... (0.6 is recommended)" right after a range names the value to take.
_RANGE_PICK = r"\s*\(\s*(-?\d+(?:\.\d+)?)\s+is\s+(?:recommended|suggested|ideal|the\s+default)\s*\)"
# "up to 2.0": an upper bound, not a value.
_UPPER = r"(?:up\s+to|at\s+most|no\s+more\s+than)\s+[`'\"]*(-?\d+(?:\.\d+)?)"

# Plausible values; anything else is not a sampler setting (a port, a year, a token count).
VALID_RANGE: dict[str, tuple[float, float]] = {
    "temperature": (0.0, 5.0),
    "top_p": (0.0, 1.0),
    "top_k": (0.0, 1000.0),
    "min_p": (0.0, 1.0),
    "repeat_penalty": (0.5, 3.0),
    "presence_penalty": (-2.0, 2.0),
}
INTEGER_KEYS = frozenset({"top_k"})

# Mode cues: the last cue before a value on its line (or its section heading) names its mode.
MODE_CUES: tuple[tuple[str, str], ...] = (
    ("non_thinking", r"non[- ]?thinking|enable_thinking\s*[=:]\s*false|/no_think|without\s+thinking|"
                     r"thinking\s+(?:disabled|off)|no[- ]think(?:ing)?\s+mode|instruct(?:ion)?\s+mode"),
    ("thinking", r"(?<!non-)(?<!non )(?<!non)thinking\s+mode|enable_thinking\s*[=:]\s*true|reasoning\s+mode|"
                 r"think(?:ing)?\s+(?:enabled|on)\b|/think\b"),
    ("coding", r"\bfor\s+(?:coding|code\s+generation|programming)\b|\bcod(?:e|ing)[- ]related\b|"
               r"\bcoding\s+(?:tasks|mode)\b"),
)
# Modes that change how the model answers (one is its default); any other mode is a task mode
# (e.g. coding), and then ``recommended`` holds the card's general settings.
ANSWER_MODES = ("thinking", "non_thinking")

# Headings under which a value is the card's explicit recommendation.
RECOMMENDATION_HEADING = re.compile(
    r"best\s+practice|recommend|sampling|usage|setting|parameter|generation\s+config",
    re.I)

# Which mode the model runs in when nobody asks: first match wins.
DEFAULT_MODE_CUES: tuple[tuple[str, str], ...] = (
    ("non_thinking", r"supports\s+only\s+non-thinking\s+mode|thinking\s+is\s+disabled\s+by\s+default"),
    ("thinking", r"supports\s+only\s+thinking\s+mode|by\s+default,?\s+[^.\n]{0,80}thinking[^.\n]{0,40}enabled|"
                 r"thinking\s+mode\s+is\s+enabled\s+by\s+default|true\s+is\s+the\s+default\s+value\s+for\s+enable_thinking"),
)

# Thinking (reasoning) model detection: a negative cue settles it first.
NOT_THINKING = re.compile(
    r"supports\s+only\s+non-thinking\s+mode|does\s+not\s+generate\s+`*<think>|non-reasoning\s+model", re.I)
THINKING = re.compile(
    r"<think>|\\<think\\>|\[THINK\]|<\|think\|>|enable_thinking|thinking\s+mode|reasoning[- _](?:parser|format|effort)|"
    r"reasoning\s+model|chain-of-thought|reasoning\s+traces|hybrid\s+reasoning", re.I)
TEMPLATE_THINKING = re.compile(r"<think>|enable_thinking|reasoning_content|\[THINK\]", re.I)

# Special needs worth a note: (pattern, sentence). Each note is added once.
NOTE_PATTERNS: tuple[tuple[str, str], ...] = (
    (r"--jinja\b", "chat template: the card runs llama.cpp with --jinja (the GGUF's own Jinja chat template)"),
    (r"harmony\s+(?:response\s+)?format",
     "chat template: the model only works with its harmony response format (serve with --jinja and the GGUF's template)"),
    (r"(?:initiate|start)s?\s+(?:its\s+|the\s+|every\s+)?(?:response|output)?\s*with\s+[\"'`]*\\?<think\\?>",
     "reasoning: the card asks that every reply start with \"<think>\\n\" (the chat template usually adds it)"),
    (r"no\s+thinking\s+content\s+in\s+history|historical\s+model\s+output\s+should\s+only\s+include\s+the\s+final",
     "history: earlier turns keep only the final answer, not the thinking content"),
    (r"do\s+not\s+use\s+greedy|instead\s+of\s+greedy|avoid\s+greedy",
     "sampling: the card warns against greedy decoding (temperature 0)"),
    (r"reasoning[- _]effort", "reasoning: the model has a configurable reasoning effort"),
    (r"\[THINK\]", "reasoning: thinking is wrapped in [THINK]...[/THINK]"),
    (r"--chat-template-file", "chat template: the card mentions replacing the template with --chat-template-file"),
)
REASONING_PARSER = re.compile(r"--reasoning[-_](?:parser|format)[ =]+([A-Za-z0-9_\-]+)")

# System prompt: a sentence that requires one, and one that advises against it.
SYSTEM_PROMPT_NEEDED = re.compile(
    r"(?:always\s+use|must\s+(?:use|include|add)|make\s+sure\s+to\s+(?:add|use|include)|"
    r"(?:highly\s+|strongly\s+)?recommend(?:ed)?\s+(?:including|using|adding|the\s+following)|"
    r"following\s+system\s+prompt|required?)[^\n]{0,200}?system\s*prompt", re.I)
SYSTEM_PROMPT_AVOID = re.compile(
    r"(?:avoid|do\s+not|don't|never|without)\s+(?:add(?:ing)?|use|using|any)?\s*(?:a\s+)?system\s+prompts?", re.I)
_SP_EXTRACTORS: tuple[re.Pattern[str], ...] = (
    re.compile(r"\[SYSTEM_PROMPT\](.*?)\[/SYSTEM_PROMPT\]", re.S),
    re.compile(r"<\|im_start\|>system(?:<\|im_sep\|>)?\s*\n?(.*?)<\|im_end\|>", re.S),
    re.compile(r"^\s*[A-Za-z_]\w*\s*=\s*(\"\"\"|''')(.*?)\1", re.S),
)

# GGUF ``general.sampling.*`` keys (gguf.Keys.General.SAMPLING_*; a test checks the names).
GGUF_KEYS: dict[str, str] = {
    "general.sampling.temp": "temperature",
    "general.sampling.top_p": "top_p",
    "general.sampling.top_k": "top_k",
    "general.sampling.min_p": "min_p",
    "general.sampling.penalty_repeat": "repeat_penalty",
}
GGUF_OTHER_PREFIX = "general.sampling."

# ``generation_config.json`` (transformers GenerationConfig) names.
GENERATION_CONFIG_KEYS: dict[str, str] = {
    "temperature": "temperature",
    "top_p": "top_p",
    "top_k": "top_k",
    "min_p": "min_p",
    "repetition_penalty": "repeat_penalty",
    "presence_penalty": "presence_penalty",
}

# llama-server flags, in the order they are written to EXTRA_ARGS.
LLAMA_FLAGS: dict[str, str] = {
    "temperature": "--temp",
    "top_p": "--top-p",
    "top_k": "--top-k",
    "min_p": "--min-p",
    "repeat_penalty": "--repeat-penalty",
    "presence_penalty": "--presence-penalty",
}

Number = float | int


# ---------------------------------------------------------------------------------------------
# Result
# ---------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class SamplerAdvice:
    """What a model's authors recommend, with where each value came from.

    ``to_json()`` is the issue-5 contract plus one extra key, ``notes`` (see module docstring).
    """

    recommended: dict[str, Number | None]
    modes: dict[str, dict[str, Number | None]]
    sources: dict[str, str]
    system_prompt: str | None
    thinking_model: bool
    notes: list[str] = field(default_factory=list)

    @property
    def found_any(self) -> bool:
        """True when at least one recommended value was found (else the person accepts defaults)."""
        return any(v is not None for v in self.recommended.values())

    def to_json(self) -> dict[str, Any]:
        return {
            "recommended": {k: self.recommended.get(k) for k in KEYS},
            "modes": {m: {k: vals.get(k) for k in KEYS} for m, vals in self.modes.items()},
            "sources": dict(self.sources),
            "system_prompt": self.system_prompt,
            "thinking_model": self.thinking_model,
            "notes": list(self.notes),
        }


@dataclass(frozen=True)
class _Found:
    """One value seen in the card."""

    key: str
    value: Number
    mode: str | None  # None = applies to every mode
    section: str
    priority: int  # 0 = under a recommendation heading
    pos: int


# ---------------------------------------------------------------------------------------------
# Text preparation
# ---------------------------------------------------------------------------------------------

def _prepare(card: str, notes: list[str]) -> str:
    """Drop what a reader of the rendered card never sees as advice: HTML comments and the YAML
    front matter (its ``inference.parameters`` configure the hub's widget, not the model).
    Replaced by blanks of the same length so positions and line numbers stay put."""
    text = card.replace("\r\n", "\n").replace("\r", "\n")
    text = re.sub(r"<!--.*?-->", lambda m: re.sub(r"[^\n]", " ", m.group(0)), text, flags=re.S)
    fm = re.match(r"\s*---\n(.*?)\n---[ \t]*\n", text, flags=re.S)
    if fm:
        ignored = [f"{name.strip()}: {val.strip()}" for name, val in
                   re.findall(r"^\s*(temperature|top_p|top_k|min_p|repetition_penalty)\s*:\s*(\S+)",
                              fm.group(1), flags=re.M | re.I)]
        if ignored:
            notes.append("front matter widget parameters ignored (they configure the hub's widget): "
                         + ", ".join(ignored))
        text = re.sub(r"[^\n]", " ", fm.group(0)) + text[fm.end():]
    return re.sub(r"\\_", "_", text)  # markdown-escaped "Top\\_K" reads as "Top_K"


def _clean_heading(line: str) -> str:
    text = re.sub(r"^#+\s*", "", line.strip())
    text = re.sub(r":[a-z_]+:", "", text)  # gitbook emoji codes such as :gear:
    text = re.sub(r"<[^>]+>", "", text)
    text = re.sub(r"[`*_]", "", text)
    text = re.sub(r"[^\x20-\x7E]", "", text)
    return re.sub(r"\s+", " ", text).strip(" :")


def _headings(text: str) -> list[tuple[int, str]]:
    """(position, cleaned title) of every markdown heading outside code fences."""
    out: list[tuple[int, str]] = []
    in_fence = False
    pos = 0
    for line in text.split("\n"):
        if line.lstrip().startswith("```"):
            in_fence = not in_fence
        elif not in_fence and re.match(r"\s{0,3}#{1,6}\s+\S", line):
            out.append((pos, _clean_heading(line)))
        pos += len(line) + 1
    return out


def _section_at(headings: list[tuple[int, str]], pos: int) -> str:
    title = ""
    for hpos, htitle in headings:
        if hpos > pos:
            break
        title = htitle
    return title


_MODE_RE = tuple((mode, re.compile(pattern, re.I)) for mode, pattern in MODE_CUES)


def _mode_cue(text: str) -> str | None:
    """The mode named last in ``text`` (None when none is named)."""
    best: tuple[int, str] | None = None
    for mode, pattern in _MODE_RE:
        for m in pattern.finditer(text):
            if best is None or m.start() >= best[0]:
                best = (m.start(), mode)
    return best[1] if best else None


def _only_mode(text: str) -> str | None:
    """The mode a heading names, when it names exactly one."""
    modes = {mode for mode, pattern in _MODE_RE if pattern.search(text)}
    return modes.pop() if len(modes) == 1 else None


# ---------------------------------------------------------------------------------------------
# Value scanning
# ---------------------------------------------------------------------------------------------

_NAME_RE = {key: re.compile(_LEFT_GUARD + r"(?:" + pat + r")", re.I) for key, pat in KEY_NAMES.items()}


def _as_value(key: str, raw: str) -> Number | None:
    try:
        value = float(raw)
    except ValueError:
        return None
    lo, hi = VALID_RANGE[key]
    if not (lo <= value <= hi) or math.isnan(value):
        return None
    if key in INTEGER_KEYS:
        if not value.is_integer():
            return None
        return int(value)
    return value


def _scan_fragment(fragment: str, base: int, on_value, on_range) -> None:
    """Find ``name <sep> value`` (or a range) for every key in one fragment of text."""
    for key, name_re in _NAME_RE.items():
        for m in name_re.finditer(fragment):
            rest = fragment[m.end():m.end() + 120]
            sep = re.match(_SEP, rest, flags=re.I)
            after = rest[sep.end():] if sep else rest
            rng = re.match(_RANGE, after, flags=re.I)
            if rng and (re.match(_RANGE_WORDS, after, flags=re.I) or re.match(r"-?\d+(?:\.\d+)?\s*(?:-|–|—|~)\s*\d", after)):
                pick = re.match(_RANGE_PICK, after[rng.end():], flags=re.I)
                on_range(key, rng.group(1), rng.group(2), pick.group(1) if pick else None, base + m.start())
                continue
            # "between 0 and 2" may follow a few words ("the presence_penalty parameter between 0 and 2")
            words_rng = re.match(r"[\s`'\"*]*(?:\w+\s+){0,3}?" + _RANGE_WORDS + r"(-?\d+(?:\.\d+)?)\s*(?:-|–|to|and)\s*"
                                 r"(-?\d+(?:\.\d+)?)", rest, flags=re.I)
            if words_rng:
                on_range(key, words_rng.group(1), words_rng.group(2), None, base + m.start())
                continue
            upper = re.match(r"[\s`'\"*]*(?:\w+\s+){0,2}?" + _UPPER, rest, flags=re.I)
            if upper:
                on_range(key, None, upper.group(1), None, base + m.start())
                continue
            num = re.match(_NUM, after)
            if num:
                on_value(key, num.group(1), base + m.start())


def _table_blocks(lines: list[str]) -> Iterable[tuple[int, int]]:
    """(first, last) line indexes of each markdown table."""
    i = 0
    while i < len(lines):
        if lines[i].lstrip().startswith("|") and i + 1 < len(lines) and re.match(r"\s*\|?\s*:?-{2,}", lines[i + 1]):
            j = i + 2
            while j < len(lines) and lines[j].lstrip().startswith("|"):
                j += 1
            yield i, j - 1
            i = j
        else:
            i += 1


def _cells(line: str) -> list[str]:
    return [c.strip() for c in line.strip().strip("|").split("|")]


def _bare_key(cell: str) -> str | None:
    text = re.sub(r"[`*]", "", cell).strip()
    for key, name_re in _NAME_RE.items():
        m = name_re.match(text)
        if m and m.end() == len(text.rstrip(" :")):
            return key
    return None


_LIST_ITEM = re.compile(r"\s*(?:[-*+]|\d+[.)])\s+")


def _list_lead_mode(lines: list[str], idx: int) -> str | None:
    """For a list item, the mode named by the sentence that introduces the list ("For code-related
    tasks, it is further recommended to set:" followed by "- `top_p = 0.95`")."""
    if not _LIST_ITEM.match(lines[idx]):
        return None
    blanks = 0
    for j in range(idx - 1, max(idx - 30, -1), -1):
        line = lines[j]
        if not line.strip():
            blanks += 1
            if blanks > 1:
                return None
            continue
        if _LIST_ITEM.match(line):
            continue
        return _only_mode(line) if line.rstrip().endswith(":") else None
    return None


def _paragraph_mode(lines: list[str], idx: int) -> str | None:
    """For a hard-wrapped prose line, the mode named last on the earlier lines of its paragraph."""
    if _LIST_ITEM.match(lines[idx]) or lines[idx].lstrip().startswith(("|", "#", "```")):
        return None
    before: list[str] = []
    for j in range(idx - 1, max(idx - 10, -1), -1):
        line = lines[j]
        if not line.strip() or _LIST_ITEM.match(line) or line.lstrip().startswith(("|", "#", "```")):
            break
        before.insert(0, line)
    return _mode_cue("\n".join(before)) if before else None


def _scan_card(text: str) -> tuple[list[_Found], list[tuple[str, str | None, str, str | None, str]]]:
    """Every value (and range) in the card with its mode and section."""
    headings = _headings(text)
    found: list[_Found] = []
    ranges: list[tuple[str, str | None, str, str | None, str]] = []
    lines = text.split("\n")
    starts = []
    pos = 0
    for line in lines:
        starts.append(pos)
        pos += len(line) + 1

    def context(p: int) -> tuple[str, int]:
        section = _section_at(headings, p)
        return section, 0 if RECOMMENDATION_HEADING.search(section or "") else 1

    def add(key: str, raw: str, p: int, mode: str | None) -> None:
        value = _as_value(key, raw)
        if value is None:
            return
        section, prio = context(p)
        found.append(_Found(key, value, mode, section, prio, p))

    def add_range(key: str, lo: str | None, hi: str, pick: str | None, p: int, mode: str | None) -> None:
        section, prio = context(p)
        ranges.append((key, lo, hi, pick, section))
        if pick is not None:
            add(key, pick, p, mode)

    table_lines: set[int] = set()
    for first, last in _table_blocks(lines):
        header = _cells(lines[first])
        table_lines.update(range(first, last + 1))
        heading_mode = _only_mode(_section_at(headings, starts[first]))
        for idx in range(first + 2, last + 1):
            row = _cells(lines[idx])
            row_key = _bare_key(row[0]) if row else None
            row_mode = _only_mode(row[0]) if row else None
            for col, cell in enumerate(row):
                col_mode = _only_mode(header[col]) if col < len(header) else None
                mode = col_mode or row_mode or heading_mode
                col_key = _bare_key(header[col]) if col < len(header) else None
                p = starts[idx] + max(lines[idx].find(cell), 0)
                bare = re.fullmatch(r"[`*]*" + _NUM + r"[`*]*", cell)
                if col > 0 and bare and (row_key or col_key):
                    add(row_key or col_key, bare.group(1), p, mode)
                else:
                    _scan_fragment(cell, p, lambda k, raw, q, m=mode: add(k, raw, q, m),
                                   lambda k, lo, hi, pick, q, m=mode: add_range(k, lo, hi, pick, q, m))

    for idx, line in enumerate(lines):
        if idx in table_lines:
            continue
        p0 = starts[idx]
        heading_mode = (_list_lead_mode(lines, idx) or _paragraph_mode(lines, idx)
                        or _only_mode(_section_at(headings, p0)))

        def on_value(key: str, raw: str, p: int, line=line, p0=p0, heading_mode=heading_mode) -> None:
            mode = _mode_cue(line[max(0, p - p0 - 400):p - p0]) or heading_mode
            add(key, raw, p, mode)

        def on_range(key, lo, hi, pick, p, line=line, p0=p0, heading_mode=heading_mode) -> None:
            mode = _mode_cue(line[max(0, p - p0 - 400):p - p0]) or heading_mode
            add_range(key, lo, hi, pick, p, mode)

        _scan_fragment(line, p0, on_value, on_range)
    found.sort(key=lambda f: f.pos)
    return found, ranges


# ---------------------------------------------------------------------------------------------
# Card-level facts: thinking, default mode, system prompt, notes
# ---------------------------------------------------------------------------------------------

def _thinking_model(text: str, gguf_metadata: Mapping[str, Any] | None, notes: list[str]) -> bool:
    if NOT_THINKING.search(text):
        return False
    if THINKING.search(text):
        return True
    template = (gguf_metadata or {}).get("tokenizer.chat_template")
    if isinstance(template, str) and TEMPLATE_THINKING.search(template):
        notes.append("thinking model: the GGUF chat template has a thinking block")
        return True
    return False


def _default_mode(text: str, all_modes: list[str], thinking: bool, notes: list[str]) -> str | None:
    modes = [m for m in all_modes if m in ANSWER_MODES]
    if not modes:
        if all_modes:
            notes.append("modes: " + ", ".join(all_modes) + " are task settings; recommended holds the card's "
                         "general settings")
        return None
    for mode, pattern in DEFAULT_MODE_CUES:
        m = re.search(pattern, text, flags=re.I)
        if m and mode in modes:
            notes.append(f"default mode: {mode} (card: \"{_squash(m.group(0))}\")")
            return mode
    if thinking and "thinking" in modes:
        notes.append("default mode: thinking (a thinking model; the card does not say which mode is the default)")
        return "thinking"
    notes.append(f"default mode: {modes[0]} (the first mode the card lists)")
    return modes[0]


def _squash(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()


def _fenced_blocks(text: str) -> list[tuple[int, int, str]]:
    return [(m.start(), m.end(), m.group(1)) for m in re.finditer(r"```[^\n]*\n(.*?)```", text, flags=re.S)]


def _system_prompt(text: str, notes: list[str]) -> str | None:
    """The system prompt the card requires (or recommends by its text), else None."""
    plain = text.replace("*", " ")  # "**always use**": emphasis off, positions kept
    for m in SYSTEM_PROMPT_AVOID.finditer(plain):
        notes.append(f"system prompt: the card advises against one (\"{_squash(m.group(0))}\"): "
                     "put all instructions in the user prompt")
        return None
    need = SYSTEM_PROMPT_NEEDED.search(plain)
    if not need:
        return None
    # the first code block after the requirement, within a few paragraphs
    for start, _end, body in _fenced_blocks(text):
        if start < need.end() or start - need.end() > 800:
            continue
        for extractor in _SP_EXTRACTORS:
            m = extractor.search(body)
            if m:
                prompt = m.group(m.lastindex or 1)
                prompt = re.sub(r"^\s*system_prompt\s*\n", "", prompt)  # Mistral's placeholder word
                prompt = prompt.replace('\\"', '"').strip()
                if prompt and not re.fullmatch(r"<[^>]+>", prompt):
                    return prompt
        body = body.strip()
        if body and "[INST]" not in body and not re.search(r"<\|?[a-z_]+\|?>", body):
            return body
        return None
    notes.append(f"system prompt: the card asks for one (\"{_squash(need.group(0))}\") but gives no text to copy")
    return None


def _card_notes(text: str, notes: list[str]) -> None:
    for pattern, sentence in NOTE_PATTERNS:
        if re.search(pattern, text, flags=re.I) and sentence not in notes:
            notes.append(sentence)
    parsers = sorted({m.group(1) for m in REASONING_PARSER.finditer(text)})
    if parsers:
        notes.append("reasoning: the card serves it with reasoning parser " + ", ".join(parsers)
                     + " (llama-server splits thinking with --reasoning-format)")


# ---------------------------------------------------------------------------------------------
# Sources other than the card
# ---------------------------------------------------------------------------------------------

def _number(value: Any) -> Number | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    if isinstance(value, float):
        if math.isnan(value) or math.isinf(value):
            return None
        return float(f"{value:.6g}")  # GGUF stores float32: 0.6 comes back as 0.6000000238
    return value


def _from_generation_config(config: Mapping[str, Any] | None, notes: list[str]) -> dict[str, Number]:
    out: dict[str, Number] = {}
    if not config:
        return out
    for name, key in GENERATION_CONFIG_KEYS.items():
        if name not in config:
            continue
        value = _number(config[name])
        if value is None or _as_value(key, str(value)) is None:
            notes.append(f"generation_config.json: {name} = {config[name]!r} is not a usable value (ignored)")
            continue
        out[key] = _as_value(key, str(value))  # type: ignore[assignment]
    if config.get("do_sample") is False and out:
        notes.append("generation_config.json: do_sample is false (transformers decodes greedily there)")
    return out


def _from_gguf(metadata: Mapping[str, Any] | None, notes: list[str]) -> dict[str, tuple[Number, str]]:
    out: dict[str, tuple[Number, str]] = {}
    if not metadata:
        return out
    for name, value in metadata.items():
        if not isinstance(name, str) or not name.startswith(GGUF_OTHER_PREFIX):
            continue
        key = GGUF_KEYS.get(name)
        number = _number(value)
        if key is None:
            notes.append(f"gguf {name} = {value!r} (no llama-server flag written for it)")
            continue
        if number is None or _as_value(key, str(number)) is None:
            notes.append(f"gguf {name} = {value!r} is not a usable value (ignored)")
            continue
        out[key] = (_as_value(key, str(number)), name)  # type: ignore[assignment]
    return out


# ---------------------------------------------------------------------------------------------
# The extraction
# ---------------------------------------------------------------------------------------------

def _fmt(value: Number) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


def extract_samplers(card_text: str, *, gguf_metadata: Mapping[str, Any] | None = None,
                     generation_config: Mapping[str, Any] | None = None) -> SamplerAdvice:
    """Recommended sampler settings from a model card, ``generation_config.json`` and GGUF metadata.

    ``card_text`` may be empty or garbage: the result is then whatever the other sources give
    (all ``None`` when they give nothing). Never raises on content.
    """
    notes: list[str] = []
    text = _prepare(card_text if isinstance(card_text, str) else "", notes)
    found, ranges = _scan_card(text)

    # per mode (None = general) and key: the winning card value, plus the values it beat
    chosen: dict[tuple[str | None, str], _Found] = {}
    beaten: dict[tuple[str | None, str], list[_Found]] = {}
    for f in sorted(found, key=lambda f: (f.priority, f.pos)):
        slot = (f.mode, f.key)
        if slot not in chosen:
            chosen[slot] = f
        elif f.value != chosen[slot].value:
            beaten.setdefault(slot, []).append(f)

    mode_names: list[str] = []
    for f in found:
        if f.mode is not None and f.mode not in mode_names:
            mode_names.append(f.mode)
    thinking = _thinking_model(text, gguf_metadata, notes)
    default = _default_mode(text, mode_names, thinking, notes)

    def card_values(mode: str | None) -> dict[str, _Found]:
        vals = {key: f for (m, key), f in chosen.items() if m is None}
        if mode is not None:
            vals.update({key: f for (m, key), f in chosen.items() if m == mode})
        return vals

    modes = {m: {k: (card_values(m)[k].value if k in card_values(m) else None) for k in KEYS} for m in mode_names}
    card = card_values(default)

    for key, lo, hi, pick, section in ranges:
        where = f"card: {section}" if section else "card"
        if lo is None:
            notes.append(f"{key}: {where} allows up to {hi}; no single value given (left null)")
        elif pick is not None:
            notes.append(f"{key}: {where} gives a range {lo} to {hi} and recommends {pick}")
        else:
            notes.append(f"{key}: {where} gives a range {lo} to {hi}, not one value (left null)")
    for (mode, key), losers in beaten.items():
        if mode not in (None, default):
            continue
        win = chosen[(mode, key)]
        for f in losers:
            notes.append(f"{key}: card: {f.section or 'top'} also says {_fmt(f.value)}; kept {_fmt(win.value)} "
                         f"from card: {win.section or 'top'}")

    gen = _from_generation_config(generation_config, notes)
    gguf = _from_gguf(gguf_metadata, notes)

    recommended: dict[str, Number | None] = {}
    sources: dict[str, str] = {}
    for key in KEYS:
        candidates: list[tuple[Number, str]] = []
        if key in card:
            f = card[key]
            label = f"card: {f.section}" if f.section else "card"
            candidates.append((f.value, label))
            for loser in beaten.get((f.mode, key), []):
                candidates.append((loser.value, f"card: {loser.section}" if loser.section else "card"))
        if key in gen:
            candidates.append((gen[key], "generation_config.json"))
        if key in gguf:
            candidates.append((gguf[key][0], f"gguf {gguf[key][1]}"))
        if not candidates:
            recommended[key] = None
            continue
        value, label = candidates[0]
        recommended[key] = value
        differs = [f"{src} = {_fmt(v)}" for v, src in candidates[1:] if v != value]
        sources[key] = label + (f" (differs: {'; '.join(differs)})" if differs else "")

    _card_notes(text, notes)
    system_prompt = _system_prompt(text, notes)
    return SamplerAdvice(recommended=recommended, modes=modes, sources=sources,
                         system_prompt=system_prompt, thinking_model=thinking, notes=notes)


def to_llama_args(advice: SamplerAdvice) -> list[str]:
    """llama-server flags for the recommended values (only the non-null ones), for EXTRA_ARGS."""
    args: list[str] = []
    for key in KEYS:
        value = advice.recommended.get(key)
        if value is not None:
            args += [LLAMA_FLAGS[key], _fmt(value)]
    return args
