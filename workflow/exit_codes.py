"""Exit codes of every `onboard` command: one table, used by the CLI and the README.

The table lives with the one error type (``llamacpp.errors``), the lowest layer, so that every layer's
errors carry their code; this module keeps the names where the workflow's modules import them.
"""
from __future__ import annotations

from onboard.llamacpp.errors import MEANING, Exit

__all__ = ["Exit", "MEANING"]
