"""A model's line in a fenced folder tree of a person's docs, drawn like its sibling folders.

Why its own module: a tree drawing has rules a table does not (connectors, indentation, a closing
``└──`` that must stay last, quant folders under a model folder, aligned ``#`` comments); the new line
follows them so the drawing stays right, and no other model's line is rewritten.
"""
from __future__ import annotations

import re

from onboard.phases.doc_facts import TBD
from onboard.phases.doc_fields import model_folder, normalize
from onboard.phases.doc_style import entry_lines, place_span
from onboard.store import markdown_doc as md


# -- trees -----------------------------------------------------------------------------------------------------
_TREE_LINE = re.compile(r"^(?P<indent>[│|\s]*?)(?P<conn>(?:[├└]──|[├└]─|\|--|`--|\+--)\s*)?"
                        r"(?P<name>[^\s#│├└|`+][^#]*?)(?P<gap>\s*)(?P<comment>#.*)?$")


def _tree_parts(line: str) -> dict[str, str]:
    m = _TREE_LINE.match(line.rstrip("\r\n"))
    return m.groupdict(default="") if m else {"indent": "", "conn": "", "name": line.strip(), "gap": "", "comment": ""}


def tree_entry(place, facts: dict[str, str | None], doc) -> tuple[list[str], int]:
    """A model-folder line (and its quant folder when the siblings show theirs) for a fenced tree.

    The sibling folders are the place's model-folder lines; ours copies the last one's indentation,
    branch drawing, trailing slash, ``Model/Quant/`` form and aligned ``#`` comment. It goes in name
    order when the siblings are in name order, else just before the last sibling: after a ``└──``
    line a new line would need that line redrawn, and onboard never rewrites another model's line."""
    first, last = place_span(place)
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
    first, last = place_span(place)
    return sorted(line - 1 for line, _name in getattr(place, "items", ()) or ()) or \
        [i for i in entry_lines(place) if first <= i <= last]


def _folder_and_quant(facts: dict[str, str | None]) -> tuple[str, str | None]:
    folder = model_folder(facts.get("file") or "") or facts.get("model") or facts.get("profile") or TBD
    return folder, facts.get("quant")


def _shown(doc, place, folder: str, quant: str | None) -> tuple[int | None, bool]:
    """(the line of the model's folder or None, whether the tree shows the model as fully as the others:
    its folder, and its quant folder where the tree shows quant folders)."""
    _first, last = place_span(place)
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
