"""The scanner: feeds blocks of log lines to the rows of :mod:`.table` that can match them.

Speed: a block of lines is searched with ``str.find`` for each keyword of :data:`.table.KEYWORDS`
(C speed); only the lines holding a keyword reach the regexes, and only the rows filed under the
keywords found. ``--log-jsonl`` lines are decoded first and their messages read one by one.
"""
from __future__ import annotations

from .line_cleaning import ANSI, MAX_LINE, json_messages
from .state import LogState
from .table import KEYWORDS, ROWS, ROWS_BY_KEY


class LogReader(LogState):
    """A :class:`LogState` that reads lines: :meth:`feed_block` for blocks of whole lines (the fast
    path), :meth:`feed_line` for single messages."""

    def feed_block(self, block: str) -> None:
        """Read a block of whole lines: find each keyword with ``str.find`` and dispatch only the
        lines that hold one, in their order, to the rows filed under the keywords they hold."""
        if "\x1b" in block:
            block = ANSI.sub("", block)
        if "\r" in block:
            block = block.replace("\r\n", "\n").replace("\r", "\n")
        hits: dict[int, list[str]] = {}
        find, rfind = block.find, block.rfind
        for key in KEYWORDS:
            i = find(key)
            while i != -1:
                start = rfind("\n", 0, i) + 1
                hits.setdefault(start, []).append(key)
                end = find("\n", i)
                if end == -1:
                    break
                i = find(key, end)
        for start in sorted(hits):
            end = find("\n", start)
            line = block[start:] if end == -1 else block[start:end]
            brace = line.find("{")
            if brace != -1 and ('"msg"' in line or '"message"' in line):  # --log-jsonl, maybe prefixed
                messages = json_messages(line[brace:].strip())
                if messages is not None:
                    for message in messages:
                        self.feed_line(message)
                    continue
            self.dispatch(line[:MAX_LINE], hits[start])

    def feed_line(self, line: str) -> None:
        """Read one line (the slow path, for messages decoded from JSON lines)."""
        if "\x1b" in line:
            line = ANSI.sub("", line)
        keys = [key for key in KEYWORDS if key in line]
        if keys:
            self.dispatch(line[:MAX_LINE], keys)

    def dispatch(self, line: str, keys: list[str]) -> None:
        """Try ``line`` against the rows filed under ``keys`` in table order; the first handler
        that does not return False consumes it."""
        indexes = ROWS_BY_KEY[keys[0]] if len(keys) == 1 else sorted({i for k in keys for i in ROWS_BY_KEY[k]})
        for index in indexes:
            row = ROWS[index]
            if row.data and self.in_fit:
                continue
            if row.needle not in line:
                continue
            m = row.regex.search(line)
            if m is None:
                continue
            if row.handler(self, m, line) is not False:
                return
