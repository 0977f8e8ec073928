"""Predicted and measured memory per device, kept per rig and backend.

The test phase records one row per device and buffer kind after each launch; ``status`` shows them
beside each other, and ``calibration`` gives the measured/predicted ratios a later plan on the same
rig and backend can be checked against.
"""
from __future__ import annotations

import statistics
from collections.abc import Iterable

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from onboard.store.db import utcnow
from onboard.store.schema import Measurement


def record(sessions: sessionmaker[Session], candidate_id: int, rig: str,
           rows: Iterable[tuple[str, str, str, float | None, float | None]]) -> int:
    """Store ``(backend, device, what, predicted_mib, measured_mib)`` rows; returns how many."""
    count = 0
    with sessions() as session:
        for backend, device, what, predicted, measured in rows:
            session.add(Measurement(candidate_id=candidate_id, rig=rig, backend=backend, device=device, what=what,
                                    predicted_mib=predicted, measured_mib=measured, at=utcnow()))
            count += 1
        session.commit()
    return count


def calibration(sessions: sessionmaker[Session], rig: str, backend: str) -> dict[str, float]:
    """Median measured/predicted per buffer kind (weights, kv, compute) on this rig and backend."""
    ratios: dict[str, list[float]] = {}
    with sessions() as session:
        for m in session.scalars(select(Measurement).where(Measurement.rig == rig, Measurement.backend == backend)):
            if m.predicted_mib and m.measured_mib is not None:
                ratios.setdefault(m.what, []).append(m.measured_mib / m.predicted_mib)
    return {what: statistics.median(values) for what, values in ratios.items()}
