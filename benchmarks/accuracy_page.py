"""docs/accuracy.md, its two committed sources, and the one function that writes the page.

The page holds two generated parts: the planner's memory predictions against real llama-server
(docs/data/accuracy.json, from benchmarks/accuracy_vs_llama.py) and the speed estimate against public
measurements (docs/data/speed_accuracy.json, from benchmarks/fit_speed.py). Either script rewrites
the whole page from both JSON files, so refreshing one part never drops the other.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from onboard.llamacpp.planner.accuracy_report import render_accuracy_page  # noqa: E402

DOC = REPO / "docs" / "accuracy.md"
MEMORY_JSON = REPO / "docs" / "data" / "accuracy.json"
SPEED_JSON = REPO / "docs" / "data" / "speed_accuracy.json"


def _load(path: Path) -> dict[str, Any] | None:
    return json.loads(path.read_text()) if path.exists() else None


def page_text(memory: dict[str, Any] | None = None, speed: dict[str, Any] | None = None) -> str:
    """The page from the given parts, the committed JSON standing in for a part not given."""
    memory = memory if memory is not None else _load(MEMORY_JSON)
    if memory is None:
        raise SystemExit(f"{MEMORY_JSON.relative_to(REPO)} is missing: run benchmarks/accuracy_vs_llama.py first")
    return render_accuracy_page(memory, speed if speed is not None else _load(SPEED_JSON))


def write_page(memory: dict[str, Any] | None = None, speed: dict[str, Any] | None = None) -> Path:
    """Write docs/accuracy.md (see ``page_text``) and return its path."""
    DOC.write_text(page_text(memory, speed))
    return DOC
