"""Reading a person's input files with bounded work: never block, never read without limit.

Why: a path given to onboard may be a FIFO nobody writes (opening it blocks forever), a device
(``/dev/zero`` never ends), a socket, or a text file far larger than any real card, rig file or
models.conf (a mistaken path to a model or a log). Each is refused before it is opened, naming the
file, what it is and how large a file of that kind may be. Readers that stream (logs, GGUF headers)
only need the file-type check; readers that hold a file in memory also get a size limit.
"""
from __future__ import annotations

import os
import stat
from pathlib import Path

from .errors import BadInput

MiB = 1024 * 1024
# the largest text file of each kind onboard holds in memory: far above any real one
TEXT_LIMITS = {"models.conf": 16 * MiB, "candidate card": 16 * MiB, "rig file": 1 * MiB,
               "generation_config.json": 4 * MiB, "benchmark file": 64 * MiB}


def _kind(mode: int) -> str:
    if stat.S_ISFIFO(mode):
        return "a FIFO (named pipe)"
    if stat.S_ISSOCK(mode):
        return "a socket"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    if stat.S_ISDIR(mode):
        return "a directory"
    return "not a regular file"


def check_regular(path: str | Path, what: str) -> os.stat_result | None:
    """The file's stat when it is a regular file; None when it does not exist (callers decide what
    a missing file means); BadInput naming it when it is anything else."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return None
    except OSError as err:
        raise BadInput(f"cannot read the {what}: {err.strerror}", path=str(path)) from None
    if not stat.S_ISREG(st.st_mode):
        raise BadInput(f"is {_kind(st.st_mode)}; the {what} must be a regular file", path=str(path),
                       fix=f"give the path of the {what} itself")
    return st


def read_bytes_limited(path: str | Path, what: str) -> bytes | None:
    """The whole file, refused when it is not a regular file or larger than ``TEXT_LIMITS[what]``;
    None when it does not exist."""
    st = check_regular(path, what)
    if st is None:
        return None
    limit = TEXT_LIMITS[what]
    if st.st_size > limit:
        raise BadInput(f"is {st.st_size / MiB:.1f} MiB; a {what} of more than {limit // MiB} MiB is not one "
                       "onboard reads", path=str(path), fix=f"check that this is the {what} you meant")
    try:
        with open(path, "rb") as handle:
            return handle.read(limit + 1)[:limit + 1]
    except FileNotFoundError:
        return None
    except OSError as err:
        raise BadInput(f"cannot read the {what}: {err.strerror}", path=str(path)) from None
