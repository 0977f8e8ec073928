"""A per-model section of a person's docs (its heading, settings, notes), shaped like the last one.

Why its own module: a section is many lines in the sibling's shape (a source line, a settings table
or labelled bullets, notes, the server defaults line, the system prompt in a code block), and it must
stop before a marked block that follows the sibling (the samplers phase's), which is not its own.
"""
from __future__ import annotations

import re
from collections.abc import Sequence

from onboard.phases.doc_facts import SAMPLER_FLAGS, TBD
from onboard.phases.doc_fields import field_for_header
from onboard.phases.doc_style import entry_lines, row_cells
from onboard.store import marker_blocks


# -- sections --------------------------------------------------------------------------------------------------
_NOT_SPECIFIED = re.compile(r"^[—–-]?\s*\(?not specified\)?$|^[—–-]\s*\(not specified\)$", re.I)


def section_entry(place, facts: dict[str, str | None], doc) -> tuple[list[str], int]:
    """A per-model section shaped like the last one: its heading level, a settings table or bullets,
    a source line, notes, the server defaults line, the system prompt in a code block."""
    entries = entry_lines(place)
    headings = [h for h in doc.headings if h.line in entries]
    if not headings:
        raise ValueError(f"no per-model section at line {place.line} to copy the shape from")
    last = headings[-1]
    section = next(s for s in doc.sections(last.level) if s.first_line == last.line)
    end = section.last_line
    for i in range(section.first_line + 1, section.last_line + 1):
        if marker_blocks.begin_in(doc.line_text(i)) is not None:  # a marked block after it (the samplers phase's) is not its
            end = i - 1
            break
    body = [doc.line_text(i) for i in range(section.first_line + 1, end + 1)]
    lines = section_lines(last.level, body, facts)
    at = end + 1
    end_of_file = at == len(doc.lines)
    while end_of_file and at - 1 > section.first_line and not doc.line_text(at - 1).strip():
        at -= 1  # at the end of the file: after the last text line, the file's trailing blank lines stay last
    if doc.line_text(at - 1).strip():
        lines = [""] + lines
    if end_of_file:
        while lines and not lines[-1]:
            lines.pop()
    return lines, at


def section_lines(level: int, sibling: Sequence[str], facts: dict[str, str | None]) -> list[str]:
    """The lines of a new per-model section (ending with a blank line), shaped like ``sibling``'s body:
    a source line, a settings table, ``- **Label:** value`` bullets, a notes heading and a server
    defaults line where the sibling has them; the system prompt in a code block."""
    model = facts.get("model") or facts.get("profile") or TBD
    lines = ["#" * level + " " + model, ""]
    text = "\n".join(sibling)
    if re.search(r"^Source:", text, re.M):
        card = facts.get("card")
        lines += ["Source: model card" + (f" (`{card}`)" if card else ""), ""]
    table_rows = [row for row in sibling if row.lstrip().startswith("|")]
    settings = [row for row in table_rows[2:] if field_for_header(row_cells(row)[0]) in SAMPLER_FLAGS]
    missing = next((cell.strip() for row in settings for cell in row_cells(row)[1:]
                    if _NOT_SPECIFIED.match(cell.strip())), TBD)
    labels = [row_cells(row)[0] for row in settings]
    known = {field_for_header(label) for label in labels}
    labels += [field for field in SAMPLER_FLAGS if field not in known and facts.get(field) is not None]
    labelled = [m for m in map(_LABELLED.match, sibling) if m and (m.group(3) or m.group(4))]
    if settings:
        header = row_cells(table_rows[0])
        lines += [f"| {header[0]} | Recommended |", "|---------|-------------|"]
        lines += [f"| {label} | {facts.get(field_for_header(label)) or missing} |" for label in labels]
        lines.append("")
    if labelled:
        lines += _labelled_bullets(labelled, sibling, facts) + [""]
    elif not settings and re.search(r"^\s*[-*] .*\b(temperature|temp|top_p|top-p)\b", text, re.M | re.I):
        lines += [f"- {label}: {facts.get(field_for_header(label) or label) or missing}"
                  for label in labels or list(SAMPLER_FLAGS)] + [""]
    if not labelled:
        heading = re.search(r"^\*\*[^*]*notes?[^*]*\*\*:?\s*$", text, re.M | re.I)
        if heading:
            after = text[heading.end():].split("\n", 2)
            lines += [heading.group(0)] + ([""] if len(after) > 1 and not after[1].strip() else [])
        lines += _notes(facts) + [""]
    if re.search(r"^\*\*Server defaults", text, re.M):
        lines += ["**Server defaults (models.conf):** " + (f"`{_flags(facts)}`" if _flags(facts) else
                                                           "llama-server's defaults"), ""]
    return lines


