"""A person's Markdown file as structure with line numbers, and edits that change nothing else.

Why a real parser: a hand-written README holds tables without outer pipes, tables inside list items,
fenced code whose lines hold ``|``, escaped pipes in cells. Guessing with regular expressions would
take a code listing for a table or miss a table in a list; CommonMark + GFM tables (markdown-it-py)
decide exactly what a renderer shows. Its token maps give each block's lines; the text itself is kept
as the file's own lines, endings included, so an edit inserts lines and leaves every other byte alone
(a CRLF file stays CRLF, a missing final newline stays missing except where a line is added after it).

All line numbers in this module are 0-based indexes into :attr:`MarkdownDoc.lines` (add 1 for a
message to a person). Edits take the file's text and return the new full text.
"""
from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

_LINE_RE = re.compile(r"[^\r\n]*(?:\r\n|\r|\n)|[^\r\n]+$")
_ROW_PREFIX_RE = re.compile(r"^((?:[ \t]*>)*[ \t]*(?:(?:[-+*]|\d{1,9}[.)])[ \t]+)?)")
_BULLET_RE = re.compile(r"^((?:[ \t]*>)*[ \t]*)([-+*]|\d{1,9}[.)])([ \t]+)")


@dataclass(frozen=True)
class Heading:
    level: int
    text: str  # inline text as written (markup kept), without the # marks
    line: int


@dataclass(frozen=True)
class TableRow:
    line: int
    cells: tuple[str, ...]  # as a renderer reads them: stripped, ``\\|`` unescaped, markup kept


@dataclass(frozen=True)
class Table:
    header: tuple[str, ...]
    header_line: int
    separator_line: int
    rows: tuple[TableRow, ...]
    aligns: tuple[str | None, ...]  # per column: "left", "right", "center" or None
    headings: tuple[str, ...]  # the heading path above it, outermost first
    first_line: int
    last_line: int


@dataclass(frozen=True)
class Fence:
    info: str
    first_line: int  # the opening ``` line
    last_line: int  # the closing line (the last line of the file when the fence is never closed)
    body: tuple[str, ...]  # the lines between, without endings
    closed: bool
    headings: tuple[str, ...]

    @property
    def body_start(self) -> int:
        return self.first_line + 1


@dataclass(frozen=True)
class ListItem:
    line: int
    last_line: int  # its last non-blank line (continuation lines and nested blocks included)
    text: str  # the item's first paragraph, as written


@dataclass(frozen=True)
class ListBlock:
    ordered: bool
    marker: str  # "-", "*", "+", "." or ")"
    items: tuple[ListItem, ...]
    depth: int  # 0 for a top-level list, 1 for a list inside a list item, ...
    headings: tuple[str, ...]
    first_line: int
    last_line: int


@dataclass(frozen=True)
class Section:
    heading: Heading
    first_line: int  # the heading's line
    last_line: int  # the line before the next heading of the same or higher level (or the last line)


@dataclass(frozen=True)
class MarkdownDoc:
    lines: tuple[str, ...]  # the file's lines, each with its own ending
    headings: tuple[Heading, ...]
    tables: tuple[Table, ...]
    fences: tuple[Fence, ...]
    lists: tuple[ListBlock, ...]

    def line_text(self, index: int) -> str:
        """A line without its ending."""
        return self.lines[index].rstrip("\r\n")

    def sections(self, level: int) -> list[Section]:
        """Each heading of ``level`` with its lines up to the next heading of the same or higher level."""
        out = []
        for i, heading in enumerate(self.headings):
            if heading.level != level:
                continue
            end = len(self.lines) - 1
            for later in self.headings[i + 1:]:
                if later.level <= level:
                    end = later.line - 1
                    break
            out.append(Section(heading, heading.line, end))
        return out

    def table_at(self, line: int) -> Table | None:
        """The table whose header is on line ``line`` (0-based; a Place's 1-based ``line`` minus 1)."""
        return next((t for t in self.tables if t.first_line == line), None)

    def fence_at(self, line: int) -> Fence | None:
        """The fenced block opened on line ``line``."""
        return next((f for f in self.fences if f.first_line == line), None)

    def list_at(self, line: int) -> ListBlock | None:
        """The list whose first item is on line ``line``."""
        return next((lst for lst in self.lists if lst.first_line == line), None)

    def heading_path(self, line: int) -> tuple[str, ...]:
        """The headings a line sits under, outermost first."""
        path: list[Heading] = []
        for heading in self.headings:
            if heading.line > line:
                break
            while path and path[-1].level >= heading.level:
                path.pop()
            path.append(heading)
        return tuple(h.text for h in path)


