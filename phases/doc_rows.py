"""A model's facts, and the one row, tree line, list item or section that enters it in a person's docs.

Why its own module: the docs phase must add the new model to tables, listings and sections that a
person wrote by hand, without markers. A row is only welcome there if it looks like the rows above
it: the same columns, backticks where they use backticks, "128K" where they write "128K", "t/s" where
they write "t/s", the same tree drawing, the same list marks. So the facts are gathered once, in the
shared field vocabulary (``phases.doc_fields``), and every renderer takes its style from the
neighbouring entries of the place. A fact nobody knows yet is written ``TBD``, plainly, for a person
to fill in, never guessed.

``model_facts`` reads the production profile (NAME, DESCRIPTION, SPEED, MODEL, CTX_SIZE, EXTRA_ARGS
and the measured-memory comments the test phase leaves), the candidate's options, its card, the
model's GGUF header when the file is there, and the benchmark scores. ``render_entry`` turns them into
the lines for one place and ``add_entry`` puts them there (after the place's last entry; in a tree,
among the sibling folders so the drawing stays right).
"""
from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from llamacpp.server_command import flag_value
from phases.doc_fields import FIELDS, device_of, field_for_header, model_folder, normalize
from store import markdown_doc as md

TBD = "TBD"  # what a cell holds when the fact is not known yet: plain to see, easy to search for
SAMPLER_FLAGS = {"temp": "--temp", "top_p": "--top-p", "top_k": "--top-k", "min_p": "--min-p",
                 "repeat_penalty": "--repeat-penalty", "presence_penalty": "--presence-penalty"}
_QUANT_IN_TEXT = re.compile(r"\b(?:UD-)?(?:I?Q\d[A-Z0-9_]*|BF16|F16|F32|MXFP4[A-Z0-9_]*)\b", re.I)
_MEASURED = re.compile(r"^#?\s*measured (\S+): (.*)$")
_MIB = re.compile(r"(\d+(?:\.\d+)?) MiB")
_STRATEGY = re.compile(r"\bstrategy ([A-DL](?:\+[A-DL])*|CPU|given)\b", re.I)


# -- facts ----------------------------------------------------------------------------------------------
def model_facts(root: Path, profile_id: str, options: dict[str, Any]) -> dict[str, str | None]:
    """The facts about ``[profile_id]`` a docs entry can show, keyed by the doc_fields vocabulary.

    Values are written as a person writes them (speed to 0.1 t/s, an estimate as ``~N t/s``, scores as
    percentages to 0.1; memory exact in MiB per device, rounded by each column as its rows are); None =
    not known (rendered as ``TBD``). One key beyond
    the vocabulary: ``card``, the candidate card's path, for a section's source line. A profile that
    models.conf lacks is BadInput: the docs cannot describe what the profile phase has not written.
    """
    from llamacpp.errors import BadInput
    from store.models_conf import ModelsConf, split_extra_args

    conf = ModelsConf.load(Path(root) / "models.conf")
    section = conf.section(profile_id)
    if section is None:
        raise BadInput(f"models.conf has no [{profile_id}] profile", path=str(Path(root) / "models.conf"),
                       fix="the profile phase writes it: onboard rollback NAME back to it")
    values = section.values
    try:
        args = split_extra_args(values.get("EXTRA_ARGS", ""))
    except BadInput:
        args = []
    facts: dict[str, str | None] = dict.fromkeys(FIELDS)
    model = values.get("MODEL") or None
    header = _header(Path(root), model)
    summary = _summary(header)
    card = _card(Path(root), profile_id)
    bench = f"bench-{profile_id}"
    facts.update({
        "profile": profile_id,
        "model": values.get("NAME") or options.get("display_name") or profile_id,
        "start": f"./start.sh {profile_id}",
        "bench": bench if conf.section(bench) is not None else None,
        "file": model,
        "quant": options.get("quant") or _quant_of(model, values.get("DESCRIPTION", "")),
        "context": values.get("CTX_SIZE") or None,
        "speed": speed_text(values.get("SPEED", "")),
        "vram": vram_text(device_memory(section.comments)),
        "strategy": _strategy(values.get("DESCRIPTION", ""), section.comments),
        "description": values.get("DESCRIPTION") or None,
        "status": "untested" if any("NOT YET TESTED" in c for c in section.comments) else "tested",
    })
    if summary is not None:
        moe = summary.kind == "moe"
        facts["arch"] = "MoE" if moe else "Dense"
        facts["params"] = params_text(summary.total_params)
        facts["active"] = params_text(summary.active_params if moe else summary.total_params)
    elif options.get("architecture"):
        facts["arch"] = str(options["architecture"])
    for field, flag in SAMPLER_FLAGS.items():
        facts[field] = flag_value(args, flag)
    facts["thinking"] = _yes_no(_thinking(options, card))
    facts["tools"] = _yes_no(_tools(card, header))
    if (options.get("chat") or {}).get("kind") == "base":  # no chat, hence no tools: what the file is, not the card
        facts["tools"] = "No"
        facts["notes"] = facts.get("notes") or "completion only (base model)"
    facts["vision"] = _yes_no(_vision(Path(root), model, args, header))
    facts["system_prompt"] = (options.get("samplers") or {}).get("system_prompt") or None
    scores = benchmark_scores(Path(root), bench)
    if scores:
        facts["humaneval"] = percent(scores.get("humaneval"))
        facts["humaneval_plus"] = percent(scores.get("humaneval_plus"))
        facts["status"] = "benchmarked" if facts["status"] == "tested" else facts["status"]
    facts["reference"] = _reference(Path(root), bench)
    facts["card"] = _relative(card.path, Path(root)) if card is not None else None  # a section's source line
    return facts


