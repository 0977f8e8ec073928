"""Card facts beyond the values: whether the model thinks (reasons), which mode it runs in by
default, the system prompt the card asks for, and notes a person should see (``--jinja``, reasoning
format, history rules). Each appends its reasons to ``notes`` in plain sentences.
"""
from __future__ import annotations

import re
from typing import Any, Mapping

from .sampler_patterns import (ANSWER_MODES, DEFAULT_MODE_CUES, NOT_THINKING, NOTE_PATTERNS, REASONING_PARSER,
                               SYSTEM_PROMPT_AVOID, SYSTEM_PROMPT_EXTRACTORS, SYSTEM_PROMPT_NEEDED, TEMPLATE_THINKING,
                               THINKING)


def thinking_model(text: str, gguf_metadata: Mapping[str, Any] | None, notes: list[str]) -> bool:
    """Whether the model thinks (reasons) before it answers: the card's words first (a negative cue
    settles it), else a thinking block in the GGUF's chat template."""
    if NOT_THINKING.search(text):
        return False
    if THINKING.search(text):
        return True
    template = (gguf_metadata or {}).get("tokenizer.chat_template")
    if isinstance(template, str) and TEMPLATE_THINKING.search(template):
        notes.append("thinking model: the GGUF chat template has a thinking block")
        return True
    return False


def default_mode(text: str, all_modes: list[str], thinking: bool, notes: list[str]) -> str | None:
    """The answer mode the model runs in when nobody asks (None when the card has only task modes
    or none); why is added to ``notes``."""
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


def required_system_prompt(text: str, notes: list[str]) -> str | None:
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
        for extractor in SYSTEM_PROMPT_EXTRACTORS:
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


def card_notes(text: str, notes: list[str]) -> None:
    """Add the card's special needs (chat template, reasoning format, history) to ``notes``, once each."""
    for pattern, sentence in NOTE_PATTERNS:
        if re.search(pattern, text, flags=re.I) and sentence not in notes:
            notes.append(sentence)
    parsers = sorted({m.group(1) for m in REASONING_PARSER.finditer(text)})
    if parsers:
        notes.append("reasoning: the card serves it with reasoning parser " + ", ".join(parsers)
                     + " (llama-server splits thinking with --reasoning-format)")
