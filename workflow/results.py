"""What the workflow engine's commands return: plain records, never printed by the engine.

The command line renders them for people (``workflow.render``) or as JSON (``to_json``, whose shape
``workflow.json_schemas`` describes and a test checks against the real output). A phase's own lines
(the fit table, the launch's progress) are in ``notes``, in the order they were reported.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class GuardOutcome:
    """One guard, checked: whether it passes, why (a reason a person can act on), and what makes it pass."""

    name: str
    passed: bool | None  # None: not checked yet (a stored result that does not exist)
    reason: str
    fix: str | None
    checked_at: str | None

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "passed": self.passed, "reason": self.reason, "fix": self.fix,
                "checked_at": self.checked_at}


@dataclass
class StepResult:
    """What one workflow command (start, advance, rollback, abandon) did to one candidate.

    ``moved``: whether the candidate changed phase (from ``from_phase`` to ``to_phase``). ``guards``:
    the guards of ``guards_phase`` as this command checked them: those holding the candidate back when
    it stayed, the new phase's when it moved on. ``undone_changes``: places of files put back (rollback,
    abandon --undo). ``exit_code``: the code the command ends with (0, or 1 when a guard held it back)."""

    command: str
    name: str
    from_phase: str | None
    to_phase: str | None
    moved: bool
    guards_phase: str | None = None
    guards: list[GuardOutcome] = field(default_factory=list)
    undone_changes: int | None = None
    notes: list[str] = field(default_factory=list)
    exit_code: int = 0

    @property
    def failed(self) -> list[GuardOutcome]:
        return [g for g in self.guards if g.passed is False]

    def to_json(self) -> dict[str, Any]:
        return {"command": self.command, "name": self.name, "from_phase": self.from_phase,
                "to_phase": self.to_phase, "moved": self.moved, "guards_phase": self.guards_phase,
                "guards": [g.to_json() for g in self.guards], "undone_changes": self.undone_changes,
                "notes": list(self.notes), "exit_code": self.exit_code}


@dataclass
class CheckResult:
    """``status --check``: the current phase's guards evaluated now, and the triggers they allow
    (transitions' ``may_<trigger>``)."""

    name: str
    phase: str
    guards: list[GuardOutcome] = field(default_factory=list)
    allowed: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
