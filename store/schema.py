"""The ORM classes the engine writes through (SQLAlchemy 2.x), mapped onto ``store.tables``.

The tables are described once, in ``store.tables``: the columns are not repeated here (each class maps
its table's columns as attributes of the same names); these classes only add what the engine needs:
the JSON columns read and written as Python values, and SQLAlchemy's version counter on
``Candidate.version`` (every UPDATE of a candidate checks the version it read, so two commands can
never both commit a change of the same candidate).
"""
from __future__ import annotations

import json
from typing import Any

from sqlalchemy.orm import DeclarativeBase, Mapped

from onboard.store import tables


class Base(DeclarativeBase):
    metadata = tables.metadata


class Candidate(Base):
    __table__ = tables.candidates
    __mapper_args__ = {"version_id_col": tables.candidates.c.version}

    options_json: Mapped[str] = tables.candidates.c.options
    facts_json: Mapped[str] = tables.candidates.c.facts
    path_json: Mapped[str] = tables.candidates.c.path

    @property
    def options(self) -> dict[str, Any]:
        """The person's choices (--repo, --quant, --ctx, ...)."""
        return json.loads(self.options_json or "{}")

    @options.setter
    def options(self, value: dict[str, Any]) -> None:
        self.options_json = json.dumps(value, sort_keys=True)

    @property
    def facts(self) -> dict[str, dict[str, Any]]:
        """What each phase found, keyed by phase name (each value that phase's record as a dict)."""
        return json.loads(self.facts_json or "{}")

    @facts.setter
    def facts(self, value: dict[str, dict[str, Any]]) -> None:
        self.facts_json = json.dumps(value, sort_keys=True)

    @property
    def path(self) -> list[str]:
        """The phases this candidate entered, in order (rollback returns along it)."""
        return json.loads(self.path_json or "[]")

    @path.setter
    def path(self, value: list[str]) -> None:
        self.path_json = json.dumps(value)


class Step(Base):
    """One journalled unit of work (an advance, a rollback, a run); ``status`` open/done/undone."""

    __table__ = tables.steps


class UndoRecord(Base):
    """A file change made by a step, recorded before the file is written (see ``store.tables``)."""

    __table__ = tables.undo_records


class Event(Base):
    __table__ = tables.events


class GuardResult(Base):
    __table__ = tables.guard_results


class Measurement(Base):
    __table__ = tables.measurements