def split_lines(text: str) -> list[str]:
    """The text's lines, each with its own ending (``\\r\\n``, ``\\r`` or ``\\n``)."""
    return _LINE_RE.findall(text)


def _parser():
    from markdown_it import MarkdownIt

    return MarkdownIt("commonmark").enable("table")


def parse(text: str) -> MarkdownDoc:
    """Parse a Markdown text into headings, tables, fences and lists with 0-based line numbers."""
    lines = tuple(split_lines(text))
    tokens = _parser().parse(_without_front_matter(lines))
    headings: list[Heading] = []
    for i, tok in enumerate(tokens):
        if tok.type == "heading_open" and tok.map:
            headings.append(Heading(int(tok.tag[1:]), tokens[i + 1].content.strip(), tok.map[0]))
    doc = MarkdownDoc(lines, tuple(headings), (), (), ())
    tables: list[Table] = []
    fences: list[Fence] = []
    lists: list[ListBlock] = []
    list_stack: list[tuple[object, list[ListItem]]] = []
    i = 0
    while i < len(tokens):
        tok = tokens[i]
        if tok.type == "table_open" and tok.map:
            i, table = _read_table(tokens, i, doc)
            tables.append(table)
            continue
        if tok.type == "fence" and tok.map:
            first, end = tok.map
            last = end - 1
            closing = _line_content(lines[last]) if last > first else ""
            closed = last > first and closing.strip().startswith(tok.markup[0] * len(tok.markup)) \
                and closing.strip().strip(tok.markup[0]) == ""
            body_end = last if closed else end
            body = tuple(_line_content(lines[k]) for k in range(first + 1, min(body_end, len(lines))))
            fences.append(Fence(tok.info.strip(), first, min(last, len(lines) - 1), body, closed,
                                doc.heading_path(first)))
        elif tok.type in ("bullet_list_open", "ordered_list_open") and tok.map:
            list_stack.append((tok, []))
        elif tok.type == "list_item_open" and tok.map and list_stack:
            first, end = tok.map
            text = ""
            for nxt in tokens[i + 1:]:
                if nxt.type == "inline":
                    text = nxt.content.split("\n", 1)[0].strip()
                    break
                if nxt.type in ("list_item_close", "bullet_list_open", "ordered_list_open"):
                    break
            list_stack[-1][1].append(ListItem(first, _last_nonblank(lines, first, end), text))
        elif tok.type in ("bullet_list_close", "ordered_list_close") and list_stack:
            opener, items = list_stack.pop()
            if items:
                lists.append(ListBlock(opener.type == "ordered_list_open", opener.markup, tuple(items),
                                       len(list_stack), doc.heading_path(opener.map[0]), opener.map[0],
                                       items[-1].last_line))
        i += 1
    lists.sort(key=lambda lst: lst.first_line)
    return MarkdownDoc(lines, tuple(headings), tuple(tables), tuple(fences), tuple(lists))


def _without_front_matter(lines: Sequence[str]) -> str:
    """The text with a leading YAML front matter block (``---`` ... ``---``, as in agent files) blanked,
    line for line: a renderer hides it, and CommonMark alone would read it as a heading."""
    if not lines or _line_content(lines[0]).strip() != "---":
        return "".join(lines)
    for end in range(1, len(lines)):
        if _line_content(lines[end]).strip() in ("---", "..."):
            return "\n" * (end + 1) + "".join(lines[end + 1:])
    return "".join(lines)