def speed_text(speed: str) -> str | None:
    """``SPEED`` as a person writes it: ``45.3 t/s`` measured, ``~45 t/s`` estimated, None unknown."""
    m = re.search(r"(\d+(?:\.\d+)?)\s*(?:t/s|tok/s|tokens/s)", speed)
    if not m:
        return None
    value = float(m.group(1))
    if "~" in speed or "estimat" in speed.lower():
        return f"~{value:.0f} t/s"
    return f"{value:.1f} t/s"


def device_memory(comments: Sequence[str]) -> dict[str, float]:
    """Measured MiB per device from the test phase's ``measured DEV: weights N MiB, KV N MiB, ...`` comments."""
    out: dict[str, float] = {}
    for comment in comments:
        m = _MEASURED.match(comment.strip())
        if m and m.group(1) != "CPU":
            out[m.group(1)] = sum(float(x) for x in _MIB.findall(m.group(2)))
    return out


def vram_text(memory: dict[str, float]) -> str | None:
    """``CUDA0 21811 MiB + CUDA1 14234 MiB``, exact, so each docs column can round it its own way
    (``21.3 GB``, ``21 GB``, ``21811 MiB``); None when unmeasured."""
    if not memory:
        return None
    return " + ".join(f"{dev} {mib:.0f} MiB" for dev, mib in memory.items())


def params_text(count: int | float | None) -> str | None:
    """A parameter count as model names write it: ``30.5B``, ``270M``."""
    if not count:
        return None
    if count >= 1e9:
        return f"{count / 1e9:.1f}B".replace(".0B", "B")
    return f"{count / 1e6:.0f}M"


def percent(fraction: float | None) -> str | None:
    return None if fraction is None else f"{fraction * 100:.1f}%"


def benchmark_scores(root: Path, bench: str) -> dict[str, float] | None:
    """HumanEval / HumanEval+ pass@1 (fractions) of ``[bench]``: the owner's pipeline first, else ours."""
    try:
        from phases.owner_pipeline import latest_scores
    except ImportError:  # a repository without the owner's pipeline code path
        latest_scores = None
    if latest_scores is not None:
        try:
            scores = latest_scores(root, bench)
        except Exception:  # noqa: BLE001 - a broken results file is the docs check's to report
            scores = None
        if scores:
            return scores
    from phases.bench_pipeline import summaries

    found = [s for s in summaries(root) if s.get("profile") == bench and s.get("dataset") == "humaneval"]
    if not found:
        return None
    latest = max(found, key=lambda s: str(s.get("date") or ""))
    return {"humaneval": latest.get("base_pass1"), "humaneval_plus": latest.get("plus_pass1")}


