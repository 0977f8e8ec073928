"""Schema versions as small ordered functions, each applied once and recorded in a table.

The pattern of Simon Willison's ``llm`` (llm/migrations.py): append a new function to change the
schema; never edit one that has shipped. ``migrate`` applies the missing ones in order, each in
its own transaction together with its record, so a crash leaves the database at a known version.
"""
from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime, timezone

from sqlalchemy import Connection, text

Migration = Callable[[Connection], None]
MIGRATIONS: list[tuple[str, Migration]] = []


def migration(func: Migration) -> Migration:
    MIGRATIONS.append((func.__name__, func))
    return func


@migration
def m001_initial(conn: Connection) -> None:
    conn.execute(text("""
        CREATE TABLE candidates (
            id INTEGER PRIMARY KEY,
            name TEXT NOT NULL UNIQUE,
            state TEXT NOT NULL,
            options TEXT NOT NULL DEFAULT '{}',
            path TEXT NOT NULL DEFAULT '[]',
            version INTEGER NOT NULL DEFAULT 1,
            created_at TEXT NOT NULL,
            updated_at TEXT NOT NULL,
            lease_pid INTEGER,
            lease_host TEXT,
            lease_started REAL,
            lease_at TEXT,
            lease_command TEXT
        )"""))
    conn.execute(text("""
        CREATE TABLE steps (
            id INTEGER PRIMARY KEY,
            candidate_id INTEGER NOT NULL REFERENCES candidates(id) ON DELETE CASCADE,
            kind TEXT NOT NULL,
            from_state TEXT NOT NULL,
            to_state TEXT NOT NULL,
            status TEXT NOT NULL,
            argv TEXT NOT NULL DEFAULT '[]',
            started_at TEXT NOT NULL,
            finished_at TEXT
        )"""))
    conn.execute(text("""
        CREATE TABLE undo_records (
            id INTEGER PRIMARY KEY,
            step_id INTEGER NOT NULL REFERENCES steps(id) ON DELETE CASCADE,
            candidate_id INTEGER NOT NULL REFERENCES candidates(id) ON DELETE CASCADE,
            file TEXT NOT NULL,
            kind TEXT NOT NULL,
            key TEXT,
            before TEXT,
            after TEXT,
            state TEXT NOT NULL,
            created_at TEXT NOT NULL
        )"""))
    conn.execute(text("""
        CREATE TABLE events (
            id INTEGER PRIMARY KEY,
            candidate_id INTEGER NOT NULL REFERENCES candidates(id) ON DELETE CASCADE,
            at TEXT NOT NULL,
            kind TEXT NOT NULL,
            trigger TEXT,
            from_state TEXT,
            to_state TEXT,
            argv TEXT NOT NULL DEFAULT '[]',
            ok INTEGER NOT NULL DEFAULT 1,
            detail TEXT NOT NULL DEFAULT '{}'
        )"""))


@migration
def m002_guard_results(conn: Connection) -> None:
    """Latest result of each guard, so `status` shows them without re-checking."""
    conn.execute(text("""
        CREATE TABLE guard_results (
            candidate_id INTEGER NOT NULL REFERENCES candidates(id) ON DELETE CASCADE,
            phase TEXT NOT NULL,
            name TEXT NOT NULL,
            passed INTEGER NOT NULL,
            reason TEXT NOT NULL,
            fix TEXT,
            checked_at TEXT NOT NULL,
            PRIMARY KEY (candidate_id, phase, name)
        )"""))
    conn.execute(text("CREATE INDEX events_candidate ON events(candidate_id, id)"))
    conn.execute(text("CREATE INDEX steps_open ON steps(candidate_id, status)"))


@migration
def m003_measurements(conn: Connection) -> None:
    """Predicted and measured memory per device, per rig and backend (calibration of later plans)."""
    conn.execute(text("""
        CREATE TABLE measurements (
            id INTEGER PRIMARY KEY,
            candidate_id INTEGER REFERENCES candidates(id) ON DELETE SET NULL,
            rig TEXT NOT NULL,
            backend TEXT NOT NULL,
            device TEXT NOT NULL,
            what TEXT NOT NULL,
            predicted_mib REAL,
            measured_mib REAL,
            at TEXT NOT NULL
        )"""))


# Where each fact an older onboard kept among the options lives now: phase -> the keys it found.
# Frozen with this migration (a later change of the records gets its own migration).
_FACTS_BY_PHASE_M004: dict[str, tuple[str, ...]] = {
    "evaluate": ("repo_source", "repo_note", "model_folder", "pypi_gguf", "display_name", "architecture",
                 "architecture_source", "quants", "quant_listing", "recommended_quant", "evaluated_ctx",
                 "chat", "evaluate_error", "_repo_source"),
    "download": ("model_dir",),
    "profile": ("plan", "references"),
    "samplers": ("samplers", "samplers_written"),
    "test": ("test", "suggestion", "measured"),
    "bench-profile": ("bench_plan",),
    "benchmark": ("benchmark",),
    "workflow": ("_skipped_into",),
    "adopt": ("adopted", "profile", "tested", "speed_tps", "memory_gb", "strategy", "kind"),
}


@migration
def m004_facts_apart_from_choices(conn: Connection) -> None:
    """The person's choices (``options``) apart from what the phases found (``facts``, keyed by phase).

    Moves every fact key of ``_FACTS_BY_PHASE_M004`` out of each candidate's options; an adopted
    candidate's keys go to ``facts["adopt"]``; any other key stays a choice."""

    conn.execute(text("ALTER TABLE candidates ADD COLUMN facts TEXT NOT NULL DEFAULT '{}'"))
    rows = conn.execute(text("SELECT id, options FROM candidates")).all()
    for cid, raw in rows:
        options = json.loads(raw or "{}")
        facts: dict[str, dict] = {}
        for phase, keys in _FACTS_BY_PHASE_M004.items():
            if phase == "adopt" and not options.get("adopted"):
                continue
            found = {k: options.pop(k) for k in keys if k in options}
            if found:
                facts[phase] = found
        conn.execute(text("UPDATE candidates SET options = :o, facts = :f WHERE id = :id"),
                     {"o": json.dumps(options, sort_keys=True), "f": json.dumps(facts, sort_keys=True), "id": cid})


def applied(conn: Connection) -> list[str]:
    conn.execute(text(
        "CREATE TABLE IF NOT EXISTS _migrations (name TEXT PRIMARY KEY, applied_at TEXT NOT NULL)"))
    return [row[0] for row in conn.execute(text("SELECT name FROM _migrations ORDER BY rowid"))]


def migrate(engine, upto: str | None = None) -> list[str]:
    """Apply every migration not yet recorded (up to and including ``upto``); return their names."""
    done: list[str] = []
    with engine.begin() as conn:
        already = set(applied(conn))
    for name, func in MIGRATIONS:
        if name not in already:
            with engine.begin() as conn:
                func(conn)
                conn.execute(text("INSERT INTO _migrations (name, applied_at) VALUES (:n, :at)"),
                             {"n": name, "at": datetime.now(timezone.utc).isoformat(timespec="seconds")})
            done.append(name)
        if name == upto:
            break
    return done


def latest() -> str:
    return MIGRATIONS[-1][0]