def _line_content(line: str) -> str:
    return line.rstrip("\r\n")


def _last_nonblank(lines: Sequence[str], first: int, end: int) -> int:
    last = min(end, len(lines)) - 1
    while last > first and not lines[last].strip():
        last -= 1
    return last


def _read_table(tokens, i: int, doc: MarkdownDoc) -> tuple[int, Table]:
    """Read one table's tokens from ``table_open``; returns the index after ``table_close``."""
    first, end = tokens[i].map
    header: list[str] = []
    rows: list[TableRow] = []
    current: list[str] | None = None
    row_line = first
    in_head = False
    aligns: list[str | None] = []
    i += 1
    while tokens[i].type != "table_close":
        tok = tokens[i]
        if tok.type == "thead_open":
            in_head = True
        elif tok.type == "thead_close":
            in_head = False
        elif tok.type == "tr_open":
            current, row_line = [], tok.map[0]
        elif tok.type in ("th_open", "td_open"):
            if in_head:
                style = (tok.attrGet("style") or "")
                aligns.append(style.split(":", 1)[1].strip() if "text-align" in style else None)
        elif tok.type == "inline" and current is not None:
            current.append(tok.content.strip())
        elif tok.type == "tr_close" and current is not None:
            if in_head:
                header = current
            else:
                rows.append(TableRow(row_line, tuple(current)))
            current = None
        i += 1
    last = rows[-1].line if rows else first + 1
    table = Table(tuple(header), first, first + 1, tuple(rows), tuple(aligns), doc.heading_path(first),
                  first, min(last, end - 1))
    return i + 1, table


# -- edits ---------------------------------------------------------------------------------------------
def _newline(lines: Sequence[str], near: int) -> str:
    """The line ending to use next to line ``near``: its own, else the file's first one, else ``\\n``."""
    for index in [near, *range(len(lines))]:
        if 0 <= index < len(lines):
            ending = lines[index][len(lines[index].rstrip("\r\n")):]
            if ending:
                return ending
    return "\n"


def insert_lines(text: str, at_line: int, new_lines: Sequence[str]) -> str:
    """Insert ``new_lines`` (without endings) before line index ``at_line`` (``len(lines)``: at the end).

    The new lines take the ending of the line they follow (CRLF stays CRLF); a last line without an
    ending gets one only when lines are added after it."""
    lines = split_lines(text)
    if not 0 <= at_line <= len(lines):
        raise ValueError(f"line index {at_line} outside 0..{len(lines)}")
    if not new_lines:
        return text
    for line in new_lines:
        if "\n" in line or "\r" in line:
            raise ValueError("a line to insert holds a line break")
    eol = _newline(lines, at_line - 1 if at_line else 0)
    if at_line == len(lines) and lines and not lines[-1].endswith(("\n", "\r")):
        lines[-1] += eol
        added = [line + eol for line in new_lines]
        added[-1] = added[-1][: -len(eol)]
    else:
        added = [line + eol for line in new_lines]
    return "".join(lines[:at_line] + added + lines[at_line:])


def escape_cell(value: str) -> str:
    """A value as a table cell's text: pipes escaped, line breaks refused."""
    if "\n" in value or "\r" in value:
        raise ValueError(f"a table cell cannot hold a line break: {value!r}")
    return re.sub(r"(?<!\\)\|", r"\\|", value.strip())


