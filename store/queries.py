"""Read-only queries the status, list and history commands use: no lease, no phase code, and no
ORM mapping (plain SQL through SQLAlchemy Core), so that reading stays as fast as loading the
libraries it needs. The workflow engine, which writes, uses the ORM classes of ``store.schema``.
"""
from __future__ import annotations

import difflib
import json
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, text


@dataclass(frozen=True)
class CandidateRow:
    id: int
    name: str
    state: str
    version: int
    updated_at: str
    options: dict[str, Any]


def _row(r: Any) -> CandidateRow:
    return CandidateRow(r.id, r.name, r.state, r.version, r.updated_at, json.loads(r.options or "{}"))


_COLUMNS = "id, name, state, version, updated_at, options"


def candidate(conn: Connection, name: str) -> CandidateRow | None:
    r = conn.execute(text(f"SELECT {_COLUMNS} FROM candidates WHERE name = :n"), {"n": name}).first()
    return None if r is None else _row(r)


def close_names(conn: Connection, name: str) -> list[str]:
    names = [r[0] for r in conn.execute(text("SELECT name FROM candidates"))]
    return difflib.get_close_matches(name, names, n=3, cutoff=0.5)


def candidates(conn: Connection, *, include_final: bool, final_states: tuple[str, ...]) -> list[CandidateRow]:
    where = "" if include_final else f"WHERE state NOT IN ({', '.join(repr(s) for s in final_states)})"
    rows = conn.execute(text(f"SELECT {_COLUMNS} FROM candidates {where} ORDER BY updated_at DESC, name"))
    return [_row(r) for r in rows]


def guards(conn: Connection, cand: CandidateRow) -> list[Any]:
    return list(conn.execute(text(
        "SELECT name, passed, reason, fix, checked_at FROM guard_results WHERE candidate_id = :c AND phase = :p"),
        {"c": cand.id, "p": cand.state}))


def guard_counts(conn: Connection) -> dict[int, tuple[int, int]]:
    """candidate id -> (passed, total) of the stored results for its current phase."""
    rows = conn.execute(text(
        "SELECT g.candidate_id, SUM(g.passed), COUNT(*) FROM guard_results g "
        "JOIN candidates c ON c.id = g.candidate_id AND g.phase = c.state GROUP BY g.candidate_id"))
    return {cid: (int(passed or 0), int(total)) for cid, passed, total in rows}


def open_step(conn: Connection, cand: CandidateRow) -> Any | None:
    return conn.execute(text("SELECT kind, from_state, to_state, started_at FROM steps "
                             "WHERE candidate_id = :c AND status = 'open' ORDER BY id DESC"), {"c": cand.id}).first()


def started(conn: Connection, cand: CandidateRow) -> bool:
    """Whether the candidate's start step finished (a start cut short is run again by `onboard start`);
    an adopted candidate's adoption is its start."""
    return conn.execute(text("SELECT 1 FROM steps WHERE candidate_id = :c AND kind IN ('start', 'adopt') "
                             "AND status = 'done' "
                             "LIMIT 1"), {"c": cand.id}).first() is not None


def events(conn: Connection, cand: CandidateRow) -> list[dict[str, Any]]:
    rows = conn.execute(text("SELECT at, kind, trigger, from_state, to_state, argv, ok, detail FROM events "
                             "WHERE candidate_id = :c ORDER BY id"), {"c": cand.id})
    return [{"seq": i, "at": e.at, "kind": e.kind, "trigger": e.trigger, "from": e.from_state, "to": e.to_state,
             "argv": json.loads(e.argv), "ok": bool(e.ok), "detail": json.loads(e.detail)}
            for i, e in enumerate(rows, start=1)]


def predicted_vs_measured(conn: Connection, cand: CandidateRow) -> list[dict[str, Any]]:
    rows = conn.execute(text("SELECT device, what, predicted_mib, measured_mib, rig, backend, at FROM measurements "
                             "WHERE candidate_id = :c ORDER BY id"), {"c": cand.id})
    return [dict(r._mapping) for r in rows]