def _reference(root: Path, bench: str) -> str | None:
    from llamacpp.errors import BadInput
    from phases import bench_pipeline as bp

    try:
        entry = bp.load_json(root, bp.MODELS_JSON).get(bench) or {}
    except BadInput:
        return None
    ref = (entry.get("reference") or {}) if isinstance(entry, dict) else {}
    value = ref.get("humaneval_plus") if isinstance(ref, dict) else None
    if isinstance(value, (int, float)):
        return percent(value) if value <= 1 else f"{value:.1f}%"
    return None


def _header(root: Path, model: str | None):  # -> llamacpp.gguf_header.GGUFHeader | None
    if not model:
        return None
    path = Path(model) if Path(model).is_absolute() else root / model
    if not path.is_file():
        return None
    try:
        from llamacpp.gguf_header import read_header

        return read_header(path)
    except Exception:  # noqa: BLE001 - facts from the header are a bonus; the test phase checked the file
        return None


def _summary(header):  # -> llamacpp.model_summary.ModelSummary | None
    if header is None:
        return None
    try:
        from llamacpp.model_summary import summarize

        return summarize(header)
    except Exception:  # noqa: BLE001
        return None


def _card(root: Path, profile_id: str):  # -> llamacpp.candidate_card.CandidateCard | None
    from phases.contract import profile_id as slug

    folder = root / "models" / "documentation" / "CANDIDATES"
    if not folder.is_dir():
        return None
    from llamacpp.candidate_card import load_card

    for path in sorted(folder.glob("README_*.md")):
        if slug(path.stem[len("README_"):]) == profile_id:
            try:
                return load_card(path, require_repo=False)
            except Exception:  # noqa: BLE001 - a card that does not read gives no facts
                return None
    return None


def _relative(path: Path, root: Path) -> str:
    try:
        return Path(path).relative_to(root).as_posix()
    except ValueError:
        return str(path)


def _quant_of(model: str | None, description: str) -> str | None:
    if model:
        parts = re.split(r"[\\/]+", model)
        if len(parts) >= 3 and _QUANT_IN_TEXT.fullmatch(parts[-2]):
            return parts[-2]
        m = _QUANT_IN_TEXT.search(parts[-1].replace(".gguf", ""))
        if m:
            return m.group(0).upper()
    m = _QUANT_IN_TEXT.search(description)
    return m.group(0) if m else None


def _strategy(description: str, comments: Sequence[str]) -> str | None:
    for text in [description, *comments]:
        m = _STRATEGY.search(text)
        if m:
            return m.group(1).upper() if m.group(1).lower() not in ("cpu", "given") else m.group(1)
    return None


def _thinking(options: dict[str, Any], card) -> bool | None:
    if "thinking" in options:
        return bool(options["thinking"])
    if card is not None:
        return bool(card.thinking)
    found = (options.get("samplers") or {}).get("thinking_model")
    return None if found is None else bool(found)


def _tools(card, header) -> bool | None:
    if card is not None and isinstance(card.metadata.get("tools"), bool):
        return card.metadata["tools"]
    template = (header.metadata.get("tokenizer.chat_template") if header is not None else None)
    if isinstance(template, str) and template:
        return bool(re.search(r"\btools\b", template))
    return None


def _vision(root: Path, model: str | None, args: Sequence[str], header) -> bool | None:
    if "--mmproj" in args or any(a.startswith("--mmproj=") for a in args):
        return True
    if header is None or not model:
        return None
    folder = (Path(model) if Path(model).is_absolute() else root / model).parent
    return any(folder.glob("mmproj*.gguf"))


def _yes_no(value: bool | None) -> str | None:
    return None if value is None else ("Yes" if value else "No")


# -- styling one value like its neighbours -----------------------------------------------------------------
_YES = ("yes", "y", "✅", "✓", "✔", "true")
_NO = ("no", "n", "❌", "✗", "✘", "false")
_K_CONTEXT = re.compile(r"^~?\d+(?:\.\d+)?\s*([Kk])(?:\s|$)")
_COMMA_NUMBER = re.compile(r"^\d{1,3}(?:,\d{3})+$")
_BACKTICKED = re.compile(r"^`[^`]+`$")
_BOLD = re.compile(r"^\*\*[^*].*\*\*$")
_ARCH_SIZE = re.compile(r"(?i)(moe|dense)\s+\d")  # "MoE 117B/5.1B", "Dense 32.8B"


