"""Line cleaning: what wraps a llama.cpp message in the many places a log is copied from.

Timestamps, pids, colour codes, docker compose / syslog / journald prefixes and llama.cpp's own
``M.SS.mmm.uuu L tag`` prefix are taken off the start of a line; ``--log-jsonl`` lines (and the old
server's JSON lines) are decoded into their message lines. The recognisers search rather than
anchor, so only a fatal line shown to a person needs its prefixes stripped.
"""
from __future__ import annotations

import json
import re

# Lines longer than this are cut before matching: no llama.cpp message we read is longer, and it
# bounds the regex work a garbage or binary "line" can cause.
MAX_LINE = 4096

ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
# Applied repeatedly at the start of a line (a journald line can wrap a docker line can wrap a
# llama.cpp line). Each one is a prefix some tool adds; none can eat a llama.cpp message.
_PREFIXES = [
    re.compile(r"^[\w.-]+\s+\|\s?"),  # docker compose: "ollama  | "
    re.compile(r"^(?:[A-Z][a-z]{2}\s+\d{1,2}\s+)?\d\d:\d\d:\d\d\s+(?:\S+\s+)?[\w.\-/@]+\[\d+\]:\s?"),  # syslog
    re.compile(r"^[\w.\-/@]+\[\d+\]:\s?"),  # journald short: "ollama[1186]: "
    re.compile(r"^\[?\d{4}-\d\d-\d\d[T ]\d\d:\d\d:\d\d(?:[.,]\d+)?(?:Z|[+-]\d\d:?\d\d)?\]?\s+"),  # ISO time
    re.compile(r"^\[(?:Info|INFO|Warning|WARNING|Warn|WARN|Error|ERROR|Debug|DEBUG)\]\s+(?:\(\w+\)\s+)?"),
    re.compile(r"^\[\d+\]\s?"),  # "[42027] " pid
    re.compile(r"^\d+\.\d\d\.\d{3}\.\d{3} [IWEDT] (?:[a-z]{2,4} +(?=\S+:))?"),  # llama.cpp's own
    re.compile(r"^\s*[IWE] (?=\S+: )"),  # level letter only
]


def strip_prefixes(line: str) -> str:
    """The llama.cpp message inside ``line``: every known prefix (nested up to 8 deep) removed."""
    for _ in range(8):
        for rx in _PREFIXES:
            m = rx.match(line)
            if m and m.end() > 0:
                line = line[m.end():]
                break
        else:
            break
    return line.strip()


def json_messages(line: str) -> list[str] | None:
    """A ``--log-jsonl`` line (or an old server JSON log line) -> its message lines; None if the
    line is not a JSON object."""
    try:
        obj = json.loads(line)
    except ValueError:
        return None
    if not isinstance(obj, dict):
        return None
    msg = obj.get("msg", obj.get("message"))
    out: list[str] = []
    if msg == "build info" and "build" in obj:  # old server: {"message":"build info","build":1696,...}
        out.append(f"build = {obj['build']} ({obj.get('commit', 'unknown')})")
    elif msg == "system info" and isinstance(obj.get("system_info"), str):
        out.append("system_info: " + obj["system_info"])
    elif isinstance(msg, str):
        out.extend(part for part in msg.split("\n") if part.strip())
    return out