_LABELLED = re.compile(r"^(\s*[-*+]\s+)\*\*([^*]+?)(:?)\*\*(:?)\s*(.*)$")
_SAMPLER_WORDS = re.compile(r"([A-Za-z_][A-Za-z_ -]*?)\s+(-?\d+(?:\.\d+)?)")


def _flags(facts: dict[str, str | None]) -> str:
    return " ".join(f"{flag} {facts[field]}" for field, flag in SAMPLER_FLAGS.items() if facts.get(field))


def _labelled_bullets(labelled: list, sibling: Sequence[str], facts: dict[str, str | None]) -> list[str]:
    """``- **Profile:** `id```, ``- **Samplers:** temperature 0.6, top_p 0.95``, ``- **System prompt:** ...``
    in the sibling's order and wording, one per label (``Samplers (thinking)`` counts as ``Samplers``)."""
    out: list[str] = []
    fence: list[str] = []
    seen: set[str] = set()
    for m in labelled:
        bullet, label, colon_in, colon_out, value = m.groups()
        base = re.sub(r"\s*\([^)]*\)", "", label).strip()
        if base.casefold() in seen:
            continue
        seen.add(base.casefold())
        start = f"{bullet}**{base}{colon_in}**{colon_out} "
        field = _label_field(base)
        if "sampler" in base.casefold():
            names = {field_for_header(n.strip()): n.strip() for n, _v in _SAMPLER_WORDS.findall(value)}
            given = [f"{names.get(f) or f} {facts[f]}" for f in SAMPLER_FLAGS if facts.get(f)]
            out.append(start + (", ".join(given) if given else "none recommended (llama-server's defaults)"))
        elif field == "system_prompt":
            prompt = facts.get("system_prompt")
            if prompt:
                out.append(start + "required:")
                tick = "````" if "```" in prompt else "```"
                fence = ["", tick, *prompt.splitlines(), tick]
            else:
                nones = [g.group(5) for g in map(_LABELLED.match, sibling)  # their words for "none"
                         if g and _label_field(g.group(2)) == "system_prompt" and g.group(5).lower().startswith("none")]
                out.append(start + (nones[0] if nones else "none needed"))
        else:
            shown = facts.get(field) if field else None
            if shown and value.strip().startswith("`"):
                shown = f"`{shown}`"
            out.append(start + (shown or TBD))
    thinking = {"Yes": "Thinking model: it reasons before the answer (benchmarks serve it with "
                       "`--reasoning-format none`).",
                "No": "Non-thinking model."}.get(facts.get("thinking") or "")
    bullet = labelled[0].group(1)
    if thinking:
        out.append(bullet + thinking)
    if fence:
        out += fence
    return out


def _label_field(label: str) -> str | None:
    """The field a bullet's bold label names (``Samplers (thinking)`` read as ``Samplers``)."""
    return field_for_header(re.sub(r"\s*\([^)]*\)", "", label).strip())


def _notes(facts: dict[str, str | None]) -> list[str]:
    thinking = facts.get("thinking")
    notes = [{"Yes": "- **Thinking model**: it reasons before answering; benchmarks serve it with "
                     "`--reasoning-format none` so the reasoning stays in the answer.",
              "No": "- **Non-thinking model**: no reasoning blocks before the answer."}.get(thinking or "",
                                                                                          f"- Thinking: {TBD}")]
    prompt = facts.get("system_prompt")
    if prompt:
        fence = "````" if "```" in prompt else "```"
        notes += ["- **System prompt** the model card asks for:", "", f"  {fence}text"]
        notes += [f"  {line}" for line in prompt.splitlines()] + [f"  {fence}"]
    else:
        notes.append("- No special system prompt needed.")
    return notes
