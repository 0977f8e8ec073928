"""The one error type of onboard, and the exit codes it maps to.

Every error a person can act on is an :class:`OnboardError`: it carries the exit code, the message
(naming the file, line or field where there is one) and the next step (``fix``). The CLI renders it
in one place (``workflow.commands._common.handle_errors``): as text, or as one JSON object on stderr
under ``--json``. This module is the lowest layer (llamacpp -> store -> phases -> workflow), so every
layer can raise it without importing upward.
"""
from __future__ import annotations

from enum import IntEnum
from typing import Any


class Exit(IntEnum):
    OK = 0
    GUARD = 1  # a guard held the candidate back
    USAGE = 2  # wrong command line (click's own code)
    UNKNOWN = 3  # unknown candidate
    WRONG_STATE = 4  # command not valid in the candidate's phase
    BUSY = 5  # another command holds the candidate's lease
    BAD_INPUT = 6  # a file, line or field is wrong
    CONFLICT = 7  # rollback would overwrite someone's edit
    EXTERNAL = 8  # llama-server, EvalPlus or the hub failed
    INTERRUPTED = 130  # Ctrl-C (128 + SIGINT): the step in progress was undone
    TERMINATED = 143  # SIGTERM (128 + 15): the step in progress was undone


MEANING: dict[Exit, str] = {
    Exit.OK: "done",
    Exit.GUARD: "a guard held the candidate back (status shows which and how to fix it)",
    Exit.USAGE: "usage error",
    Exit.UNKNOWN: "unknown candidate",
    Exit.WRONG_STATE: "the command does not apply to the candidate's current phase",
    Exit.BUSY: "another command is working on this candidate (or kept the repository's files locked for minutes)",
    Exit.BAD_INPUT: "bad input: the message names the file, line or field",
    Exit.CONFLICT: "conflict: undoing would overwrite someone else's edit",
    Exit.EXTERNAL: "an external program failed (llama-server, EvalPlus, the hub), or the disk is full",
    Exit.INTERRUPTED: "interrupted by Ctrl-C: the step in progress was undone; the same command goes on",
    Exit.TERMINATED: "terminated (SIGTERM): the step in progress was undone; the same command goes on",
}


class OnboardError(Exception):
    """Base class: ``code`` (an :class:`Exit`), ``message``, ``fix`` and, where known, the place
    (``path``, ``line``, ``field``). ``str(err)`` is the message, then the fix on its own line.

    Subclasses set ``code`` as a class attribute; ``code=`` overrides it for one error.
    """

    code: Exit = Exit.BAD_INPUT

    def __init__(
        self,
        message: str,
        *,
        fix: str | None = None,
        code: Exit | int | None = None,
        path: Any = None,
        line: int | None = None,
        field: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.fix = fix
        if code is not None:
            self.code = Exit(code)
        self.path = path
        self.line = line
        self.field = field

    def __str__(self) -> str:
        return self.message if not self.fix else f"{self.message}\n  fix: {self.fix}"

    def to_json(self) -> dict[str, Any]:
        """The error as ``--json`` prints it: code, name, message, fix, and the place when known."""
        out: dict[str, Any] = {"code": int(self.code), "name": self.code.name, "message": self.message,
                               "fix": self.fix}
        if self.path is not None:
            out["path"] = str(self.path)
        if self.line is not None:
            out["line"] = self.line
        if self.field is not None:
            out["field"] = self.field
        return out


class DomainError(OnboardError):
    """An error of the llama.cpp domain (a file, a model, a program): what ``except DomainError`` in
    the phases catches, apart from the workflow's and the store's own errors."""


class BadInput(DomainError):
    """A file or value given by the person is wrong: names where (file:line, field) and what is wrong.

    ``message`` is prefixed with the place (``path:line: field: ``); ``detail`` is the bare text."""

    code = Exit.BAD_INPUT

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
        super().__init__(where + message, fix=fix, path=path, line=line, field=field)
        self.detail = message


class ExternalFailure(DomainError):
    """An external program or service failed (llama-server, EvalPlus, the hub)."""

    code = Exit.EXTERNAL