def _plain_cell(cell: str) -> str:
    return cell.replace("**", "").replace("`", "").strip()


def _mostly(cells: Sequence[str], test) -> bool:
    cells = [c for c in cells if c.strip() and c.strip() not in (TBD, "-", "—")]
    return bool(cells) and sum(1 for c in cells if test(c)) * 2 > len(cells)


def style_value(field: str | None, facts: dict[str, str | None], neighbours: Sequence[str],
                header: str = "") -> str:
    """The text of one cell (or list part) for ``field``, written the way ``neighbours`` write theirs.

    ``neighbours`` are the same column's cells in the rows above (markup kept). A missing fact is
    ``TBD``; a column onboard cannot name that counts 1, 2, 3... gets the next number."""
    value = facts.get(field) if field else None
    plain = [_plain_cell(c) for c in neighbours if _plain_cell(c)]
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
    if _mostly(neighbours, lambda c: bool(_BACKTICKED.match(c.strip()))) and "`" not in value:
        value = f"`{value}`"
    elif _mostly(neighbours, lambda c: bool(_BOLD.match(c.strip()))) and "**" not in value:
        value = f"**{value}**"
    return value


def _formatted(field: str, value: str, facts: dict[str, str | None], plain: list[str], header: str) -> str:
    if field == "context" and value.isdigit():
        n = int(value)
        k = next((m.group(1) for m in map(_K_CONTEXT.match, plain) if m), None)
        if k:
            return f"{n / 1024:.0f}{k}" if n % 1024 == 0 or n >= 10240 else f"{n / 1024:.1f}{k}"
        if _mostly(plain, lambda c: bool(_COMMA_NUMBER.match(c))):
            return f"{n:,}"
        return value
    if field == "speed":
        if plain and not any(re.search(r"[a-z]/s|tok", c, re.I) for c in plain) \
                and _mostly(plain, lambda c: bool(re.fullmatch(r"~?\d+(?:\.\d+)?", c))):
            return value.replace(" t/s", "")
        unit = next((m.group(0) for m in (re.search(r"tok/s|tokens/s|tps", c) for c in plain) if m), None)
        return value.replace("t/s", unit) if unit else value
    if field in ("humaneval", "humaneval_plus", "reference") and value.endswith("%"):
        number = float(value[:-1])
        if _mostly(plain, lambda c: bool(re.fullmatch(r"0?\.\d+", c))):
            return f"{number / 100:.3f}"
        if _mostly(plain, lambda c: bool(re.fullmatch(r"\d+(?:\.\d+)?", c))):
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
    if field == "strategy" and _mostly(plain, lambda c: c.lower().startswith("strategy ")):
        return f"Strategy {value}"
    if field == "model":
        if plain and not any("(" in c for c in plain):  # "GPT-OSS 120B (Q4_K_M)" where they write "GPT-OSS 120B"
            value = re.sub(r"\s*\([^)]*\)", "", value).strip() or value
        quant = facts.get("quant")
        if quant and quant.lower() not in value.lower() and _mostly(plain, lambda c: bool(_QUANT_IN_TEXT.search(c))):
            if _mostly(plain, lambda c: bool(re.search(r"\(" + _QUANT_IN_TEXT.pattern + r"\)", c, re.I))):
                return f"{value} ({quant})"
            return f"{value} {quant}"
        return value
    if field == "arch" and value in ("MoE", "Dense") and _mostly(plain, lambda c: bool(_ARCH_SIZE.match(c))):
        size = "/".join(x for x in (facts.get("params"), facts.get("active") if value == "MoE" else None) if x)
        return f"{value} {size or TBD}"
    if field == "params" and _mostly(plain, lambda c: bool(re.search(r"\d\s*(GB|GiB|MB|MiB)\b", c))):
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
    mib = _mostly(plain, lambda c: "MiB" in c or "MB" in c)
    unit = "MiB" if mib else next((m.group(1) for m in (re.search(r"\d\s*(GiB|GB)\b", c) for c in plain) if m), "GB")
    whole = _mostly(plain, lambda c: bool(re.search(r"\d\s*G", c)) and not re.search(r"\d\.\d+\s*G", c))
    fmt = (lambda gb: f"{gb * 1024:.0f} {unit}") if mib else (lambda gb: f"{gb:.{0 if whole else 1}f} {unit}")
    device = device_of(header) if header else None
    if device:
        index = re.sub(r"\D", "", device)
        for dev, gb in parts:
            if index and re.sub(r"\D", "", dev) == index:
                return fmt(gb)
        return TBD
    if len(parts) > 1 and not _mostly(plain, lambda c: "+" in c or "/" in c):
        return fmt(sum(gb for _d, gb in parts))
    if len(parts) == 1:
        return fmt(parts[0][1])
    return " + ".join(fmt(gb) for _d, gb in parts)


