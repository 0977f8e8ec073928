"""Marker blocks in a Markdown file: find, render and replace the text between two HTML comments.

Why one module: two spellings live in people's files and both must keep working. The docs' generated
blocks (``<!-- BEGIN GENERATED: id -->`` ... ``<!-- END GENERATED: id -->``) are re-rendered from code
and data; the journal's blocks (``<!-- BEGIN onboard: id -->`` ... ``<!-- END onboard: id -->``) hold
what a phase wrote into a shared file (a per-model section, the assistant files' section). Finding,
rendering and blanking them in one place keeps every reader agreeing on where a block starts and ends.

A block is the BEGIN line (ending in a newline), the body, and the first END marker after it with the
same kind and id; the END marker's own newline belongs to the block when it has one.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

GENERATED = "GENERATED"  # docs blocks rendered from code and data (``phases.docs_blocks``)
ONBOARD = "onboard"  # blocks the journal writes and undoes (``store.journal``)
_MARKER = re.compile(r"<!--\s*(BEGIN|END) (GENERATED|onboard): ?(\S+)\s*-->")


def markers(block_id: str, kind: str = ONBOARD) -> tuple[str, str]:
    """The BEGIN line (with its newline) and the END marker (without one) of a block."""
    return f"<!-- BEGIN {kind}: {block_id} -->\n", f"<!-- END {kind}: {block_id} -->"


@dataclass(frozen=True)
class Span:
    """Where a block stands in a text (string offsets): ``start`` at its BEGIN marker, ``body_start``
    after the BEGIN line, ``body_end`` at the END marker, ``end`` after the END marker and its newline."""
    start: int
    body_start: int
    body_end: int
    end: int


def _pattern(block_id: str, kind: str) -> re.Pattern[str]:
    begin, end = markers(block_id, kind)
    return re.compile(f"({re.escape(begin)})(.*?)({re.escape(end)}\n?)", re.S)


def _span(match: re.Match[str]) -> Span:
    return Span(match.start(1), match.start(2), match.start(3), match.end(3))


def locate(text: str, block_id: str, kind: str = ONBOARD) -> Span | None:
    """The first block ``block_id`` of ``kind`` in ``text``, or None (no BEGIN line, or no END after it)."""
    match = _pattern(block_id, kind).search(text)
    return None if match is None else _span(match)


def has_begin(text: str, block_id: str, kind: str = ONBOARD) -> bool:
    """Does ``text`` hold the block's BEGIN marker (complete block or not)?"""
    return markers(block_id, kind)[0].rstrip("\n") in text


def render_block(block_id: str, body: str, kind: str = ONBOARD) -> str:
    """The block with its markers, ending in a newline.

    A journal block's body ends with exactly one newline before END (what the phases pass in may end
    with several). A generated block keeps its renderer's text as it is plus one newline, as every
    file written so far has it, so those files keep reading as current."""
    begin, end = markers(block_id, kind)
    if kind == ONBOARD:
        body = body.rstrip("\n")
    return f"{begin}{body}\n{end}\n"


def find_block(text: str, block_id: str, kind: str = ONBOARD) -> str | None:
    """The block's exact text, markers included, or None."""
    span = locate(text, block_id, kind)
    return None if span is None else text[span.start:span.end]


def appended(text: str, block: str) -> str:
    """``text`` with ``block`` added at its end, one blank line after the text before it."""
    sep = "" if not text or text.endswith("\n\n") else ("\n" if text.endswith("\n") else "\n\n")
    return text + sep + block


def replace_block(text: str, current: str | None, new: str | None) -> str:
    """``text`` with the block text ``current`` replaced by ``new`` (appended when ``current`` is None,
    removed with the blank line it added when ``new`` is None)."""
    if current is not None:
        if new is None:
            start = text.find(current)
            tail = text[start + len(current):]
            head = text[:start]
            if head.endswith("\n\n") and (tail.startswith("\n") or not tail):
                head = head[:-1]
            return head + tail
        return text.replace(current, new, 1)
    if new is None:
        return text
    return appended(text, new)


def with_body(text: str, block_id: str, body: str, kind: str = GENERATED) -> str:
    """``text`` with the body of every block ``block_id`` of ``kind`` set to ``render_block``'s body;
    the markers and everything around them stay as they are."""
    begin, end = markers(block_id, kind)
    inner = render_block(block_id, body, kind)[len(begin):-len(end) - 1]
    return _pattern(block_id, kind).sub(lambda m: m.group(1) + inner + m.group(3), text)


def body_of(text: str, block_id: str, kind: str = GENERATED) -> tuple[str, int] | None:
    """``(body, line)``: the body of the first such block and the 1-based line its body starts on."""
    span = locate(text, block_id, kind)
    if span is None:
        return None
    return text[span.body_start:span.body_end], text.count("\n", 0, span.body_start) + 1


def blank_blocks(text: str, kind: str = GENERATED) -> str:
    """``text`` with every complete block of ``kind`` replaced by its newlines, so that line numbers
    stay right while a reader skips what the blocks hold."""
    pattern = re.compile(rf"<!-- BEGIN {kind}: (\S+) -->.*?<!-- END {kind}: \1 -->", re.S)
    return pattern.sub(lambda m: "\n" * m.group(0).count("\n"), text)


def marker_in(line: str) -> tuple[str, str, str] | None:
    """``(edge, kind, id)`` of the first marker of either spelling in ``line`` (edge ``BEGIN`` or
    ``END``), or None; for readers that walk a file line by line."""
    match = _MARKER.search(line)
    return None if match is None else (match.group(1), match.group(2), match.group(3))


def begin_in(line: str) -> tuple[str, str] | None:
    """``(kind, id)`` of a BEGIN marker of either spelling in ``line``, or None."""
    found = next((m for m in _MARKER.finditer(line) if m.group(1) == "BEGIN"), None)
    return None if found is None else (found.group(2), found.group(3))
