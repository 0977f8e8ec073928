"""Read-only queries the status, list and history commands use (no lease, no phase code)."""
from __future__ import annotations

import json
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from store.schema import Candidate, Event, GuardResult, Measurement, Step


def candidates(session: Session, *, include_final: bool, final_states: tuple[str, ...]) -> list[Candidate]:
    query = select(Candidate).order_by(Candidate.updated_at.desc(), Candidate.name)
    if not include_final:
        query = query.where(Candidate.state.not_in(final_states))
    return list(session.scalars(query))


def guards(session: Session, cand: Candidate) -> list[GuardResult]:
    return list(session.scalars(select(GuardResult).where(
        GuardResult.candidate_id == cand.id, GuardResult.phase == cand.state)))


def guard_counts(session: Session) -> dict[int, tuple[int, int]]:
    """candidate id -> (passed, total) of the stored results for its current phase."""
    rows = session.execute(
        select(GuardResult.candidate_id, func.sum(GuardResult.passed), func.count())
        .join(Candidate, Candidate.id == GuardResult.candidate_id)
        .where(GuardResult.phase == Candidate.state)
        .group_by(GuardResult.candidate_id))
    return {cid: (int(passed or 0), int(total)) for cid, passed, total in rows}


def open_step(session: Session, cand: Candidate) -> Step | None:
    return session.scalar(select(Step).where(Step.candidate_id == cand.id, Step.status == "open")
                          .order_by(Step.id.desc()))


def events(session: Session, cand: Candidate) -> list[dict[str, Any]]:
    rows = session.scalars(select(Event).where(Event.candidate_id == cand.id).order_by(Event.id))
    return [{"seq": i, "at": e.at, "kind": e.kind, "trigger": e.trigger, "from": e.from_state,
             "to": e.to_state, "argv": json.loads(e.argv), "ok": bool(e.ok), "detail": json.loads(e.detail)}
            for i, e in enumerate(rows, start=1)]


def predicted_vs_measured(session: Session, cand: Candidate) -> list[dict[str, Any]]:
    rows = session.scalars(select(Measurement).where(Measurement.candidate_id == cand.id)
                           .order_by(Measurement.id))
    return [{"device": m.device, "what": m.what, "predicted_mib": m.predicted_mib,
             "measured_mib": m.measured_mib, "rig": m.rig, "backend": m.backend, "at": m.at} for m in rows]
