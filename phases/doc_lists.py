"""A model's item in a person's list of models, worded like the other models' items.

Why its own module: list items carry more than a table cell (status marks, checkboxes, a bold name,
a ``(`id`)``, comma-separated parts mixing facts and a model's own description); the new item keeps
the template item's words and marks and puts this model's facts where the template has its own.
"""
from __future__ import annotations

import re
from collections.abc import Sequence

from onboard.phases.doc_facts import QUANT_IN_TEXT, TBD
from onboard.phases.doc_style import entry_lines, plain_cell, style_value
from onboard.store import markdown_doc as md


# -- lists -----------------------------------------------------------------------------------------------------
_CHECKBOX = re.compile(r"^\[([ xX])\]\s+")
_MARKS = {"tested": "✅", "untested": "⚠️"}
_LEAD_MARK = re.compile(r"^(✅|⚠️|❌|🔄|🚧|⏳|✔️|✓)\s*")
_TRAIL_MARK = re.compile(r"\s*(✅|⚠️|❌|🔄|🚧|⏳|✔️|✓)$")
_NAME = re.compile(r"^(\*\*.+?\*\*|`[^`]+`|[^—–:(]+?)(\s*\(`([^`]+)`\))?(\s+(?:—|–|--|-)\s+|:\s+)")
_SPEED_IN = re.compile(r"~?\d+(?:\.\d+)?\s*(?:t/s|tok/s|tokens/s)")
_CONTEXT_IN = re.compile(r"\d+(?:\.\d+)?\s*[Kk]\b|\d{1,3}(?:,\d{3})+|\d{4,}")


def add_list_item(place, facts: dict[str, str | None], doc, doc_text: str) -> tuple[str, list[str], int]:
    entries = entry_lines(place)
    if not entries:
        raise ValueError(f"the list at line {place.line} names no model to copy the style from")
    holds = lambda item: any(item.line <= e <= item.last_line for e in entries)  # noqa: E731 (multi-line items)
    lists = [lst for lst in doc.lists if any(item.line <= entries[-1] <= item.last_line for item in lst.items)]
    if not lists:
        raise ValueError(f"line {entries[-1] + 1} is not in a list item")
    lst = lists[-1]  # the innermost list holding the last entry
    siblings = [item.text for item in lst.items if holds(item)]
    new_text = md.add_list_item(doc_text, lst, list_item_text(siblings, facts))
    at = lst.items[-1].last_line + 1
    return new_text, [md.split_lines(new_text)[at].rstrip("\r\n")], at


def _good(facts: dict[str, str | None]) -> bool:
    """Done as far as a status list cares: benchmarked, or tested with no benchmark to run."""
    return facts.get("status") == "benchmarked" or (facts.get("status") == "tested" and not facts.get("bench"))


def _item_good(text: str) -> bool | None:
    box = _CHECKBOX.match(text)
    if box:
        return box.group(1) != " "
    mark = _LEAD_MARK.match(text) or _TRAIL_MARK.search(text)
    return None if mark is None else mark.group(1) in ("✅", "✔️", "✓")


