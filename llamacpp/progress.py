"""One progress reporter for the long waits: the benchmark, a download, a server start.

Why one: a person watching ``onboard advance`` (or reading its log afterwards) should read the
same line shape whatever is slow: how much is done of how much, how fast, how long it has run and
how long it still needs. The reporter writes to stderr, so stdout stays what commands print as
their result (and ``--json`` output stays clean):

- on a terminal, one line updated in place (``\\r``), redrawn at most every ``tty_interval`` s;
- anywhere else (a pipe, a log file, CI), a new line per update, at most one every
  ``log_interval`` s, so a log of an hour-long benchmark holds dozens of lines, not thousands.
  The first update, a forced one (a new stage) and the last (:meth:`finish`) are always written.

A line reads (fields that are unknown are left out)::

    benchmark: 12/164 tasks (7%), 0.31 tasks/s, 48.2 tokens/s, elapsed 38s, ETA 8m10s: HumanEval/11
    download: 1024.0/4096.0 MiB (25%), 52.3 MiB/s, elapsed 19s, ETA 58s
    llama-server start: elapsed 4s of at most 10m00s: loading model tensors (235.2 MiB)

Turning it off: ``enabled=False``, or ``ONBOARD_QUIET=1`` in the environment (which every reporter
made with ``enabled=None`` obeys).

For a download (bytes), where a library reports ``(bytes_done, bytes_total)``::

    from onboard.llamacpp.progress import Progress

    progress = Progress.for_bytes("download", total_bytes=size)   # MiB done/total, MiB/s, ETA
    fetch(url, on_progress=progress.bytes_callback())              # calls back (done, total)
    progress.finish()

``bytes_callback()`` takes the total from each call too (None or 0: unknown, then no percentage
or ETA), so it suits callbacks that learn the size only from the first response.
"""
from __future__ import annotations

import os
import sys
import time
from typing import Callable, TextIO

MIB = 2**20
QUIET_ENV = "ONBOARD_QUIET"
LOG_INTERVAL_S = 10.0
TTY_INTERVAL_S = 0.2


def quiet_requested(environ: dict[str, str] | None = None) -> bool:
    """True when the environment asks for no progress lines (``ONBOARD_QUIET`` set, not 0/empty)."""
    value = (environ if environ is not None else os.environ).get(QUIET_ENV, "")
    return value.strip().lower() not in ("", "0", "false", "no", "off")


def duration(seconds: float) -> str:
    """``45s``, ``3m05s``, ``1h02m``: short enough for a progress line, exact enough for an ETA."""
    s = max(0, int(round(seconds)))
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m{s % 60:02d}s"
    return f"{s // 3600}h{s % 3600 // 60:02d}m"