def _segments(row: str) -> tuple[str, list[str], bool, bool]:
    """Split a raw table line into (prefix, cell segments as written, leading pipe, trailing pipe)."""
    content = _line_content(row)
    prefix = _ROW_PREFIX_RE.match(content).group(1)
    body = content[len(prefix):]
    parts: list[str] = []
    cur = ""
    k = 0
    while k < len(body):
        ch = body[k]
        if ch == "\\" and k + 1 < len(body):
            cur += body[k:k + 2]
            k += 2
            continue
        if ch == "|":
            parts.append(cur)
            cur = ""
        else:
            cur += ch
        k += 1
    parts.append(cur)
    lead = body.lstrip().startswith("|")
    trail = body.rstrip().endswith("|") and not body.rstrip().endswith("\\|")
    if lead:
        parts = parts[1:]
    if trail:
        parts = parts[:-1]
    return prefix, parts, lead, trail


def add_table_row(text: str, table: Table, cells: Sequence[str]) -> str:
    """Add a row after the table's last body row, in the style of the rows above.

    Style kept: the lines' indentation (a table in a list or quote), leading and trailing pipes, the
    spaces around each cell and, in a table padded to fixed column widths, the width and alignment.
    Fewer cells than columns are filled with empty cells; more are refused."""
    ncols = len(table.header)
    if len(cells) > ncols:
        raise ValueError(f"{len(cells)} cells for a table of {ncols} columns")
    values = [escape_cell(c) for c in cells] + [""] * (ncols - len(cells))
    lines = split_lines(text)
    last = table.rows[-1].line if table.rows else table.header_line
    prefix, _, lead, trail = _segments(lines[last])
    if not table.rows:  # the header may sit on a list item's line ("- | a |"): continue its indent
        prefix = re.sub(r"[^ \t>]", " ", prefix)
    samples = [_segments(lines[k])[1] for k in [table.header_line, *(r.line for r in table.rows)]]
    out = []
    for col, value in enumerate(values):
        segs = [s[col] for s in samples if col < len(s)]
        if not segs:
            out.append(f" {value} ")
            continue
        ref = segs[-1]
        width = len(ref)
        filled = [seg for seg in segs[1:] if seg.strip()] or [seg for seg in segs if seg.strip()]
        lefts = {len(seg) - len(seg.lstrip(" ")) for seg in filled} or {min(1, width)}
        rights = {len(seg) - len(seg.rstrip(" ")) for seg in filled} or {min(1, max(0, width - 1))}
        if not trail and col == ncols - 1:
            rights = {0}
        padded = len(segs) >= 2 and all(len(seg) == width for seg in segs)
        if padded and len(value) + min(lefts) + min(rights) <= width:
            if len(lefts) == 1:  # the rows above are left-justified
                left = lefts.pop()
                out.append(" " * left + value.ljust(width - left))
            elif len(rights) == 1:  # right-justified
                right = rights.pop()
                out.append(value.rjust(width - right) + " " * right)
            else:
                left, right = min(lefts), min(rights)
                out.append(" " * left + value.center(width - left - right) + " " * right)
        else:
            out.append(" " * min(lefts) + value + " " * min(min(rights), 1))
    row = prefix + ("|" if lead else "") + "|".join(out) + ("|" if trail else "")
    at = (table.rows[-1].line if table.rows else table.separator_line) + 1
    return insert_lines(text, at, [row if trail else row.rstrip()])


def add_list_item(text: str, lst: ListBlock, item_text: str) -> str:
    """Add an item after the list's last item, with its siblings' bullet (or next number) and indent."""
    if "\n" in item_text or "\r" in item_text:
        raise ValueError("a list item to add holds a line break")
    lines = split_lines(text)
    last = lst.items[-1]
    match = _BULLET_RE.match(_line_content(lines[last.line]))
    if not match:
        raise ValueError(f"line {last.line + 1} does not start with a list marker")
    indent, marker, gap = match.groups()
    if lst.ordered:
        number = int(marker[:-1]) + 1
        width = len(marker)
        marker = f"{number}{marker[-1]}"
        gap = gap if len(marker) <= width else " "
    return insert_lines(text, last.last_line + 1, [f"{indent}{marker}{gap}{item_text}"])
