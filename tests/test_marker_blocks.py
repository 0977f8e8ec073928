"""store/marker_blocks.py: both spellings of a marked block (``GENERATED`` for the docs' rendered
blocks, ``onboard`` for the journal's) are found, rendered, replaced and blanked by one module, and
every byte around a block stays as the person wrote it."""
from __future__ import annotations

from onboard.store import marker_blocks as mb

PROSE = "# Models\n\nHand-written intro.\n\n"
GENERATED = ("<!-- BEGIN GENERATED: target-models -->\n| a | b |\n|---|---|\n"
             "<!-- END GENERATED: target-models -->\n")
ONBOARD = "<!-- BEGIN onboard: qwen3-8b -->\n## Qwen3-8B\n\ntemp 0.6\n<!-- END onboard: qwen3-8b -->\n"
TEXT = PROSE + GENERATED + "\nMore prose.\n\n" + ONBOARD + "\nTrailing prose.\n"


def test_each_spelling_is_found_by_its_kind_only():
    assert mb.find_block(TEXT, "target-models", mb.GENERATED) == GENERATED
    assert mb.find_block(TEXT, "qwen3-8b") == ONBOARD  # the journal's spelling is the default
    assert mb.find_block(TEXT, "qwen3-8b", mb.GENERATED) is None
    assert mb.find_block(TEXT, "target-models", mb.ONBOARD) is None
    assert mb.has_begin(TEXT, "target-models", mb.GENERATED) and not mb.has_begin(TEXT, "nope", mb.GENERATED)


def test_a_begin_without_its_end_is_no_block_but_still_a_begin():
    text = "x\n<!-- BEGIN onboard: add-model -->\nhalf written\n"
    assert mb.find_block(text, "add-model") is None
    assert mb.has_begin(text, "add-model")


def test_a_block_ending_the_file_without_a_newline_is_found():
    text = "intro\n\n<!-- BEGIN onboard: m -->\nbody\n<!-- END onboard: m -->"
    assert mb.find_block(text, "m") == "<!-- BEGIN onboard: m -->\nbody\n<!-- END onboard: m -->"
    new = mb.replace_block(text, mb.find_block(text, "m"), mb.render_block("m", "other"))
    assert new == "intro\n\n<!-- BEGIN onboard: m -->\nother\n<!-- END onboard: m -->\n"  # replaced, not added twice


def test_rendering_keeps_a_generated_body_as_rendered_and_trims_a_journal_body():
    assert mb.render_block("m", "line\n\n\n") == "<!-- BEGIN onboard: m -->\nline\n<!-- END onboard: m -->\n"
    assert mb.render_block("t", "a\n", mb.GENERATED) == "<!-- BEGIN GENERATED: t -->\na\n\n<!-- END GENERATED: t -->\n"


def test_with_body_changes_only_the_body_and_body_of_names_its_line():
    new = mb.with_body(TEXT, "target-models", "| c |", mb.GENERATED)
    assert new == TEXT.replace("| a | b |\n|---|---|\n", "| c |\n")
    body, line = mb.body_of(new, "target-models", mb.GENERATED)
    assert body == "| c |\n"
    assert line == 6 and new.split("\n")[line - 1] == "| c |"
    assert mb.body_of(TEXT, "absent", mb.GENERATED) is None


def test_replace_appends_replaces_and_removes_with_the_blank_line_it_added():
    block = mb.render_block("m", "body")
    added = mb.replace_block(PROSE.rstrip("\n"), None, block)
    assert added == PROSE + block
    assert mb.replace_block(added, block, None) == PROSE.rstrip("\n") + "\n"
    assert mb.replace_block(added, block, mb.render_block("m", "new")) == PROSE + mb.render_block("m", "new")
    assert mb.replace_block("x\n", None, None) == "x\n"
    assert mb.appended("", block) == block and mb.appended("a", block) == "a\n\n" + block


def test_blanking_keeps_the_line_numbers_and_hides_only_that_kind():
    blanked = mb.blank_blocks(TEXT, mb.GENERATED)
    assert blanked.count("\n") == TEXT.count("\n")
    assert "| a | b |" not in blanked and "## Qwen3-8B" in blanked and "More prose." in blanked
    assert "## Qwen3-8B" not in mb.blank_blocks(TEXT, mb.ONBOARD)


def test_begin_in_reads_either_spelling():
    assert mb.begin_in("<!-- BEGIN GENERATED: sampler-table -->") == ("GENERATED", "sampler-table")
    assert mb.begin_in("text <!--BEGIN onboard: qwen3-8b -->") == ("onboard", "qwen3-8b")
    assert mb.begin_in("<!-- END onboard: qwen3-8b -->") is None


def test_marker_in_reads_both_edges_of_both_spellings_for_a_line_by_line_reader():
    assert mb.marker_in("<!-- BEGIN GENERATED: sampler-table -->") == ("BEGIN", "GENERATED", "sampler-table")
    assert mb.marker_in("<!-- END onboard: qwen3-8b -->") == ("END", "onboard", "qwen3-8b")
    assert mb.marker_in("<!-- BEGIN other: x -->") is None and mb.marker_in("plain text") is None