class Progress:
    """Reports ``done`` of ``total`` units of work; see the module docstring for the line.

    ``scale`` divides the numbers given to :meth:`update` for display (bytes shown as MiB:
    ``scale=2**20``, ``unit="MiB"``). ``bound_s`` is a known limit on the wait (a timeout) shown as
    "of at most", for work whose amount is unknown (a server start). ``clock`` and ``tty`` are
    injectable for tests; ``stream`` defaults to ``sys.stderr`` at the time of each write.
    """

    def __init__(self, label: str, *, total: float | None = None, unit: str = "tasks", scale: float = 1.0,
                 bound_s: float | None = None, enabled: bool | None = None, stream: TextIO | None = None,
                 tty: bool | None = None, log_interval: float = LOG_INTERVAL_S,
                 tty_interval: float = TTY_INTERVAL_S, clock: Callable[[], float] = time.monotonic) -> None:
        self.label, self.total, self.unit, self.scale, self.bound_s = label, total, unit, scale, bound_s
        self.enabled = (not quiet_requested()) if enabled is None else enabled
        self._stream, self._tty, self._clock = stream, tty, clock
        self._intervals = (log_interval, tty_interval)
        self.started = clock()
        self.done: float | None = None
        self.tokens: float | None = None
        self.note: str | None = None
        self._last_write: float | None = None

    @classmethod
    def for_bytes(cls, label: str, *, total_bytes: int | None = None, **kwargs) -> "Progress":  # noqa: ANN003
        """A reporter for bytes: shows MiB done/total, MiB/s and the ETA."""
        return cls(label, total=total_bytes or None, unit="MiB", scale=MIB, **kwargs)

    def bytes_callback(self) -> Callable[[int, int | None], None]:
        """A ``(bytes_done, bytes_total)`` callback (total None or 0 when unknown) feeding :meth:`update`."""
        def report(bytes_done: int, bytes_total: int | None = None) -> None:
            self.update(bytes_done, total=bytes_total or None)
        return report

    # -- what is known ---------------------------------------------------------------------------
    def elapsed(self) -> float:
        return max(0.0, self._clock() - self.started)

    def rate(self) -> float | None:
        """Units done per second over the whole run (steadier than the last interval's rate)."""
        elapsed = self.elapsed()
        if self.done is None or elapsed <= 0:
            return None
        return self.done / elapsed

    def tokens_per_s(self) -> float | None:
        elapsed = self.elapsed()
        return self.tokens / elapsed if self.tokens is not None and elapsed > 0 else None

    def eta(self) -> float | None:
        """Seconds still needed at the rate so far; None while nothing is done or the total is unknown."""
        rate = self.rate()
        if self.total is None or self.done is None or not rate:
            return None
        return max(0.0, (self.total - self.done) / rate)

    def line(self) -> str:
        """The progress line for the state now (without ``\\r`` or newline)."""
        parts = []
        if self.done is not None:
            done = self._shown(self.done)
            if self.total:
                parts.append(f"{done}/{self._shown(self.total)} {self.unit} "
                             f"({min(100.0, 100.0 * self.done / self.total):.0f}%)")
            else:
                parts.append(f"{done} {self.unit}")
            rate = self.rate()
            if rate is not None:
                parts.append(f"{rate / self.scale:.2f} {self.unit}/s")
        tps = self.tokens_per_s()
        if tps is not None:
            parts.append(f"{tps:.1f} tokens/s")
        elapsed = f"elapsed {duration(self.elapsed())}"
        if self.bound_s is not None:
            elapsed += f" of at most {duration(self.bound_s)}"
        parts.append(elapsed)
        eta = self.eta()
        if eta is not None:
            parts.append(f"ETA {duration(eta)}")
        text = f"{self.label}: " + ", ".join(parts)
        return text + (f": {self.note}" if self.note else "")

    def _shown(self, value: float) -> str:
        if self.scale != 1.0:
            return f"{value / self.scale:.1f}"
        return f"{value:g}" if isinstance(value, float) and not value.is_integer() else f"{int(value)}"

    # -- reporting ---------------------------------------------------------------------------------
    def update(self, done: float | None = None, *, total: float | None = None, tokens: float | None = None,
               note: str | None = None, force: bool = False) -> None:
        """Record progress and write a line if one is due. ``done``/``tokens`` are totals so far (not
        increments); ``note`` says what is happening now; ``force`` writes regardless of the interval
        (a new stage)."""
        if done is not None:
            self.done = done
        if total is not None:
            self.total = total
        if tokens is not None:
            self.tokens = tokens
        if note is not None:
            self.note = note
        now = self._clock()
        interval = self._intervals[1] if self._is_tty() else self._intervals[0]
        if force or self._last_write is None or now - self._last_write >= interval:
            self._write(final=False)
            self._last_write = now

    def finish(self, note: str | None = None, *, done: float | None = None) -> None:
        """Write the last line (always, unless disabled), ending a TTY line with its newline."""
        if done is not None:
            self.done = done
        if note is not None:
            self.note = note
        self._write(final=True)
        self._last_write = self._clock()

    def _is_tty(self) -> bool:
        if self._tty is not None:
            return self._tty
        try:
            return bool(self.stream.isatty())
        except (AttributeError, ValueError):
            return False

    @property
    def stream(self) -> TextIO:
        return self._stream if self._stream is not None else sys.stderr

    def _write(self, *, final: bool) -> None:
        if not self.enabled:
            return
        text = self.line()
        try:
            if self._is_tty():
                # \033[K clears what a longer previous line left on the right
                self.stream.write("\r" + text + "\033[K" + ("\n" if final else ""))
            else:
                self.stream.write(text + "\n")
            self.stream.flush()
        except (OSError, ValueError):  # a closed or broken stderr must never end the work itself
            self.enabled = False
