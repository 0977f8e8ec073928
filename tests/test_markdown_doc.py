"""store/markdown_doc.py on tricky Markdown: what a renderer sees as a table, fence or list, at which
lines, and edits that add a row, item or line while every other byte of the file stays as it was."""
from __future__ import annotations

import pytest

from onboard.store import markdown_doc as md

TRICKY = (
    "# Models\n"                                  # 0
    "\n"                                          # 1
    "Name | Speed\n"                              # 2  table without outer pipes
    ":--- | ---:\n"                               # 3  alignment row
    "Qwen3 32B | 27.3\n"                          # 4
    "a\\|b | 1\n"                                 # 5  escaped pipe in a cell
    "\n"                                          # 6
    "```text\n"                                   # 7  fenced code holding pipes: not a table
    "| not | a table |\n"                        # 8
    "|-----|---------|\n"                        # 9
    "```\n"                                       # 10
    "\n"                                          # 11
    "## Nested\n"                                 # 12
    "\n"                                          # 13
    "- first item\n"                              # 14
    "\n"                                          # 15
    "  | h1 | h2 |\n"                             # 16 table inside a list item
    "  |----|----|\n"                             # 17
    "  | x  | y  |\n"                             # 18
    "- second item\n"                             # 19
    "  continued\n"                               # 20
    "\n"                                          # 21
    "### Deeper\n"                                # 22
    "\n"                                          # 23
    "1. one\n"                                    # 24
    "2. two\n"                                    # 25
)


def test_tables_fences_lists_and_headings_with_their_lines():
    doc = md.parse(TRICKY)
    assert [(h.level, h.text, h.line) for h in doc.headings] == [(1, "Models", 0), (2, "Nested", 12),
                                                                   (3, "Deeper", 22)]
    assert len(doc.tables) == 2  # the pipes inside the fence are not a table
    bare, nested = doc.tables
    assert bare.header == ("Name", "Speed") and (bare.header_line, bare.separator_line) == (2, 3)
    assert [(r.line, r.cells) for r in bare.rows] == [(4, ("Qwen3 32B", "27.3")), (5, ("a|b", "1"))]
    assert bare.aligns == ("left", "right") and bare.last_line == 5 and bare.headings == ("Models",)
    assert nested.header == ("h1", "h2") and nested.first_line == 16 and nested.rows[0].line == 18
    assert nested.headings == ("Models", "Nested")
    (fence,) = doc.fences
    assert (fence.info, fence.first_line, fence.last_line, fence.closed) == ("text", 7, 10, True)
    assert fence.body == ("| not | a table |", "|-----|---------|")
    bullets, numbers = doc.lists
    assert not bullets.ordered and bullets.marker == "-"
    assert [(i.line, i.last_line, i.text) for i in bullets.items] == [(14, 18, "first item"),
                                                                       (19, 20, "second item")]
    assert numbers.ordered and [i.line for i in numbers.items] == [24, 25]
    assert numbers.headings == ("Models", "Nested", "Deeper")


def test_sections_run_to_the_next_heading_of_the_same_or_higher_level():
    doc = md.parse(TRICKY)
    assert [(s.heading.text, s.first_line, s.last_line) for s in doc.sections(2)] == [("Nested", 12, 25)]
    assert [(s.heading.text, s.first_line, s.last_line) for s in doc.sections(1)] == [("Models", 0, 25)]


def test_crlf_lines_keep_their_endings_and_parse_the_same():
    crlf = TRICKY.replace("\n", "\r\n")
    doc = md.parse(crlf)
    assert "".join(doc.lines) == crlf and doc.lines[2] == "Name | Speed\r\n"
    assert [(t.header, t.first_line) for t in doc.tables] == [(t.header, t.first_line) for t in md.parse(TRICKY).tables]


def _only_inserted(old: str, new: str, at: int, inserted: list[str]) -> None:
    """``new`` is ``old`` with exactly these lines inserted before line index ``at`` (bytes compared)."""
    old_lines, new_lines = md.split_lines(old), md.split_lines(new)
    assert new_lines[:at] == old_lines[:at]
    assert [line.rstrip("\r\n") for line in new_lines[at:at + len(inserted)]] == inserted
    assert new_lines[at + len(inserted):] == old_lines[at:]
    assert new.encode() == ("".join(old_lines[:at]) + "".join(new_lines[at:at + len(inserted)])
                            + "".join(old_lines[at:])).encode()