# -- one entry per kind of place -------------------------------------------------------------------------
# A place (``phases.repo_map.Place``) gives: kind ("table", "tree", "list", "sections"), its 1-based
# ``line``..``end_line``, for a table its ``columns`` and their ``fields``, and ``entries``: the 1-based
# line and profile id of each row, tree line, item or section heading that names a production profile.
def render_entry(place, facts: dict[str, str | None], doc_text: str) -> list[str]:
    """The lines (without line endings) that enter the model in ``place``, in the style of its entries."""
    return add_entry(place, facts, doc_text)[1]


def add_entry(place, facts: dict[str, str | None], doc_text: str) -> tuple[str, list[str], int]:
    """``(new_text, added_lines, at)``: ``doc_text`` with the model's entry added to ``place``.

    Every other byte stays as it was (line endings of the neighbours, a missing final newline).
    A place with no entry to copy the style from raises ValueError naming what is missing."""
    doc = md.parse(doc_text)
    kind = place.kind
    if kind == "table":
        table = table_at(place, doc)
        if is_transposed(table):
            return _add_column(doc, table, facts)
        cells = table_cells(place, facts, table)
        new_text = md.add_table_row(doc_text, table, cells)
        at = (table.rows[-1].line if table.rows else table.separator_line) + 1
        return new_text, [md.split_lines(new_text)[at].rstrip("\r\n")], at
    if kind == "tree":
        lines, at = _tree_entry(place, facts, doc)
    elif kind == "list":
        return _list_entry(place, facts, doc, doc_text)
    elif kind == "sections":
        lines, at = _section_entry(place, facts, doc)
    else:
        raise ValueError(f"no entry can be added to a place of kind {kind!r}")
    return md.insert_lines(doc_text, at, lines), lines, at


def _span(place) -> tuple[int, int]:
    """The place's first and last line as 0-based indexes."""
    return place.line - 1, (place.end_line or place.line) - 1


def _entry_lines(place) -> list[int]:
    return sorted(line - 1 for line, _pid in place.entries)


# tables ----------------------------------------------------------------------------------------------------
def table_at(place, doc):  # -> store.markdown_doc.Table
    """The parsed table a table place stands for."""
    first, last = _span(place)
    for table in doc.tables:
        if first <= table.header_line <= last or table.first_line <= first <= table.last_line:
            return table
    raise ValueError(f"no table at line {place.line}")


def table_cells(place, facts: dict[str, str | None], table) -> list[str]:
    """One cell per column, each in the style of that column's cells above."""
    fields = list(getattr(place, "fields", None) or [])
    if len(fields) != len(table.header):
        fields = [field_for_header(h) for h in table.header]
    cells = []
    for col, (header, field) in enumerate(zip(table.header, fields)):
        neighbours = [row.cells[col] for row in table.rows if col < len(row.cells)]
        cells.append(style_value(field, facts, neighbours, header))
    return cells


