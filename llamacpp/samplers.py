"""Recommended sampler settings for a model, read from its card, ``generation_config.json`` and GGUF.

Why this module exists: a model served with llama.cpp's defaults (temp 0.8, top-k 40, ...) often
performs worse than with the settings its authors recommend, and those settings hide in model cards
written in every shape: prose ("a temperature of 0.6"), bullet lists, markdown tables, code
snippets (``temperature=0.7``, ``--temp 0.6``, ``top_p: 0.95``), per-mode paragraphs ("For
thinking mode ... For non-thinking mode ..."). The knowledge lives in the pattern tables of
:mod:`llamacpp.sampler_patterns` (data); :mod:`llamacpp.sampler_card_scan` finds the card's values,
:mod:`llamacpp.sampler_card_facts` its other facts, and this module merges the sources.

Rules of ``onboard samplers``:

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

``SamplerAdvice.to_json()`` holds ``recommended``, ``modes``, ``sources``, ``system_prompt`` and
``thinking_model``, plus ``notes``: a list of
plain sentences (chat-template needs such as ``--jinja``, reasoning format, ranges, conflicts,
ignored values) that a person or the docs phase can show as they are.

Card text is data: it is only matched with regular expressions, never executed.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Mapping

from .sampler_card_facts import card_notes, default_mode, required_system_prompt, thinking_model
from .sampler_card_scan import Found, as_value, prepare_card, scan_card
from .sampler_patterns import (GENERATION_CONFIG_KEYS, GGUF_KEYS, GGUF_OTHER_PREFIX, KEYS, LLAMA_FLAGS, VALID_RANGE,
                               Number)

__all__ = ["GGUF_KEYS", "KEYS", "VALID_RANGE", "SamplerAdvice", "extract_samplers", "to_llama_args"]


@dataclass(frozen=True)
class SamplerAdvice:
    """What a model's authors recommend, with where each value came from.

    ``to_json()`` is what ``onboard samplers --json`` prints (see the module docstring).
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
        if value is None or as_value(key, str(value)) is None:
            notes.append(f"generation_config.json: {name} = {config[name]!r} is not a usable value (ignored)")
            continue
        out[key] = as_value(key, str(value))  # type: ignore[assignment]
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
        if number is None or as_value(key, str(number)) is None:
            notes.append(f"gguf {name} = {value!r} is not a usable value (ignored)")
            continue
        out[key] = (as_value(key, str(number)), name)  # type: ignore[assignment]
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
    text = prepare_card(card_text if isinstance(card_text, str) else "", notes)
    found, ranges = scan_card(text)

    # per mode (None = general) and key: the winning card value, plus the values it beat
    chosen: dict[tuple[str | None, str], Found] = {}
    beaten: dict[tuple[str | None, str], list[Found]] = {}
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
    thinking = thinking_model(text, gguf_metadata, notes)
    default = default_mode(text, mode_names, thinking, notes)

    def card_values(mode: str | None) -> dict[str, Found]:
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

    card_notes(text, notes)
    system_prompt = required_system_prompt(text, notes)
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