def list_item_text(siblings: Sequence[str], facts: dict[str, str | None]) -> str:
    """An item's text (after the bullet) shaped like the other models' items ``siblings``.

    The template is the last sibling in the same state as this model (its status mark or checkbox
    says done or not), so the words around the facts fit. Kept: the mark, the name in bold or code
    and a ``(`id`)`` after it, the separator, and the comma-separated parts: a speed, a context or a
    strategy gets this model's; words every sibling shares ("production") stay; a part only one
    sibling has is that model's own description and becomes this one's (or goes)."""
    good = _good(facts)
    template = next((t for t in reversed(siblings) if _item_good(t) == good), siblings[-1])
    out, rest = "", template
    box = _CHECKBOX.match(rest)
    if box:
        out += "[x] " if good else "[ ] "
        rest = rest[box.end():]
    lead = _LEAD_MARK.match(rest)
    if lead:
        out += _MARKS["tested" if good else "untested"] + lead.group(0)[len(lead.group(1)):]
        rest = rest[lead.end():]
    trail = _TRAIL_MARK.search(rest)
    if trail:
        rest = rest[:trail.start()]
    model = facts.get("model") or facts.get("profile") or TBD
    name = _NAME.match(rest)
    if not name:
        out += _styled_name(model, rest, facts) + " — " + (facts.get("description") or TBD)
    else:
        out += _styled_name(model, name.group(1), facts)
        if name.group(2):
            out += name.group(2).replace(name.group(3), facts.get("profile") or TBD)
        out += name.group(4)
        parts = [p for p in re.split(r",\s+", rest[name.end():]) if p]
        shared = _shared_parts(siblings)
        free = [i for i, p in enumerate(parts) if _part_kind(p) is None and p.strip().casefold() not in shared
                and not _STATE_WORDS.search(p)]
        rendered = [_list_part(p, facts, kind=_part_kind(p), first=bool(free) and i == free[0],
                               shared=p.strip().casefold() in shared) for i, p in enumerate(parts)]
        out += ", ".join(r for r in rendered if r)
    if trail:
        out += trail.group(0).replace(trail.group(1), _MARKS["tested" if good else "untested"])
    return out


def _styled_name(model: str, written: str, facts: dict[str, str | None]) -> str:
    plain = plain_cell(written)
    if QUANT_IN_TEXT.search(plain) and facts.get("quant") and facts["quant"].lower() not in model.lower():
        model = f"{model} {facts['quant']}"
    elif "(" not in plain:
        model = re.sub(r"\s*\([^)]*\)", "", model).strip() or model
    if written.startswith("**"):
        return f"**{model}**"
    if written.startswith("`"):
        return f"`{model}`"
    return model


def _shared_parts(siblings: Sequence[str]) -> set[str]:
    """Comma-separated parts (after the name) that two or more siblings write alike: fixed words."""
    seen: dict[str, int] = {}
    for text in siblings:
        m = _NAME.match(_TRAIL_MARK.sub("", _LEAD_MARK.sub("", _CHECKBOX.sub("", text))))
        if not m:
            continue
        rest = _TRAIL_MARK.sub("", _LEAD_MARK.sub("", _CHECKBOX.sub("", text)))[m.end():]
        for part in {p.strip().casefold() for p in re.split(r",\s+", rest) if p.strip()}:
            seen[part] = seen.get(part, 0) + 1
    return {part for part, n in seen.items() if n > 1}


_STATE_WORDS = re.compile(r"\b(bench\w*|test\w*|production|untested|pending|not yet|ready|in progress)\b", re.I)


def _part_kind(part: str) -> str | None:
    if _SPEED_IN.search(part):
        return "speed"
    if re.search(r"\bcontext\b|\bctx\b", part, re.I):
        return "context"
    if re.fullmatch(r"\(?strategy [A-Z+]+\)?", part.strip(), re.I):
        return "strategy"
    return None


def _list_part(part: str, facts: dict[str, str | None], *, kind: str | None, first: bool,
               shared: bool) -> str | None:
    if kind == "speed":
        return _SPEED_IN.sub(lambda m: style_value("speed", facts, [m.group(0)]), part, count=1)
    if kind == "context":
        if facts.get("context") is None:
            return _CONTEXT_IN.sub(TBD, part, count=1)
        return _CONTEXT_IN.sub(lambda m: style_value("context", facts, [m.group(0)]), part, count=1)
    strategy = re.search(r"(strategy\s+)([A-Z](?:\+[A-Z])*)", part, re.I)
    if kind == "strategy" and strategy:
        return part.replace(strategy.group(0), strategy.group(1) + (facts.get("strategy") or TBD))
    if shared or _STATE_WORDS.search(part):  # fixed words, or the state the template shares with this model
        return part
    if first:
        text = facts.get("description") or TBD
        if strategy and not re.search(r"\bstrategy\b", text, re.I):
            text += f" ({strategy.group(1).strip().capitalize()} {facts.get('strategy') or TBD})"
        return text
    return None