def is_transposed(table) -> bool:
    """A table with one row per setting and one column per model (``| Setting | GLM | Qwen |``)."""
    if len(table.header) < 2 or not table.rows:
        return False
    first = field_for_header(table.header[0])
    if first not in (None, "description", "notes"):
        return False
    settings = [field_for_header(row.cells[0]) if row.cells else None for row in table.rows]
    known = [f for f in settings if f in (*SAMPLER_FLAGS, "system_prompt", "thinking", "context", "speed")]
    return len(known) * 2 > len(settings)


def _add_column(doc, table, facts: dict[str, str | None]) -> tuple[str, list[str], int]:
    """Add the model as a column of a settings-by-model table: one cell at the end of every line."""
    lines = list(doc.lines)
    others = [row.cells[1:] for row in table.rows]
    name = facts.get("model") or facts.get("profile") or TBD
    cells = {table.header_line: name, table.separator_line: None}
    for row, rest in zip(table.rows, others):
        cells[row.line] = style_value(field_for_header(row.cells[0]) if row.cells else None, facts, list(rest))
    changed = []
    for index, cell in cells.items():
        raw = lines[index]
        content = raw.rstrip("\r\n")
        ending = raw[len(content):]
        body = content.rstrip()
        trail = body.endswith("|") and not body.endswith("\\|")
        if cell is None:
            last_seg = body.rstrip("|").split("|")[-1].strip() or "---"
            dash = ":" if last_seg.startswith(":") else ""
            cell_text = dash + "-" * max(3, len(name) + 2 - len(dash))
            new = body + (cell_text + "|" if trail else "|" + cell_text)
        else:
            text = md.escape_cell(cell)
            new = body + (f" {text} |" if trail else f" | {text}")
        lines[index] = new + ending
        changed.append(new)
    return "".join(lines), changed, table.header_line


# trees -----------------------------------------------------------------------------------------------------
_TREE_LINE = re.compile(r"^(?P<indent>[│|\s]*?)(?P<conn>(?:[├└]──|[├└]─|\|--|`--|\+--)\s*)?"
                        r"(?P<name>[^\s#│├└|`+][^#]*?)(?P<gap>\s*)(?P<comment>#.*)?$")


def _tree_parts(line: str) -> dict[str, str]:
    m = _TREE_LINE.match(line.rstrip("\r\n"))
    return m.groupdict(default="") if m else {"indent": "", "conn": "", "name": line.strip(), "gap": "", "comment": ""}


def _tree_entry(place, facts: dict[str, str | None], doc) -> tuple[list[str], int]:
    """A model-folder line (and its quant folder when the siblings show theirs) for a fenced tree.

    The sibling folders are the place's model-folder lines; ours copies the last one's indentation,
    branch drawing, trailing slash, ``Model/Quant/`` form and aligned ``#`` comment. It goes in name
    order when the siblings are in name order, else just before the last sibling: after a ``└──``
    line a new line would need that line redrawn, and onboard never rewrites another model's line."""
    first, last = _span(place)
    text = lambda i: doc.lines[i].rstrip("\r\n")  # noqa: E731
    folders = _folder_lines(place)
    if not folders:
        raise ValueError(f"the tree at line {place.line} lists no model folder to copy the style from")
    folder, quant = _folder_and_quant(facts)
    existing, shown = _shown(doc, place, folder, quant)
    if shown:
        raise ValueError(f"the tree at line {place.line} already shows {folder}/")
    if existing is not None:  # another quant of a model already there: its quant folder, under it
        return _quant_child(doc, existing, quant, facts, last)
    template = _tree_parts(text(folders[-1]))
    conn = template["conn"].replace("└", "├").replace("`--", "|--").replace("\\--", "+--")
    name = template["name"]
    if "/" in name.rstrip("/"):  # "gpt-oss-120b/Q4_K_M/": folder and quant on one line
        entry = f"{folder}/{quant or TBD}" + ("/" if name.endswith("/") else "")
    else:
        entry = folder + ("/" if name.endswith("/") else "")
    line = _with_comment(template["indent"] + conn + entry, [text(i) for i in folders], facts.get("model"))
    lines = [line]
    kids = [_children(doc, i, last) for i in folders]
    if quant and "/" not in name.rstrip("/") and any(kids):
        bar = "|" if template["conn"].startswith(("|", "`", "+")) else "│"
        child_indent = template["indent"] + (bar + " " * (len(conn) - 1) if conn else "  ")
        child_conn = conn.replace("├", "└").replace("|--", "`--")
        child = child_indent + child_conn + quant + ("/" if any(_tree_parts(text(k[0]))["name"].endswith("/")
                                                               for k in kids if k) else "")
        lines.append(_with_comment(child, [text(k[0]) for k in kids if k], _file_name(facts)))
    return lines, _tree_position(doc, folders, entry, last)


