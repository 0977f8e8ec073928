"""Bounded sequential reads over a GGUF file (local or remote), the base of the header reader.

Why a module of its own: every length and count a hostile or damaged header gives is checked here,
against the bytes that remain in the file and against the header-size cap, BEFORE anything is
allocated or looped over; the parser (``gguf_header``) states what it needs and this cursor refuses
what cannot exist, with :class:`GGUFFormatError` naming the file, the byte offset and the field.
"""
from __future__ import annotations

from typing import BinaryIO

from onboard.llamacpp.errors import BadInput

MAX_HEADER_BYTES = 1 << 30       # metadata + tensor table (real ones are < 50 MiB)


class GGUFFormatError(BadInput):
    """The file is not a readable GGUF: the message names the file, the byte offset and the field."""


class Cursor:
    """Sequential reads over a seekable stream through one bounded buffer.

    Every read states how many bytes it needs; that number is checked against what remains in
    the file (when the size is known) and against the caller's cap before any allocation.
    """

    def __init__(self, stream: BinaryIO, source: str, size: int | None, chunk: int) -> None:
        self.stream = stream
        self.source = source
        self.size = size
        self.chunk = chunk
        self.base = stream.tell()  # absolute offset of buf[0]
        self.start = self.base
        self.buf = b""
        self.i = 0

    @property
    def pos(self) -> int:
        return self.base + self.i

    def remaining(self) -> int | None:
        return None if self.size is None else self.size - self.pos

    def error(self, message: str, what: str, at: int | None = None, fix: str | None = None) -> GGUFFormatError:
        at = self.pos if at is None else at
        return GGUFFormatError(f"byte {at}: {message}", path=self.source, field=what,
                               fix=fix or "re-download the file (a truncated or damaged download is the usual cause)")

    def need(self, n: int, what: str) -> None:
        """Fail cleanly when ``n`` more bytes cannot exist in this file or this header."""
        rem = self.remaining()
        if rem is not None and n > rem:
            raise self.error(f"truncated: {what} needs {n} bytes but only {rem} remain "
                             f"(file is {self.size} bytes)", what)
        if self.pos + n - self.start > MAX_HEADER_BYTES:
            raise self.error(f"header would exceed {MAX_HEADER_BYTES} bytes at {what}: "
                             "a count or length is corrupt", what)

    def read(self, n: int, what: str) -> bytes:
        self.need(n, what)
        avail = len(self.buf) - self.i
        if n <= avail:
            out = self.buf[self.i:self.i + n]
            self.i += n
            return out
        head = self.buf[self.i:]
        want = max(n - avail, self.chunk)
        parts, got = [head], 0
        while got < want:  # a raw stream may return short reads before its end
            piece = self.stream.read(want - got)
            if not piece:
                break
            parts.append(piece)
            got += len(piece)
        data = b"".join(parts)
        if len(data) < n:
            at = self.pos
            self.base, self.buf, self.i = self.pos + len(data), b"", 0
            raise self.error(f"truncated: {what} needs {n} bytes, the file ends after {len(data)}", what, at)
        self.base, self.buf, self.i = self.pos, data, n
        return data[:n]

    def skip(self, n: int, what: str) -> None:
        self.need(n, what)
        avail = len(self.buf) - self.i
        if n <= avail:
            self.i += n
            return
        target = self.pos + n
        self.stream.seek(target)
        self.base, self.buf, self.i = target, b"", 0
        if self.size is None:  # no size known: make sure the bytes exist by reading one back
            self.stream.seek(target - 1)
            if len(self.stream.read(1)) != 1:
                raise self.error(f"truncated: {what} needs {n} bytes past the end of the file", what)
