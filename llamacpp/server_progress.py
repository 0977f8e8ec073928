"""What a starting llama-server is doing, read from its log, shown as a progress line.

Why: loading a large model takes minutes, and ``/health`` only says "503 loading" all along. The
log says more: which file it opened, how big it is, that it is loading tensors, building the
context (KV cache, compute buffers), warming up. The launcher polls ``/health``; on each poll this
reads the end of the log and reports the latest stage through :class:`llamacpp.progress.Progress`,
bounded by the launcher's health timeout (the wait cannot last longer).
"""
from __future__ import annotations

import re
from pathlib import Path

from .progress import Progress

TAIL_BYTES = 16384
_OPENING = re.compile(r"load_model: loading model '(?P<path>[^']+)'")
_FILE_SIZE = re.compile(r"print_info: file size\s*=\s*(?P<size>[\d.]+ [KMGT]i?B)")
# (pattern, stage); the stage of the pattern found LAST in the log is the current one
_STAGES = (
    (_OPENING, "opening {file}"),
    (re.compile(r"llama_model_loader: loaded meta data"), "reading {file}'s metadata"),
    (re.compile(r"load_tensors: loading model tensors"), "loading model tensors{size}"),
    (re.compile(r"llama_context: constructing llama_context"), "building the context (KV cache, compute buffers)"),
    (re.compile(r"warming up the model"), "warming up"),
    (re.compile(r"load_model: initializing, n_slots"), "starting the slots"),
    (re.compile(r"server is listening on"), "listening"),
)


def loading_stage(text: str, file_hint: str | None = None, size_hint: str | None = None) -> str | None:
    """The latest stage of a llama-server start that ``text`` (the log, or its end) shows, or None.

    ``file_hint``/``size_hint`` name the model and its size when the part of the log given no
    longer holds the lines that said them."""
    opening = list(_OPENING.finditer(text))
    name = Path(opening[-1].group("path")).name if opening else (file_hint or "the model")
    sizes = list(_FILE_SIZE.finditer(text))
    size = sizes[-1].group("size") if sizes else size_hint
    best: tuple[int, str] | None = None
    for pattern, stage in _STAGES:
        for match in pattern.finditer(text):
            if best is None or match.start() >= best[0]:
                best = (match.start(), stage)
    if best is None:
        return None
    return best[1].format(file=name, size=f" ({size})" if size else "")


class StartProgress:
    """Progress of one server start: call :meth:`poll` while waiting, then :meth:`done`."""

    def __init__(self, log_path: Path, *, bound_s: float, enabled: bool | None = None, **kwargs) -> None:  # noqa: ANN003
        self.log_path = log_path
        self.progress = Progress("llama-server start", bound_s=bound_s, enabled=enabled, **kwargs)
        self.stage: str | None = None
        self._file: str | None = None
        self._size: str | None = None

    def poll(self, state: str) -> None:
        """``state`` is what /health said ("starting", "loading"); the log's stage is preferred."""
        tail = _tail(self.log_path)
        opening = list(_OPENING.finditer(tail))
        if opening:
            self._file = Path(opening[-1].group("path")).name
        size = list(_FILE_SIZE.finditer(tail))
        if size:
            self._size = size[-1].group("size")
        stage = loading_stage(tail, self._file, self._size) or self.stage or state
        changed = stage != self.stage
        self.stage = stage
        self.progress.update(note=stage, force=changed)

    def done(self, outcome: str) -> None:
        """The last line: "ready", or why the wait ended."""
        self.progress.finish(outcome)


def _tail(path: Path) -> str:
    try:
        with open(path, "rb") as f:
            f.seek(0, 2)
            size = f.tell()
            f.seek(max(0, size - TAIL_BYTES))
            return f.read().decode("utf-8", "replace")
    except OSError:
        return ""
