"""ORM mapping (SQLAlchemy 2.x) of the tables that ``store.migrations`` creates.

The migrations own the DDL; these classes only map it. A test checks that both agree.
``Candidate.version`` is SQLAlchemy's version counter: every UPDATE of a candidate checks the
version it read, so two commands can never both commit a change of the same candidate.
"""
from __future__ import annotations

import json
from typing import Any

from sqlalchemy import ForeignKey, Integer, String, Text, Float
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    pass


class Candidate(Base):
    __tablename__ = "candidates"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String, unique=True)
    state: Mapped[str] = mapped_column(String)
    options_json: Mapped[str] = mapped_column("options", Text, default="{}")
    path_json: Mapped[str] = mapped_column("path", Text, default="[]")
    version: Mapped[int] = mapped_column(Integer, nullable=False)
    created_at: Mapped[str] = mapped_column(String)
    updated_at: Mapped[str] = mapped_column(String)
    lease_pid: Mapped[int | None] = mapped_column(Integer)
    lease_host: Mapped[str | None] = mapped_column(String)
    lease_started: Mapped[float | None] = mapped_column(Float)
    lease_at: Mapped[str | None] = mapped_column(String)
    lease_command: Mapped[str | None] = mapped_column(String)

    __mapper_args__ = {"version_id_col": version}

    @property
    def options(self) -> dict[str, Any]:
        return json.loads(self.options_json or "{}")

    @options.setter
    def options(self, value: dict[str, Any]) -> None:
        self.options_json = json.dumps(value, sort_keys=True)

    @property
    def path(self) -> list[str]:
        """The phases this candidate entered, in order (rollback returns along it)."""
        return json.loads(self.path_json or "[]")

    @path.setter
    def path(self, value: list[str]) -> None:
        self.path_json = json.dumps(value)


class Step(Base):
    """One journalled unit of work (an advance, a rollback, a run); ``status`` open/done/undone."""

    __tablename__ = "steps"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    candidate_id: Mapped[int] = mapped_column(ForeignKey("candidates.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String)
    from_state: Mapped[str] = mapped_column(String)
    to_state: Mapped[str] = mapped_column(String)
    status: Mapped[str] = mapped_column(String)
    argv: Mapped[str] = mapped_column(Text, default="[]")
    started_at: Mapped[str] = mapped_column(String)
    finished_at: Mapped[str | None] = mapped_column(String)


class UndoRecord(Base):
    """A file change made by a step, recorded BEFORE the file is written.

    ``kind`` says how to undo it by meaning: ``conf_section`` (the section ``key`` of models.conf),
    ``block`` (a marked block), ``file`` (a whole file owned by the candidate), ``hunk`` (lines changed
    in a person's file; ``key`` holds its label and the unchanged lines around it). ``before``/``after`` hold that place's text
    (None = absent). ``state``: pending (recorded, maybe written), undone.
    """

    __tablename__ = "undo_records"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    step_id: Mapped[int] = mapped_column(ForeignKey("steps.id", ondelete="CASCADE"))
    candidate_id: Mapped[int] = mapped_column(ForeignKey("candidates.id", ondelete="CASCADE"))
    file: Mapped[str] = mapped_column(String)
    kind: Mapped[str] = mapped_column(String)
    key: Mapped[str | None] = mapped_column(String)
    before: Mapped[str | None] = mapped_column(Text)
    after: Mapped[str | None] = mapped_column(Text)
    state: Mapped[str] = mapped_column(String)
    created_at: Mapped[str] = mapped_column(String)


class Event(Base):
    __tablename__ = "events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    candidate_id: Mapped[int] = mapped_column(ForeignKey("candidates.id", ondelete="CASCADE"))
    at: Mapped[str] = mapped_column(String)
    kind: Mapped[str] = mapped_column(String)
    trigger: Mapped[str | None] = mapped_column(String)
    from_state: Mapped[str | None] = mapped_column(String)
    to_state: Mapped[str | None] = mapped_column(String)
    argv: Mapped[str] = mapped_column(Text, default="[]")
    ok: Mapped[bool] = mapped_column(Integer, default=1)
    detail: Mapped[str] = mapped_column(Text, default="{}")


class GuardResult(Base):
    __tablename__ = "guard_results"

    candidate_id: Mapped[int] = mapped_column(ForeignKey("candidates.id", ondelete="CASCADE"), primary_key=True)
    phase: Mapped[str] = mapped_column(String, primary_key=True)
    name: Mapped[str] = mapped_column(String, primary_key=True)
    passed: Mapped[bool] = mapped_column(Integer)
    reason: Mapped[str] = mapped_column(Text)
    fix: Mapped[str | None] = mapped_column(Text)
    checked_at: Mapped[str] = mapped_column(String)


class Measurement(Base):
    __tablename__ = "measurements"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    candidate_id: Mapped[int | None] = mapped_column(ForeignKey("candidates.id", ondelete="SET NULL"))
    rig: Mapped[str] = mapped_column(String)
    backend: Mapped[str] = mapped_column(String)
    device: Mapped[str] = mapped_column(String)
    what: Mapped[str] = mapped_column(String)
    predicted_mib: Mapped[float | None] = mapped_column(Float)
    measured_mib: Mapped[float | None] = mapped_column(Float)
    at: Mapped[str] = mapped_column(String)
