"""Atomic file writes: a file is always either its old or its new content, never half-written.

Temp file in the same directory, fsync, ``os.replace``, fsync of the directory. A crash (or a full
disk) at any point leaves the old file in place; the temp file is removed on any error.
"""
from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path

from store import crashpoints

TMP_SUFFIX = ".onboard-tmp"


def write_atomic(path: Path, data: str | bytes) -> None:
    """Replace ``path`` with ``data`` atomically (creating parent directories)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = data.encode("utf-8") if isinstance(data, str) else data
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.{os.getpid()}.", suffix=TMP_SUFFIX, dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(payload)
            handle.flush()
            os.fsync(handle.fileno())
        crashpoints.reach("before_rename")
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    _fsync_dir(path.parent)


def remove_file(path: Path) -> None:
    """Delete ``path`` if present, durably."""
    try:
        os.unlink(path)
    except FileNotFoundError:
        return
    _fsync_dir(Path(path).parent)


def read_text(path: Path) -> str | None:
    """The file's text, or None when it does not exist. Newlines are kept as they are."""
    try:
        with open(path, "r", encoding="utf-8", newline="") as handle:
            return handle.read()
    except FileNotFoundError:
        return None


def _fsync_dir(directory: Path) -> None:
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def remove_orphan_temps(path: Path, alive: Callable[[int], bool]) -> list[Path]:
    """Delete temp files of ``path`` left by writers that died before their rename.

    Temp names carry the writer's pid (``.<name>.<pid>.<random>.onboard-tmp``); a live writer's
    temp file (another command writing the same file right now) is left alone.
    """
    removed = []
    for tmp in Path(path).parent.glob(f".{Path(path).name}.*{TMP_SUFFIX}"):
        parts = tmp.name[len(Path(path).name) + 2:].split(".")
        if parts and parts[0].isdigit() and not alive(int(parts[0])):
            tmp.unlink(missing_ok=True)
            removed.append(tmp)
    return removed
