"""The error the workflow commands raise: ``WorkflowError(code, message, fix=...)``, an
:class:`llamacpp.errors.OnboardError` whose code each raise chooses (unknown candidate, wrong
state, busy, conflict...)."""
from __future__ import annotations

from onboard.llamacpp.errors import Exit, OnboardError


class WorkflowError(OnboardError):
    def __init__(self, code: Exit, message: str, *, fix: str | None = None) -> None:
        super().__init__(message, fix=fix, code=code)
