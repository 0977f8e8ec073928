"""Figures of the reliability suite, printed at the end of every test run.

Tests that prove a reliability property (a kill and its recovery, a concurrent command, a fuzzed
header, a malformed input refused, an escape refused, a full disk) count what they proved here;
``tests/conftest.py`` prints the table in pytest's terminal summary, so a CI log shows how many
cases actually ran, not just that the tests passed.
"""
from __future__ import annotations

from collections import defaultdict

# section -> item -> count (e.g. "crash kills" -> "test: advance" -> 8)
COUNTS: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
# section -> item -> largest value seen (e.g. "fuzzed GGUF headers" -> "peak Python memory, bytes")
PEAKS: dict[str, dict[str, float]] = defaultdict(dict)


def count(section: str, item: str, n: int = 1) -> None:
    """Add ``n`` proven cases of ``item`` to ``section``."""
    COUNTS[section][item] += n


def peak(section: str, item: str, value: float) -> None:
    """Keep the largest ``value`` of ``item`` (a memory peak, a wait) seen in ``section``."""
    current = PEAKS[section].get(item)
    PEAKS[section][item] = value if current is None else max(current, value)


def summary_lines() -> list[str]:
    """The table as text lines, one section per paragraph; empty when no reliability test ran."""
    lines: list[str] = []
    for section in sorted(set(COUNTS) | set(PEAKS)):
        items = COUNTS.get(section, {})
        total = sum(items.values())
        lines.append(f"{section}: {total}" if items else f"{section}:")
        lines.extend(f"    {item}: {n}" for item, n in sorted(items.items()))
        lines.extend(f"    {item} (max): {value:,.0f}" for item, value in sorted(PEAKS.get(section, {}).items()))
    return lines
