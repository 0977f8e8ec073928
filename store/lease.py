"""A command's lease on one candidate: compare-and-swap on its row (pid, process start time, host).

A lease whose process is gone (psutil) is stale and taken over, so a killed command never blocks
the next one. Only commands that change a candidate take a lease; reading needs none.
"""
from __future__ import annotations

import os
import socket
from dataclasses import dataclass

import psutil
from sqlalchemy import text
from sqlalchemy.orm import Session

from onboard.llamacpp.errors import Exit, OnboardError
from onboard.store.db import utcnow


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
    row = session.execute(
        text("SELECT lease_pid, lease_host, lease_started, lease_at, lease_command FROM candidates WHERE id=:id"),
        {"id": candidate_id},
    ).one()
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
        params = {"id": candidate_id, "pid": holder.pid, "host": holder.host, "started": holder.started,
                  "at": utcnow(), "cmd": holder.command}
        if current is None:
            cond = "lease_pid IS NULL"
        else:
            cond = "lease_pid = :opid AND lease_host = :ohost AND lease_started = :ostarted"
            params.update(opid=current.pid, ohost=current.host, ostarted=current.started)
        result = session.execute(
            text("UPDATE candidates SET lease_pid=:pid, lease_host=:host, lease_started=:started, "
                 f"lease_at=:at, lease_command=:cmd WHERE id=:id AND {cond}"),
            params,
        )
        session.commit()
        if result.rowcount == 1:
            return current
    current = current_holder(session, candidate_id)
    raise Busy(current or holder)


def release(session: Session, candidate_id: int, holder: Holder) -> None:
    session.execute(
        text("UPDATE candidates SET lease_pid=NULL, lease_host=NULL, lease_started=NULL, lease_at=NULL, "
             "lease_command=NULL WHERE id=:id AND lease_pid=:pid AND lease_host=:host"),
        {"id": candidate_id, "pid": holder.pid, "host": holder.host},
    )
    session.commit()
