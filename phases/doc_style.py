"""One value of a docs entry written like its neighbours, and the lines of the place it goes in.

Why its own module: a row is only welcome in a person's table if it looks like the rows above it:
backticks where they use backticks, "128K" where they write "128K", "t/s" where they write "t/s",
"GB" rounded as they round it. Every renderer (``phases.doc_rows`` for tables, ``phases.doc_trees``,
``phases.doc_lists``, ``phases.doc_sections``) takes each value's style from here.

A place (``phases.repo_map.Place``) gives: kind ("table", "tree", "list", "sections"), its 1-based
``line``..``end_line``, for a table its ``columns`` and their ``fields``, and ``entries``: the 1-based
line and profile id of each row, tree line, item or section heading that names a production profile.
"""
from __future__ import annotations

import re
from collections.abc import Sequence

from onboard.phases.doc_facts import QUANT_IN_TEXT, SAMPLER_FLAGS, TBD
from onboard.phases.doc_fields import device_of


# -- styling one value like its neighbours -----------------------------------------------------------------
_YES = ("yes", "y", "✅", "✓", "✔", "true")
_NO = ("no", "n", "❌", "✗", "✘", "false")
_K_CONTEXT = re.compile(r"^~?\d+(?:\.\d+)?\s*([Kk])(?:\s|$)")
_COMMA_NUMBER = re.compile(r"^\d{1,3}(?:,\d{3})+$")
_BACKTICKED = re.compile(r"^`[^`]+`$")
_BOLD = re.compile(r"^\*\*[^*].*\*\*$")
_ARCH_SIZE = re.compile(r"(?i)(moe|dense)\s+\d")  # "MoE 117B/5.1B", "Dense 32.8B"


def plain_cell(cell: str) -> str:
    return cell.replace("**", "").replace("`", "").strip()


def mostly(cells: Sequence[str], test) -> bool:
    cells = [c for c in cells if c.strip() and c.strip() not in (TBD, "-", "—")]
    return bool(cells) and sum(1 for c in cells if test(c)) * 2 > len(cells)


def style_value(field: str | None, facts: dict[str, str | None], neighbours: Sequence[str],
                header: str = "") -> str:
    """The text of one cell (or list part) for ``field``, written the way ``neighbours`` write theirs.

    ``neighbours`` are the same column's cells in the rows above (markup kept). A missing fact is
    ``TBD``; a column onboard cannot name that counts 1, 2, 3... gets the next number."""
    value = facts.get(field) if field else None
    plain = [plain_cell(c) for c in neighbours if plain_cell(c)]
    if field is None:
        numbers = [c for c in plain if c.isdigit()]
        if plain and len(numbers) == len(plain):
            return str(max(int(n) for n in numbers) + 1)
        return TBD
    if field == "profile" and value and plain and all(c.startswith("bench-") for c in plain):
        value = facts.get("bench") or f"bench-{value}"
    if value is None:
        dashes = [c for c in plain if c in ("—", "-", "–")]
        return dashes[-1] if field in SAMPLER_FLAGS and dashes else TBD
    value = _formatted(field, value, facts, plain, header)
    if mostly(neighbours, lambda c: bool(_BACKTICKED.match(c.strip()))) and "`" not in value:
        value = f"`{value}`"
    elif mostly(neighbours, lambda c: bool(_BOLD.match(c.strip()))) and "**" not in value:
        value = f"**{value}**"
    return value