def _tree_position(doc, siblings: list[int], entry: str, last: int) -> int:
    """Where a new sibling line goes: in name order if the siblings are, else before a closing
    ``└──`` sibling (never after it), else after the last sibling and its sub-folders."""
    names = [_tree_parts(doc.lines[i].rstrip("\r\n"))["name"].casefold() for i in siblings]
    if names == sorted(names):
        at = next((i for i, n in zip(siblings, names) if n > entry.casefold()), None)
        if at is not None:
            return at
    final = siblings[-1]
    if _tree_parts(doc.lines[final].rstrip("\r\n"))["conn"].startswith(("└", "`", "\\")):
        return final
    return final + 1 + len(_children(doc, final, last))


def _quant_child(doc, folder_line: int, quant: str | None, facts: dict[str, str | None],
                 last: int) -> tuple[list[str], int]:
    """A quant folder line under a model folder the tree already shows with other quants."""
    below = _children(doc, folder_line, last)
    depth = lambda k: len(_tree_parts(doc.lines[k].rstrip("\r\n"))["indent"])  # noqa: E731
    kids = [k for k in below if depth(k) == depth(below[0])]
    template = _tree_parts(doc.lines[kids[-1]].rstrip("\r\n"))
    conn = template["conn"].replace("└", "├").replace("`--", "|--").replace("\\--", "+--")
    entry = (quant or TBD) + ("/" if template["name"].endswith("/") else "")
    line = _with_comment(template["indent"] + conn + entry, [doc.lines[k].rstrip("\r\n") for k in kids],
                         _file_name(facts))
    return [line], _tree_position(doc, kids, entry, last)


def _file_name(facts: dict[str, str | None]) -> str | None:
    return re.split(r"[\\/]", facts.get("file") or "")[-1] or None


def _folder_lines(place) -> list[int]:
    """0-based lines of the tree's model folders (the map's items, else the lines naming profiles)."""
    first, last = _span(place)
    return sorted(line - 1 for line, _name in getattr(place, "items", ()) or ()) or \
        [i for i in _entry_lines(place) if first <= i <= last]


def _folder_and_quant(facts: dict[str, str | None]) -> tuple[str, str | None]:
    folder = model_folder(facts.get("file") or "") or facts.get("model") or facts.get("profile") or TBD
    return folder, facts.get("quant")


def _shown(doc, place, folder: str, quant: str | None) -> tuple[int | None, bool]:
    """(the line of the model's folder or None, whether the tree shows the model as fully as the others:
    its folder, and its quant folder where the tree shows quant folders)."""
    _first, last = _span(place)
    folders = _folder_lines(place)
    any_kids = any(_children(doc, i, last) for i in folders)
    existing = None
    for i in folders:
        parts = _tree_parts(doc.lines[i].rstrip("\r\n"))["name"].strip("/").split("/")
        if normalize(parts[0]) != normalize(folder):
            continue
        if len(parts) > 1:  # "Model/Quant/" on one line: shown only with this quant
            if quant is None or normalize(parts[1]) == normalize(quant):
                return i, True
            continue
        existing = i
        kids = [_tree_parts(doc.lines[k].rstrip("\r\n"))["name"].strip("/") for k in _children(doc, i, last)]
        if quant is None or not any_kids or any(normalize(k) == normalize(quant) for k in kids):
            return i, True
    return existing, False


def tree_shows(place, facts: dict[str, str | None], doc_text: str) -> bool:
    """Does the tree already show the model (folder, and quant folder where the tree shows those)?"""
    folder, quant = _folder_and_quant(facts)
    return _shown(md.parse(doc_text), place, folder, quant)[1]


