"""Card scanning: every sampler value (and range) a model card states, with its mode and section.

Cards give settings in every shape: prose ("a temperature of 0.6"), bullet lists, markdown tables,
code snippets (``temperature=0.7``, ``--temp 0.6``, ``top_p: 0.95``) and per-mode paragraphs ("For
thinking mode ... For non-thinking mode ..."). The scanner finds ``name <sep> value`` with the
patterns of :mod:`llamacpp.sampler_patterns`, in table cells and in lines, and files each value under
the mode its line, list, paragraph or heading names and the section it stands in. Card text is data:
it is only matched with regular expressions, never executed.
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Iterable

from .sampler_patterns import (INTEGER_KEYS, KEY_NAMES, LEFT_GUARD, MODE_CUES, NUM, RANGE, RANGE_PICK, RANGE_WORDS,
                               RECOMMENDATION_HEADING, SEP, UPPER, VALID_RANGE, Number)


@dataclass(frozen=True)
class Found:
    """One value seen in the card."""

    key: str
    value: Number
    mode: str | None  # None = applies to every mode
    section: str
    priority: int  # 0 = under a recommendation heading
    pos: int


def prepare_card(card: str, notes: list[str]) -> str:
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


_NAME_RE = {key: re.compile(LEFT_GUARD + r"(?:" + pat + r")", re.I) for key, pat in KEY_NAMES.items()}


def as_value(key: str, raw: str) -> Number | None:
    """``raw`` as a value of ``key`` when it is plausible for it (an int for integer keys), else None."""
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
            sep = re.match(SEP, rest, flags=re.I)
            after = rest[sep.end():] if sep else rest
            rng = re.match(RANGE, after, flags=re.I)
            if rng and (re.match(RANGE_WORDS, after, flags=re.I) or re.match(r"-?\d+(?:\.\d+)?\s*(?:-|–|—|~)\s*\d", after)):
                pick = re.match(RANGE_PICK, after[rng.end():], flags=re.I)
                on_range(key, rng.group(1), rng.group(2), pick.group(1) if pick else None, base + m.start())
                continue
            # "between 0 and 2" may follow a few words ("the presence_penalty parameter between 0 and 2")
            words_rng = re.match(r"[\s`'\"*]*(?:\w+\s+){0,3}?" + RANGE_WORDS + r"(-?\d+(?:\.\d+)?)\s*(?:-|–|to|and)\s*"
                                 r"(-?\d+(?:\.\d+)?)", rest, flags=re.I)
            if words_rng:
                on_range(key, words_rng.group(1), words_rng.group(2), None, base + m.start())
                continue
            upper = re.match(r"[\s`'\"*]*(?:\w+\s+){0,2}?" + UPPER, rest, flags=re.I)
            if upper:
                on_range(key, None, upper.group(1), None, base + m.start())
                continue
            num = re.match(NUM, after)
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


def scan_card(text: str) -> tuple[list[Found], list[tuple[str, str | None, str, str | None, str]]]:
    """Every value (and range) in the card with its mode and section."""
    headings = _headings(text)
    found: list[Found] = []
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
        value = as_value(key, raw)
        if value is None:
            return
        section, prio = context(p)
        found.append(Found(key, value, mode, section, prio, p))

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
                bare = re.fullmatch(r"[`*]*" + NUM + r"[`*]*", cell)
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
