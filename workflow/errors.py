"""The one error type the workflow commands raise: a message, an exit code and the next step."""
from __future__ import annotations

from workflow.exit_codes import Exit


class WorkflowError(Exception):
    def __init__(self, code: Exit, message: str, *, fix: str | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.fix = fix

    def __str__(self) -> str:
        return self.message + (f"\n  fix: {self.fix}" if self.fix else "")