def _with_comment(line: str, siblings: list[str], note: str | None) -> str:
    """``line`` with a ``# note`` aligned like the siblings' comments (when most of them have one)."""
    commented = [s for s in siblings if _tree_parts(s)["comment"]]
    if not note or not commented or len(commented) * 2 < len(siblings):
        return line
    column = commented[-1].index("#", len(_tree_parts(commented[-1])["indent"]))
    return line.ljust(column) + "# " + note if len(line) < column else line + "  # " + note


def _children(doc, i: int, last: int) -> list[int]:
    depth = len(_tree_parts(doc.lines[i].rstrip("\r\n"))["indent"])
    out = []
    for k in range(i + 1, last + 1):
        raw = doc.lines[k].rstrip("\r\n")
        if not raw.strip() or raw.strip().startswith("```"):
            break
        if len(_tree_parts(raw)["indent"]) <= depth:
            break
        out.append(k)
    return out


# lists -----------------------------------------------------------------------------------------------------
_CHECKBOX = re.compile(r"^\[([ xX])\]\s+")
_MARKS = {"tested": "✅", "untested": "⚠️"}
_LEAD_MARK = re.compile(r"^(✅|⚠️|❌|🔄|🚧|⏳|✔️|✓)\s*")
_TRAIL_MARK = re.compile(r"\s*(✅|⚠️|❌|🔄|🚧|⏳|✔️|✓)$")
_NAME = re.compile(r"^(\*\*.+?\*\*|`[^`]+`|[^—–:(]+?)(\s*\(`([^`]+)`\))?(\s+(?:—|–|--|-)\s+|:\s+)")
_SPEED_IN = re.compile(r"~?\d+(?:\.\d+)?\s*(?:t/s|tok/s|tokens/s)")
_CONTEXT_IN = re.compile(r"\d+(?:\.\d+)?\s*[Kk]\b|\d{1,3}(?:,\d{3})+|\d{4,}")


def _list_entry(place, facts: dict[str, str | None], doc, doc_text: str) -> tuple[str, list[str], int]:
    entries = _entry_lines(place)
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
    plain = _plain_cell(written)
    if _QUANT_IN_TEXT.search(plain) and facts.get("quant") and facts["quant"].lower() not in model.lower():
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


# sections --------------------------------------------------------------------------------------------------
_BLOCK_START = re.compile(r"<!--\s*BEGIN (GENERATED|onboard):")
_NOT_SPECIFIED = re.compile(r"^[—–-]?\s*\(?not specified\)?$|^[—–-]\s*\(not specified\)$", re.I)


def _section_entry(place, facts: dict[str, str | None], doc) -> tuple[list[str], int]:
    """A per-model section shaped like the last one: its heading level, a settings table or bullets,
    a source line, notes, the server defaults line, the system prompt in a code block."""
    entries = _entry_lines(place)
    headings = [h for h in doc.headings if h.line in entries]
    if not headings:
        raise ValueError(f"no per-model section at line {place.line} to copy the shape from")
    last = headings[-1]
    section = next(s for s in doc.sections(last.level) if s.first_line == last.line)
    end = section.last_line
    for i in range(section.first_line + 1, section.last_line + 1):
        if _BLOCK_START.search(doc.line_text(i)):  # a marked block after it (the samplers phase's) is not its
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
    settings = [row for row in table_rows[2:] if field_for_header(_cells(row)[0]) in SAMPLER_FLAGS]
    missing = next((cell.strip() for row in settings for cell in _cells(row)[1:]
                    if _NOT_SPECIFIED.match(cell.strip())), TBD)
    labels = [_cells(row)[0] for row in settings]
    known = {field_for_header(label) for label in labels}
    labels += [field for field in SAMPLER_FLAGS if field not in known and facts.get(field) is not None]
    labelled = [m for m in map(_LABELLED.match, sibling) if m and (m.group(3) or m.group(4))]
    if settings:
        header = _cells(table_rows[0])
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


def _cells(row: str) -> list[str]:
    body = row.strip()
    if body.startswith("|"):
        body = body[1:]
    if body.endswith("|") and not body.endswith("\\|"):
        body = body[:-1]
    return [c.strip() for c in re.split(r"(?<!\\)\|", body)] or [""]
