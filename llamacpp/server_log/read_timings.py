"""Recognisers for speed: the ``prompt eval time`` / ``eval time`` lines printed when a request
completes. Prompt and generation speed of the same task are paired; the last completed request is
reported.
"""
from __future__ import annotations

import re

from .state import LogState, num

_TASK = re.compile(r"\btask (\d+)\b|id_task=(\d+)")


def _task_key(line: str) -> str | None:
    m = _TASK.search(line)
    return (m.group(1) or m.group(2)) if m else None


def _speed(m: re.Match) -> float | None:
    tps = m.group("tps")
    if tps is not None:
        value = num(tps)
        return round(value, 2) if value is not None else None
    ms = num(m.group("ms")) if m.group("ms") else None
    return round(1000.0 / ms, 2) if ms else None


def on_prompt_timing(r: LogState, m: re.Match, line: str) -> None:
    r.pending_prompt[_task_key(line)] = _speed(m)


def on_gen_timing(r: LogState, m: re.Match, line: str) -> None:
    key = _task_key(line)
    if key in r.pending_prompt:
        prompt = r.pending_prompt.pop(key)
    else:
        prompt = r.pending_prompt.pop(None, None)
    r.speed = (prompt, _speed(m))
