"""Errors the domain raises, each carrying what a person needs to act on it.

The workflow maps them to exit codes: :class:`BadInput` -> 6, :class:`ExternalFailure` -> 8.
Messages name the file (and line or field where there is one) and say what to do.
"""
from __future__ import annotations


class DomainError(Exception):
    """Base class: ``str(err)`` is the full message, ``fix`` an optional next step."""

    def __init__(self, message: str, *, fix: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.fix = fix

    def __str__(self) -> str:
        return self.message if not self.fix else f"{self.message}\n  fix: {self.fix}"


class BadInput(DomainError):
    """A file or value given by the person is wrong: names where (file:line, field) and what is wrong."""

    def __init__(
        self,
        message: str,
        *,
        path: str | None = None,
        line: int | None = None,
        field: str | None = None,
        fix: str | None = None,
    ) -> None:
        where = ""
        if path is not None:
            where = str(path) + (f":{line}" if line is not None else "") + ": "
        if field is not None:
            where += f"{field}: "
        super().__init__(where + message, fix=fix)
        self.path = path
        self.line = line
        self.field = field


class ExternalFailure(DomainError):
    """An external program or service failed (llama-server, EvalPlus, the hub)."""
