"""A command's lease on one candidate: compare-and-swap on its row (pid, process start time, host).

A lease whose process is gone (psutil) is stale and taken over, so a killed command never blocks
the next one. Only commands that change a candidate take a lease; reading needs none.
"""
from __future__ import annotations

import os
import socket
from dataclasses import dataclass

import psutil
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from onboard.llamacpp.errors import Exit, OnboardError
from onboard.store.db import utcnow
from onboard.store.tables import candidates as C


@dataclass(frozen=True)
class Holder:
    pid: int
    host: str
    started: float
    at: str | None = None
    command: str | None = None

    def describe(self) -> str:
        what = f"`{self.command}`" if self.command else "another command"
        return f"{what} (pid {self.pid} on {self.host}, since {self.at})"


class Busy(OnboardError):
    """Another live process holds the lease (exit 5). The engine turns it into a message naming the
    candidate; raised elsewhere it still exits with the busy code."""

    code = Exit.BUSY

    def __init__(self, holder: Holder) -> None:
        super().__init__(holder.describe())
        self.holder = holder


def me(command: str | None = None) -> Holder:
    proc = psutil.Process(os.getpid())
    return Holder(pid=proc.pid, host=socket.gethostname(), started=proc.create_time(), command=command)


def is_alive(holder: Holder) -> bool:
    """True when the holder's process still runs (same pid AND same start time on this host).

    A lease from another host cannot be checked from here and counts as alive.
    """
    if holder.host != socket.gethostname():
        return True
    try:
        proc = psutil.Process(holder.pid)
        return abs(proc.create_time() - holder.started) < 0.01 and proc.status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def current_holder(session: Session, candidate_id: int) -> Holder | None:
    row = session.execute(select(C.c.lease_pid, C.c.lease_host, C.c.lease_started, C.c.lease_at, C.c.lease_command)
                          .where(C.c.id == candidate_id)).one()
    if row[0] is None:
        return None
    return Holder(pid=row[0], host=row[1], started=row[2], at=row[3], command=row[4])


def acquire(session: Session, candidate_id: int, holder: Holder) -> Holder | None:
    """Take the lease; returns the stale holder taken over (or None). Raises Busy."""
    for _ in range(3):
        current = current_holder(session, candidate_id)
        if current is not None and current.pid == holder.pid and current.host == holder.host:
            return None
        if current is not None and is_alive(current):
            raise Busy(current)
        if current is None:
            free = C.c.lease_pid.is_(None)
        else:  # taken over only from the very holder found stale (another command may be quicker)
            free = (C.c.lease_pid == current.pid) & (C.c.lease_host == current.host) \
                & (C.c.lease_started == current.started)
        result = session.execute(update(C).where(C.c.id == candidate_id, free).values(
            lease_pid=holder.pid, lease_host=holder.host, lease_started=holder.started, lease_at=utcnow(),
            lease_command=holder.command))
        session.commit()
        if result.rowcount == 1:
            return current
    current = current_holder(session, candidate_id)
    raise Busy(current or holder)


def release(session: Session, candidate_id: int, holder: Holder) -> None:
    session.execute(update(C).where(C.c.id == candidate_id, C.c.lease_pid == holder.pid, C.c.lease_host == holder.host)
                    .values(lease_pid=None, lease_host=None, lease_started=None, lease_at=None, lease_command=None))
    session.commit()
