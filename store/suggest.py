""""Did you mean ...?": the names close to a mistyped one, for an error message's fix.

Why one helper: a mistyped command, candidate, profile, models.conf key or docs reference all get the
same kind of hint; one function keeps the wording and the closeness rule alike everywhere.
"""
from __future__ import annotations

import difflib
from collections.abc import Callable, Iterable


def close_names(word: str, choices: Iterable[str], *, n: int = 3, cutoff: float = 0.6) -> list[str]:
    """Up to ``n`` of ``choices`` close to ``word``, closest first (difflib's ratio >= ``cutoff``)."""
    return difflib.get_close_matches(word, list(choices), n=n, cutoff=cutoff)


def did_you_mean(word: str, choices: Iterable[str], *, n: int = 3, cutoff: float = 0.6,
                 show: Callable[[str], str] = str, joiner: str = ", ") -> str | None:
    """``did you mean a, b?`` for the names close to ``word``, or None when none is close.

    ``show`` writes one name (``repr``, or ``"[{}]".format`` for a profile reference), ``joiner`` joins
    several (``", "`` or ``" or "``); a caller starting a sentence capitalizes the first letter."""
    close = close_names(word, choices, n=n, cutoff=cutoff)
    return f"did you mean {joiner.join(show(c) for c in close)}?" if close else None
