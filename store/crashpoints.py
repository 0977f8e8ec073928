"""Named points in the write path where the crash-safety tests kill the process.

Test-only: set ``ONBOARD_TEST_KILL_AT=<point>`` (optionally ``<point>@<n>`` for the n-th time the
point is reached, counting from 1) and the process sends itself SIGKILL there. Without the variable
this is a dictionary lookup and nothing else.

Points, in the order a command reaches them: ``lease_taken``, ``step_opened``,
``before_undo_record``, ``after_undo_record``, ``before_rename``, ``after_file_write``,
``before_commit``, ``after_commit``.

``ONBOARD_TEST_TRACE=<path>`` appends the name of every point reached to ``<path>``, one per line:
the crash tests learn from a clean run which points a transition reaches, and how often, before
they kill it at each of them.

The concurrency tests also HOLD a process at a point: ``ONBOARD_TEST_HOLD_AT=<point>`` with
``ONBOARD_TEST_HOLD_FILE=<path>`` creates ``<path>.reached`` there and waits (at most 60 s) until
``<path>.release`` exists, so a second command can be started while the first holds its lease.
"""
from __future__ import annotations

import os
import signal
import time
from pathlib import Path

POINTS = (
    "lease_taken",
    "step_opened",
    "before_undo_record",
    "after_undo_record",
    "before_rename",
    "after_file_write",
    "before_commit",
    "after_commit",
)

_counts: dict[str, int] = {}


def reach(point: str) -> None:
    """Kill this process with SIGKILL if the test hook names ``point`` (and its count is due)."""
    trace = os.environ.get("ONBOARD_TEST_TRACE")
    if trace:
        with open(trace, "a", encoding="utf-8") as out:
            out.write(point + "\n")
    if os.environ.get("ONBOARD_TEST_HOLD_AT") == point and not _counts.get("\0held"):
        _counts["\0held"] = 1  # once per process: the undo of an interrupted step passes the point again
        _hold(Path(os.environ["ONBOARD_TEST_HOLD_FILE"]))
    target = os.environ.get("ONBOARD_TEST_KILL_AT")
    if not target:
        return
    name, _, nth = target.partition("@")
    if name != point:
        return
    _counts[point] = _counts.get(point, 0) + 1
    if _counts[point] == int(nth or 1):
        os.kill(os.getpid(), signal.SIGKILL)


def _hold(path: Path) -> None:
    Path(f"{path}.reached").write_text(str(os.getpid()))
    deadline = time.monotonic() + 60
    while not Path(f"{path}.release").exists() and time.monotonic() < deadline:
        time.sleep(0.05)
