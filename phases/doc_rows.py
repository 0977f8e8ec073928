"""The one row, tree line, list item or section that enters a model in a person's docs.

Why its own module: the docs phase must add the new model to tables, listings and sections that a
person wrote by hand, without markers. A row is only welcome there if it looks like the rows above
it: the same columns, the same markup, the same units, the same tree drawing, the same list marks.
The facts come from ``phases.doc_facts`` (``model_facts``), each value's style from
``phases.doc_style``; ``add_entry`` writes the lines for one place and puts them there (after the
place's last entry; in a tree, among the sibling folders so the drawing stays right). Tables are drawn
here; trees, lists and sections by ``phases.doc_trees``, ``phases.doc_lists`` and
``phases.doc_sections``.
"""
from __future__ import annotations

from onboard.phases.doc_facts import SAMPLER_FLAGS, TBD
from onboard.phases.doc_facts import model_facts  # noqa: F401 - still imported from here by tests/test_chat_or_completion.py
from onboard.phases.doc_fields import field_for_header
from onboard.phases.doc_lists import add_list_item
from onboard.phases.doc_sections import section_entry
from onboard.phases.doc_style import place_span, style_value
from onboard.phases.doc_trees import tree_entry
from onboard.store import markdown_doc as md


# -- one entry per kind of place -------------------------------------------------------------------------
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
        lines, at = tree_entry(place, facts, doc)
    elif kind == "list":
        return add_list_item(place, facts, doc, doc_text)
    elif kind == "sections":
        lines, at = section_entry(place, facts, doc)
    else:
        raise ValueError(f"no entry can be added to a place of kind {kind!r}")
    return md.insert_lines(doc_text, at, lines), lines, at


# -- tables -------------------------------------------------------------------------------------------------
def table_at(place, doc):  # -> store.markdown_doc.Table
    """The parsed table a table place stands for."""
    first, last = place_span(place)
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