def _formatted(field: str, value: str, facts: dict[str, str | None], plain: list[str], header: str) -> str:
    if field == "context" and value.isdigit():
        n = int(value)
        k = next((m.group(1) for m in map(_K_CONTEXT.match, plain) if m), None)
        if k:
            return f"{n / 1024:.0f}{k}" if n % 1024 == 0 or n >= 10240 else f"{n / 1024:.1f}{k}"
        if mostly(plain, lambda c: bool(_COMMA_NUMBER.match(c))):
            return f"{n:,}"
        return value
    if field == "speed":
        if plain and not any(re.search(r"[a-z]/s|tok", c, re.I) for c in plain) \
                and mostly(plain, lambda c: bool(re.fullmatch(r"~?\d+(?:\.\d+)?", c))):
            return value.replace(" t/s", "")
        unit = next((m.group(0) for m in (re.search(r"tok/s|tokens/s|tps", c) for c in plain) if m), None)
        return value.replace("t/s", unit) if unit else value
    if field in ("humaneval", "humaneval_plus", "reference") and value.endswith("%"):
        number = float(value[:-1])
        if mostly(plain, lambda c: bool(re.fullmatch(r"0?\.\d+", c))):
            return f"{number / 100:.3f}"
        if mostly(plain, lambda c: bool(re.fullmatch(r"\d+(?:\.\d+)?", c))):
            return f"{number:.1f}"
        return value
    if field in ("thinking", "tools", "vision"):
        for cell in plain:  # the first neighbour's kind of answer: Yes/No, yes/no, ✅/❌, ✓/✗ ...
            word = re.split(r"[\s(,]", cell.strip(), maxsplit=1)[0]
            pair = next((i for i, (y, n) in enumerate(zip(_YES, _NO)) if word.lower() in (y, n)), None)
            if pair is not None:
                answer = (_YES if value == "Yes" else _NO)[pair]
                return answer.capitalize() if word[:1].isupper() else answer
        return value
    if field == "strategy" and mostly(plain, lambda c: c.lower().startswith("strategy ")):
        return f"Strategy {value}"
    if field == "model":
        if plain and not any("(" in c for c in plain):  # "GPT-OSS 120B (Q4_K_M)" where they write "GPT-OSS 120B"
            value = re.sub(r"\s*\([^)]*\)", "", value).strip() or value
        quant = facts.get("quant")
        if quant and quant.lower() not in value.lower() and mostly(plain, lambda c: bool(QUANT_IN_TEXT.search(c))):
            if mostly(plain, lambda c: bool(re.search(r"\(" + QUANT_IN_TEXT.pattern + r"\)", c, re.I))):
                return f"{value} ({quant})"
            return f"{value} {quant}"
        return value
    if field == "arch" and value in ("MoE", "Dense") and mostly(plain, lambda c: bool(_ARCH_SIZE.match(c))):
        size = "/".join(x for x in (facts.get("params"), facts.get("active") if value == "MoE" else None) if x)
        return f"{value} {size or TBD}"
    if field == "params" and mostly(plain, lambda c: bool(re.search(r"\d\s*(GB|GiB|MB|MiB)\b", c))):
        return TBD  # a "File Size" column: bytes on disk, not parameters
    if field == "file" and plain and not any("/" in c for c in plain):
        return re.split(r"[\\/]", value)[-1]
    if field == "vram":
        return _vram_cell(value, plain, header)
    return value


def _vram_cell(value: str, plain: list[str], header: str) -> str:
    """Memory as the column writes it (GB = 1024 MiB, as nvidia-smi users read it; GiB, MiB; decimals or
    not): one device's figure in a per-device column, else per device or their total."""
    parts = [(dev, float(mib) / 1024) for dev, mib in re.findall(r"(\S+) (\d+(?:\.\d+)?) MiB", value)]
    if not parts:
        return value
    mib = mostly(plain, lambda c: "MiB" in c or "MB" in c)
    unit = "MiB" if mib else next((m.group(1) for m in (re.search(r"\d\s*(GiB|GB)\b", c) for c in plain) if m), "GB")
    whole = mostly(plain, lambda c: bool(re.search(r"\d\s*G", c)) and not re.search(r"\d\.\d+\s*G", c))
    fmt = (lambda gb: f"{gb * 1024:.0f} {unit}") if mib else (lambda gb: f"{gb:.{0 if whole else 1}f} {unit}")
    device = device_of(header) if header else None
    if device:
        index = re.sub(r"\D", "", device)
        for dev, gb in parts:
            if index and re.sub(r"\D", "", dev) == index:
                return fmt(gb)
        return TBD
    if len(parts) > 1 and not mostly(plain, lambda c: "+" in c or "/" in c):
        return fmt(sum(gb for _d, gb in parts))
    if len(parts) == 1:
        return fmt(parts[0][1])
    return " + ".join(fmt(gb) for _d, gb in parts)


# -- the place's lines ---------------------------------------------------------------------------------
def place_span(place) -> tuple[int, int]:
    """The place's first and last line as 0-based indexes."""
    return place.line - 1, (place.end_line or place.line) - 1


def entry_lines(place) -> list[int]:
    """0-based lines of the place's entries (the rows, lines, items or headings naming a profile)."""
    return sorted(line - 1 for line, _pid in place.entries)


def row_cells(row: str) -> list[str]:
    """A table row's cells, stripped, outer pipes optional, ``\\|`` kept inside a cell."""
    body = row.strip()
    if body.startswith("|"):
        body = body[1:]
    if body.endswith("|") and not body.endswith("\\|"):
        body = body[:-1]
    return [c.strip() for c in re.split(r"(?<!\\)\|", body)] or [""]
