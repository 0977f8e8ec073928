"""What every workflow command shares: finding the repository and database, building the engine,
and turning errors into a message on stderr and the documented exit code."""
from __future__ import annotations

import errno
import functools
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from workflow.errors import WorkflowError
from workflow.exit_codes import Exit
from workflow.repo import resolve_db, resolve_root


def repo_paths(ctx: click.Context) -> tuple[Path, Path]:
    top = ctx.find_root()
    obj = top.obj or top.params or {}  # params: during shell completion the group's callback does not run
    root = resolve_root(obj.get("root"))
    return root, resolve_db(root, obj.get("db"))


def make_engine(ctx: click.Context):  # -> workflow.engine.Engine (imported lazily: read-only commands skip it)
    from workflow.engine import Engine

    root, db = repo_paths(ctx)
    return Engine(root, db, sys.argv[1:])


def handle_errors(func: Callable[..., Any]) -> Callable[..., Any]:
    """Map every error a person can act on to a message and its exit code; never a traceback."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            code = func(*args, **kwargs)
        except WorkflowError as err:
            click.echo(f"error: {err}", err=True)
            sys.exit(int(err.code))
        except Exception as err:  # domain errors carry their own class; imported lazily
            disk = disk_full_message(err)
            if disk is not None:
                click.echo(f"error: {disk}", err=True)
                sys.exit(int(DISK_FULL_EXIT))
            denied = write_denied_message(err)
            if denied is not None:
                click.echo(f"error: {denied}", err=True)
                sys.exit(int(Exit.BAD_INPUT))
            code = _domain_exit(err)
            if code is None:
                raise
            click.echo(f"error: {err}", err=True)
            sys.exit(code)
        if code:
            sys.exit(int(code))

    return wrapper


# A write that failed for lack of space (or a file size limit: RLIMIT_FSIZE, a quota) is reported
# with the external-failure code: the disk, not onboard's input or state, is what failed.
DISK_FULL_EXIT = Exit.EXTERNAL
_DISK_ERRNOS = {errno.ENOSPC, errno.EFBIG, getattr(errno, "EDQUOT", errno.ENOSPC)}
_SQLITE_DISK = ("database or disk is full", "disk i/o error")


def disk_full_message(err: BaseException) -> str | None:
    """The message for a write that failed because the disk (or a size limit) is full, else None.

    Looks through the exception's chain (the failed write may be the context of an error raised
    while the step was being undone): an OSError ENOSPC / EFBIG / EDQUOT names its file; SQLite's
    "database or disk is full" / "disk I/O error" (what a failed write of the database or its WAL
    becomes) names the workflow database. Nothing is lost in either case: files are replaced only
    once their new content is complete, and an interrupted step is undone by the next command.
    """
    chain: list[BaseException] = []
    seen: BaseException | None = err
    while seen is not None and seen not in chain:
        chain.append(seen)
        seen = seen.__cause__ or seen.__context__
    disk = [exc for exc in reversed(chain) if isinstance(exc, OSError) and exc.errno in _DISK_ERRNOS]
    if disk:  # the first failure (a failed close() after a failed write() chains a second one)
        what = next((exc.filename for exc in disk if exc.filename), None) or "a file"
        return _disk_text(str(what), disk[0].strerror or str(disk[0]))
    for exc in reversed(chain):
        orig = getattr(exc, "orig", exc)  # sqlalchemy wraps sqlite3's error
        if type(orig).__name__ == "OperationalError" and any(m in str(orig).lower() for m in _SQLITE_DISK):
            return _disk_text(_db_path(), str(orig).splitlines()[0])
    return None


_DENIED_ERRNOS = {errno.EACCES, errno.EPERM, errno.EROFS}


def write_denied_message(err: BaseException) -> str | None:
    """The message for a file onboard may not write (permissions, a read-only folder or mount), else None.

    The step that tried is undone like any failed step, so nothing is left half-written."""
    seen: BaseException | None = err
    while seen is not None:
        if isinstance(seen, OSError) and seen.errno in _DENIED_ERRNOS and seen.filename:
            return (f"cannot write {seen.filename}: {seen.strerror}. Nothing was changed: the step was undone"
                    "\n  fix: make the repository (or that file and its folder) writable for you, then run the "
                    "command again; reading commands (status, list, history) work as they are")
        seen = seen.__cause__ or seen.__context__
    return None


def _disk_text(what: str, reason: str) -> str:
    return (f"writing {what} failed: {reason} (the disk is full, or a disk quota or file size limit was "
            "reached). Nothing was lost: a file onboard writes is replaced only once its new content is "
            "complete, a step cut short is undone by the next command, and `onboard status` shows where "
            "the candidate stands\n  fix: free disk space and run the command again")


def _db_path() -> str:
    """The workflow database of this command, for the message (best effort)."""
    ctx = click.get_current_context(silent=True)
    try:
        return f"the workflow database {repo_paths(ctx)[1]}" if ctx is not None else "the workflow database"
    except Exception:  # noqa: BLE001 - only a message
        return "the workflow database"


def _domain_exit(err: Exception) -> int | None:
    journal = sys.modules.get("store.journal")
    if journal is not None and isinstance(err, journal.SectionNotOurs):
        return Exit.BAD_INPUT
    atomic = sys.modules.get("store.atomic")
    if atomic is not None and isinstance(err, atomic.OutsideRepository):
        return Exit.BAD_INPUT
    db = sys.modules.get("store.db")
    if db is not None and isinstance(err, db.DatabaseProblem):
        return Exit.BAD_INPUT
    repo_lock = sys.modules.get("store.repo_lock")
    if repo_lock is not None and isinstance(err, repo_lock.RepositoryBusy):
        return Exit.BUSY
    contract = sys.modules.get("phases.contract")
    if contract is not None and isinstance(err, contract.NotBuilt):
        return Exit.NOT_BUILT
    errors = sys.modules.get("llamacpp.errors")
    if errors is not None:
        if isinstance(err, errors.BadInput):
            return Exit.BAD_INPUT
        if isinstance(err, errors.ExternalFailure):
            return Exit.EXTERNAL
        if isinstance(err, errors.DomainError):
            return Exit.BAD_INPUT
    return None


def print_json(data: Any) -> None:
    click.echo(json.dumps(data, indent=2, sort_keys=False))
