"""The knowledge behind sampler advice, as data: how each sampler setting is written in model cards,
code and command lines, which values are plausible, the cues for modes (thinking, non-thinking,
coding), recommendation headings, thinking-model and system-prompt cues, notes worth showing, and
the names of the same settings in GGUF metadata, ``generation_config.json`` and llama-server flags.

The card scanner (:mod:`llamacpp.sampler_card_scan`) and the card facts
(:mod:`llamacpp.sampler_card_facts`) only walk text with these tables; a new card wording is a new
pattern here. Every name pattern is matched case-insensitively.
"""
from __future__ import annotations

import re

KEYS: tuple[str, ...] = ("temperature", "top_p", "top_k", "min_p", "repeat_penalty", "presence_penalty")

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
LEFT_GUARD = r"(?<![A-Za-z0-9])(?<![A-Za-z0-9][\-_])"

# What may stand between a name and its value: quotes, markdown emphasis, one connector word.
SEP = (r"[\s`'\"*\\)]*(?:=|:=|:|\||\bof\b|\bis\b|\bto\b|\bat\b|\baround\b|\bset\s+to\b|\bequal\s+to\b|"
        r"\bequals\b)?[\s`'\"*(]*")
NUM = r"(-?\d+(?:\.\d+)?)(?![\d.]*[A-Za-z%])"

# A range instead of one value: "within the range of 0.5-0.7", "between 20 and 40", "0 to 2".
RANGE = (r"(?:(?:within\s+)?(?:the\s+)?range\s+(?:of\s+)?|between\s+|from\s+)?"
          r"(-?\d+(?:\.\d+)?)\s*(?:-|–|—|to|and|~)\s*(-?\d+(?:\.\d+)?)(?![\d.]*[A-Za-z%])")
RANGE_WORDS = r"(?:(?:within\s+)?(?:the\s+)?range\s+(?:of\s+)?|between\s+|from\s+)"
# "... (0.6 is recommended)" right after a range names the value to take.
RANGE_PICK = r"\s*\(\s*(-?\d+(?:\.\d+)?)\s+is\s+(?:recommended|suggested|ideal|the\s+default)\s*\)"
# "up to 2.0": an upper bound, not a value.
UPPER = r"(?:up\s+to|at\s+most|no\s+more\s+than)\s+[`'\"]*(-?\d+(?:\.\d+)?)"

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
SYSTEM_PROMPT_EXTRACTORS: tuple[re.Pattern[str], ...] = (
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