def test_add_row_to_a_padded_pipe_table_keeps_widths_alignment_and_crlf():
    text = ("# T\r\n\r\n| Model     | Speed |\r\n|:----------|------:|\r\n| Qwen3 32B |  27.3 |\r\n"
            "| GLM-4.5   |  14.8 |\r\n\r\nafter\r\n")
    doc = md.parse(text)
    new = md.add_table_row(text, doc.tables[0], ["GPT-OSS", "24.5"])
    _only_inserted(text, new, 6, ["| GPT-OSS   |  24.5 |"])
    assert new.count("\r\n") == text.count("\r\n") + 1 and "\n" not in new.replace("\r\n", "")


def test_add_row_to_a_table_without_outer_pipes_and_escape_pipes():
    doc = md.parse(TRICKY)
    new = md.add_table_row(TRICKY, doc.tables[0], ["x|y", "3"])
    _only_inserted(TRICKY, new, 6, ["x\\|y | 3"])
    assert md.parse(new).tables[0].rows[-1].cells == ("x|y", "3")


def test_add_row_inside_a_list_item_keeps_the_indent():
    doc = md.parse(TRICKY)
    new = md.add_table_row(TRICKY, doc.tables[1], ["p", "q"])
    _only_inserted(TRICKY, new, 19, ["  | p  | q  |"])
    again = md.parse(new)
    assert again.tables[1].rows[-1].cells == ("p", "q") and len(again.lists[0].items) == 2


def test_add_row_refuses_more_cells_than_columns_and_line_breaks():
    doc = md.parse(TRICKY)
    with pytest.raises(ValueError):
        md.add_table_row(TRICKY, doc.tables[0], ["a", "b", "c"])
    with pytest.raises(ValueError):
        md.add_table_row(TRICKY, doc.tables[0], ["a\nb"])


def test_add_row_after_a_last_line_without_newline():
    text = "| a | b |\n|---|---|\n| 1 | 2 |"
    new = md.add_table_row(text, md.parse(text).tables[0], ["3", "4"])
    assert new == "| a | b |\n|---|---|\n| 1 | 2 |\n| 3 | 4 |"


def test_add_list_item_same_bullet_or_next_number_after_continuations():
    doc = md.parse(TRICKY)
    new = md.add_list_item(TRICKY, doc.lists[0], "third item")
    _only_inserted(TRICKY, new, 21, ["- third item"])
    new = md.add_list_item(TRICKY, doc.lists[1], "three")
    _only_inserted(TRICKY, new, 26, ["3. three"])
    star = "* a\n* b\n\ntext\n"
    assert md.add_list_item(star, md.parse(star).lists[0], "c") == "* a\n* b\n* c\n\ntext\n"


def test_insert_lines_uses_the_neighbours_line_ending():
    text = "a\r\nb\r\n"
    assert md.insert_lines(text, 1, ["x", "y"]) == "a\r\nx\r\ny\r\nb\r\n"
    assert md.insert_lines(text, 2, ["z"]) == "a\r\nb\r\nz\r\n"


def test_blocks_are_found_by_their_first_line():
    doc = md.parse(TRICKY)
    assert doc.table_at(2) is doc.tables[0] and doc.table_at(16) is doc.tables[1] and doc.table_at(3) is None
    assert doc.fence_at(7) is doc.fences[0] and doc.list_at(24) is doc.lists[1]


def test_front_matter_is_no_heading_and_lines_keep_their_numbers():
    text = "---\nname: benchmark\ndescription: runs it\n---\n\n## Checklist\n\n| a | b |\n|---|---|\n| 1 | 2 |\n"
    doc = md.parse(text)
    assert [(h.level, h.text, h.line) for h in doc.headings] == [(2, "Checklist", 5)]
    assert doc.tables[0].first_line == 7 and "".join(doc.lines) == text


def test_add_row_to_a_table_without_body_rows_goes_below_the_separator():
    text = "## Target Models\n\n| Model | Speed |\n|-------|-------|\n\nprose\n"
    new = md.add_table_row(text, md.parse(text).tables[0], ["Qwen3 32B", "27.3 t/s"])
    assert new == "## Target Models\n\n| Model | Speed |\n|-------|-------|\n| Qwen3 32B | 27.3 t/s |\n\nprose\n"
