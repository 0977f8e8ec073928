"""Read-only queries the status, list and history commands use: no lease, no phase code and no ORM
(SQLAlchemy Core on ``store.tables``), so that reading stays as fast as loading the libraries it
needs. The workflow engine, which writes, uses the ORM classes of ``store.schema``.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, and_, func, select

from onboard.store import suggest
from onboard.store.tables import candidates as C, events as E, guard_results as G, measurements as M, steps as S


@dataclass(frozen=True)
class CandidateRow:
    id: int
    name: str
    state: str
    version: int
    updated_at: str
    options: dict[str, Any]
    facts: dict[str, dict[str, Any]]


def _row(r: Any) -> CandidateRow:
    return CandidateRow(r.id, r.name, r.state, r.version, r.updated_at, json.loads(r.options or "{}"),
                        json.loads(r.facts or "{}"))


_COLUMNS = (C.c.id, C.c.name, C.c.state, C.c.version, C.c.updated_at, C.c.options, C.c.facts)


def candidate(conn: Connection, name: str) -> CandidateRow | None:
    r = conn.execute(select(*_COLUMNS).where(C.c.name == name)).first()
    return None if r is None else _row(r)


def close_names(conn: Connection, name: str) -> list[str]:
    names = list(conn.scalars(select(C.c.name)))
    return suggest.close_names(name, names, cutoff=0.5)


def candidates(conn: Connection, *, include_final: bool, final_states: tuple[str, ...]) -> list[CandidateRow]:
    query = select(*_COLUMNS).order_by(C.c.updated_at.desc(), C.c.name)
    if not include_final:
        query = query.where(C.c.state.not_in(final_states))
    return [_row(r) for r in conn.execute(query)]


def guards(conn: Connection, cand: CandidateRow) -> list[Any]:
    return list(conn.execute(select(G.c.name, G.c.passed, G.c.reason, G.c.fix, G.c.checked_at)
                             .where(G.c.candidate_id == cand.id, G.c.phase == cand.state)))


def guard_counts(conn: Connection) -> dict[int, tuple[int, int]]:
    """candidate id -> (passed, total) of the stored results for its current phase."""
    rows = conn.execute(
        select(G.c.candidate_id, func.sum(G.c.passed), func.count())
        .join(C, and_(C.c.id == G.c.candidate_id, G.c.phase == C.c.state))
        .group_by(G.c.candidate_id))
    return {cid: (int(passed or 0), int(total)) for cid, passed, total in rows}


def open_step(conn: Connection, cand: CandidateRow) -> Any | None:
    return conn.execute(select(S.c.kind, S.c.from_state, S.c.to_state, S.c.started_at)
                        .where(S.c.candidate_id == cand.id, S.c.status == "open")
                        .order_by(S.c.id.desc())).first()


def started(conn: Connection, cand: CandidateRow) -> bool:
    """Whether the candidate's start step finished (a start cut short is run again by `onboard start`);
    an adopted candidate's adoption is its start."""
    return conn.execute(select(S.c.id).where(S.c.candidate_id == cand.id, S.c.kind.in_(("start", "adopt")),
                                             S.c.status == "done").limit(1)).first() is not None


def events(conn: Connection, cand: CandidateRow) -> list[dict[str, Any]]:
    rows = conn.execute(select(E.c.at, E.c.kind, E.c.trigger, E.c.from_state, E.c.to_state, E.c.argv, E.c.ok,
                               E.c.detail).where(E.c.candidate_id == cand.id).order_by(E.c.id))
    return [{"seq": i, "at": e.at, "kind": e.kind, "trigger": e.trigger, "from": e.from_state, "to": e.to_state,
             "argv": json.loads(e.argv), "ok": bool(e.ok), "detail": json.loads(e.detail)}
            for i, e in enumerate(rows, start=1)]


def predicted_vs_measured(conn: Connection, cand: CandidateRow) -> list[dict[str, Any]]:
    rows = conn.execute(select(M.c.device, M.c.what, M.c.predicted_mib, M.c.measured_mib, M.c.rig, M.c.backend,
                               M.c.at).where(M.c.candidate_id == cand.id).order_by(M.c.id))
    return [dict(r._mapping) for r in rows]
