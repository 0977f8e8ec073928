"""Exit codes of every `onboard` command: one table, used by the CLI and the README."""
from __future__ import annotations

from enum import IntEnum


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
    NOT_BUILT = 9  # the phase or feature is not built yet
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
    Exit.NOT_BUILT: "that phase or feature is not built yet",
    Exit.INTERRUPTED: "interrupted by Ctrl-C: the step in progress was undone; the same command goes on",
    Exit.TERMINATED: "terminated (SIGTERM): the step in progress was undone; the same command goes on",
}
