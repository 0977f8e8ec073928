"""One writer at a time in a repository's shared files.

Leases keep two commands off one candidate, but two candidates share files: models.conf holds every
profile, the docs and the benchmark pipeline files list every model. A write there reads the file,
changes its own part and writes it back; two commands doing that at the same moment would lose one
change. Every journalled write (and a phase that renders a whole file from the repository's current
state) therefore runs under an exclusive ``flock`` on ``<root>/.onboard/write.lock``.

Why flock: the kernel releases it when the holder dies, so a SIGKILLed command never leaves the
repository locked; it is held only for the read-change-write, never while a server or a benchmark runs.
Re-entrant within a process (a phase holding it may call the journal, which takes it again).
"""
from __future__ import annotations

import fcntl
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from onboard.llamacpp.errors import Exit, OnboardError

WAIT_S = 120.0  # a write holds the lock for milliseconds; this long means the holder is stuck
_held: dict[Path, tuple[int, int]] = {}  # lock path -> (fd, depth)


class RepositoryBusy(OnboardError, RuntimeError):
    """Another command held the repository's write lock for longer than :data:`WAIT_S` (exit 5)."""

    code = Exit.BUSY


@contextmanager
def writing(root: Path) -> Iterator[None]:
    """Hold the repository's write lock (waiting for another command's write to finish)."""
    path = (Path(root) / ".onboard" / "write.lock").resolve()
    if path in _held:
        fd, depth = _held[path]
        _held[path] = (fd, depth + 1)
    else:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            _acquire(fd, path)
        except BaseException:
            os.close(fd)
            raise
        _held[path] = (fd, 1)
    try:
        yield
    finally:
        fd, depth = _held[path]
        if depth > 1:
            _held[path] = (fd, depth - 1)
        else:
            del _held[path]
            fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)


def _acquire(fd: int, path: Path) -> None:
    deadline = time.monotonic() + WAIT_S
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return
        except BlockingIOError:
            if time.monotonic() > deadline:
                raise RepositoryBusy(f"another onboard command has been writing this repository for over "
                                     f"{WAIT_S:.0f} s (lock {path})") from None
            time.sleep(0.02)
