"""Looking a candidate up by name, with close matches: shared by the engine and the read-only commands."""
from __future__ import annotations


from sqlalchemy import select
from sqlalchemy.orm import Session

from onboard.store.schema import Candidate
from onboard.store.suggest import did_you_mean
from onboard.workflow.errors import WorkflowError
from onboard.workflow.exit_codes import Exit


def load_candidate(session: Session, name: str) -> Candidate:
    cand = session.scalar(select(Candidate).where(Candidate.name == name))
    if cand is None:
        names = list(session.scalars(select(Candidate.name)))
        hint = did_you_mean(name, names, cutoff=0.5)
        raise WorkflowError(Exit.UNKNOWN, f"unknown candidate {name!r}" + (f"; {hint}" if hint else ""),
                            fix="onboard list --all" if not hint else None)
    return cand
