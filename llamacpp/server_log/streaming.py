"""File streaming: a log of any size is read a block of whole lines at a time, so memory does not
grow with the log; what the bytes were (empty, binary, not UTF-8) is recorded for the caller.

The entry points :func:`analyze_log`, :func:`analyze_lines` and :func:`analyze_file` all cut their
input into blocks of about :data:`BLOCK` characters and feed them to one :class:`.scanner.LogReader`.
"""
from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Iterable, Iterator

from onboard.llamacpp.errors import BadInput

from .report import LogReport
from .scanner import LogReader

# Files are read and scanned in blocks of whole lines of about this size: memory stays bounded.
BLOCK = 1 << 20


def _blocks_of_lines(lines: Iterable[str]) -> Iterator[str]:
    """Join lines into blocks of about :data:`BLOCK` characters."""
    batch: list[str] = []
    size = 0
    for line in lines:
        batch.append(line)
        size += len(line) + 1
        if size >= BLOCK:
            yield "\n".join(batch)
            batch, size = [], 0
    if batch:
        yield "\n".join(batch)


def _analyze_blocks(blocks: Iterable[str]) -> LogReport:
    reader = LogReader()
    for block in blocks:
        reader.feed_block(block)
    return reader.report()


def analyze_lines(lines: Iterable[str]) -> LogReport:
    """Analyse an iterable of log lines (line ends optional)."""
    return _analyze_blocks(_blocks_of_lines(line.rstrip("\r\n") for line in lines))


def analyze_log(text: str) -> LogReport:
    """Analyse a whole log given as text."""
    return _analyze_blocks(_blocks_of_text(text))


def _blocks_of_text(text: str) -> Iterator[str]:
    """Cut a text into blocks of whole lines of about :data:`BLOCK` characters."""
    start = 0
    while start < len(text):
        end = text.find("\n", start + BLOCK)
        if end == -1:
            yield text[start:]
            return
        yield text[start:end]
        start = end + 1


@dataclass
class LogSource:
    """What a log file held as bytes, so that a caller can tell a log from something that is not one.

    The analyser itself reads anything (garbage never raises): whether an empty or binary file is an
    error is the caller's decision (:func:`require_text_log`), made with the line named.
    """

    size_bytes: int = 0
    lines: int = 0
    has_text: bool = False  # anything but whitespace
    binary_line: int | None = None  # first line holding a NUL byte, or of a mostly undecodable start
    invalid_utf8_line: int | None = None  # first line holding bytes that are not UTF-8 (read as U+FFFD)

    def take(self, data: bytes) -> str:
        """Account for one block of whole lines and decode it (invalid UTF-8 replaced)."""
        first_line = self.lines + 1
        self.size_bytes += len(data)
        self.lines += data.count(b"\n")
        if self.binary_line is None and b"\x00" in data:
            self.binary_line = first_line + data.count(b"\n", 0, data.index(b"\x00"))
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as err:
            if self.invalid_utf8_line is None:
                self.invalid_utf8_line = first_line + data.count(b"\n", 0, err.start)
            text = data.decode("utf-8", errors="replace")
            if self.binary_line is None and first_line == 1 and text.count("\ufffd") > len(text) // 10:
                self.binary_line = self.invalid_utf8_line  # a tenth undecodable: not text at all
        if not self.has_text and text.strip():
            self.has_text = True
        return text


def _binary_blocks(stream: IO[bytes], source: LogSource | None = None) -> Iterator[str]:
    """Blocks of whole decoded lines, read :data:`BLOCK` bytes at a time (invalid UTF-8 is replaced,
    never an error). A "line" longer than a block (a binary file) is cut, so memory stays bounded.
    ``source`` (if given) records what the bytes were: size, lines, NUL bytes, invalid UTF-8."""
    source = source if source is not None else LogSource()
    rest = b""
    while True:
        data = stream.read(BLOCK)
        if not data:
            if rest:
                yield source.take(rest)
            return
        data = rest + data
        cut = data.rfind(b"\n")
        if cut == -1:
            if len(data) < BLOCK:
                rest = data
                continue
            cut = len(data) - 1
        rest = data[cut + 1:]
        yield source.take(data[:cut + 1])


def analyze_file(path: str | Path) -> LogReport:
    """Analyse a log file (``-`` = standard input), streaming it a block of lines at a time.

    Raises :class:`BadInput` naming the file when it cannot be read."""
    source = LogSource()
    if str(path) == "-":
        report = _analyze_blocks(_binary_blocks(sys.stdin.buffer, source))
    else:
        from onboard.llamacpp.input_files import check_regular

        check_regular(path, "llama-server log")  # a FIFO would block, a device never end
        try:
            with open(path, "rb") as stream:
                report = _analyze_blocks(_binary_blocks(stream, source))
        except OSError as err:
            reason = err.strerror or str(err)
            raise BadInput(f"cannot read the log: {reason}", path=str(path),
                           fix="give the path of a llama-server log file, or - for standard input") from None
    report.source = source
    return report


def require_text_log(report: LogReport, path: str | Path) -> None:
    """Refuse what is not a log at all: an empty file, or binary data (BadInput naming file:line).

    Why not in :func:`analyze_file`: the analyser reads anything without failing (a library that
    never crashes on garbage); a person who hands a file to ``logs analyze`` or ``advance --log``
    should instead be told that the file is no log, rather than get an empty diagnosis. Bytes that
    are not UTF-8 inside a text log are no reason to refuse it (llama.cpp prints token pieces as
    they are); :func:`diagnose` notes them. A log that stops before the load finished is read and
    reported as incomplete (:attr:`LogReport.unfinished`), because what it shows is still true.
    """
    source = report.source
    if source is None:
        return
    where = "standard input" if str(path) == "-" else str(path)
    if not source.has_text:
        raise BadInput("the log is empty" if not source.size_bytes else "the log holds only blank lines",
                       path=where, fix="give the file llama-server wrote; it logs to stderr, so capture both: "
                                       "llama-server ... -lv 4 > FILE 2>&1")
    if source.binary_line is not None:
        raise BadInput("binary data, not a text log (a NUL byte or bytes that are not text)", path=where,
                       line=source.binary_line, fix="give the llama-server log (text) file; a UTF-16 file "
                                                    "(PowerShell's >) must be saved as UTF-8 first")
