"""The workflow database's tables: the one description of its schema (SQLAlchemy Core).

Reading commands (status, list, history) query these tables with Core ``select`` and never load the
ORM; the engine, which writes, maps its classes onto the same tables (``store.schema``). The
migrations (``store.migrations``) are the history of how a database reaches this schema; a test
checks that a migrated database has exactly these tables and columns.
``candidates.version`` is the ORM's version counter: every UPDATE of a candidate checks the version
it read, so two commands can never both commit a change of the same candidate.
"""
from __future__ import annotations

from sqlalchemy import Column, Float, ForeignKey, Index, Integer, MetaData, String, Table, Text

metadata = MetaData()

candidates = Table(
    "candidates", metadata,
    Column("id", Integer, primary_key=True),
    Column("name", String, unique=True, nullable=False),
    Column("state", String, nullable=False),
    # the person's choices (--repo, --quant, --ctx, ...), a JSON object
    Column("options", Text, nullable=False, default="{}"),
    # what each phase found, a JSON object keyed by phase name (each value that phase's record)
    Column("facts", Text, nullable=False, default="{}"),
    # the phases this candidate entered, in order (rollback returns along it), a JSON list
    Column("path", Text, nullable=False, default="[]"),
    Column("version", Integer, nullable=False),
    Column("created_at", String, nullable=False),
    Column("updated_at", String, nullable=False),
    Column("lease_pid", Integer),
    Column("lease_host", String),
    Column("lease_started", Float),
    Column("lease_at", String),
    Column("lease_command", String),
)

# One journalled unit of work (an advance, a rollback, a run); status open/done/undone.
steps = Table(
    "steps", metadata,
    Column("id", Integer, primary_key=True),
    Column("candidate_id", Integer, ForeignKey("candidates.id", ondelete="CASCADE"), nullable=False),
    Column("kind", String, nullable=False),
    Column("from_state", String, nullable=False),
    Column("to_state", String, nullable=False),
    Column("status", String, nullable=False),
    Column("argv", Text, nullable=False, default="[]"),
    Column("started_at", String, nullable=False),
    Column("finished_at", String),
    Index("steps_open", "candidate_id", "status"),
)

# A file change made by a step, recorded BEFORE the file is written. ``kind`` says how to undo it by
# meaning: conf_section (the section ``key`` of models.conf), block (a marked block), file (a whole
# file owned by the candidate), hunk (lines changed in a person's file; ``key`` holds its label and
# the unchanged lines around it). before/after hold that place's text (None = absent).
# ``state``: pending (recorded, maybe written), undone.
undo_records = Table(
    "undo_records", metadata,
    Column("id", Integer, primary_key=True),
    Column("step_id", Integer, ForeignKey("steps.id", ondelete="CASCADE"), nullable=False),
    Column("candidate_id", Integer, ForeignKey("candidates.id", ondelete="CASCADE"), nullable=False),
    Column("file", String, nullable=False),
    Column("kind", String, nullable=False),
    Column("key", String),
    Column("before", Text),
    Column("after", Text),
    Column("state", String, nullable=False),
    Column("created_at", String, nullable=False),
)

events = Table(
    "events", metadata,
    Column("id", Integer, primary_key=True),
    Column("candidate_id", Integer, ForeignKey("candidates.id", ondelete="CASCADE"), nullable=False),
    Column("at", String, nullable=False),
    Column("kind", String, nullable=False),
    Column("trigger", String),
    Column("from_state", String),
    Column("to_state", String),
    Column("argv", Text, nullable=False, default="[]"),
    Column("ok", Integer, nullable=False, default=1),
    Column("detail", Text, nullable=False, default="{}"),
    Index("events_candidate", "candidate_id", "id"),
)

# The latest result of each guard, so `status` shows them without checking again.
guard_results = Table(
    "guard_results", metadata,
    Column("candidate_id", Integer, ForeignKey("candidates.id", ondelete="CASCADE"), primary_key=True),
    Column("phase", String, primary_key=True),
    Column("name", String, primary_key=True),
    Column("passed", Integer, nullable=False),
    Column("reason", Text, nullable=False),
    Column("fix", Text),
    Column("checked_at", String, nullable=False),
)

# Predicted and measured memory per device, per rig and backend (the calibration of later plans).
measurements = Table(
    "measurements", metadata,
    Column("id", Integer, primary_key=True),
    Column("candidate_id", Integer, ForeignKey("candidates.id", ondelete="SET NULL")),
    Column("rig", String, nullable=False),
    Column("backend", String, nullable=False),
    Column("device", String, nullable=False),
    Column("what", String, nullable=False),
    Column("predicted_mib", Float),
    Column("measured_mib", Float),
    Column("at", String, nullable=False),
)
