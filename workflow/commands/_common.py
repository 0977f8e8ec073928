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

from onboard.llamacpp.errors import Exit, OnboardError
from onboard.workflow.errors import WorkflowError
from onboard.workflow.repo import resolve_db, resolve_root


def repo_paths(ctx: click.Context) -> tuple[Path, Path]:
    top = ctx.find_root()
    obj = top.obj or top.params or {}  # params: during shell completion the group's callback does not run
    root = resolve_root(obj.get("root"))
    return root, resolve_db(root, obj.get("db"))


def workflow_engine(ctx: click.Context):  # -> workflow.engine.Engine (imported lazily: read-only commands skip it)
    from onboard.workflow.engine import Engine

    root, db = repo_paths(ctx)
    return Engine(root, db, sys.argv[1:])


def handle_errors(func: Callable[..., Any]) -> Callable[..., Any]:
    """Map every error a person can act on to a message and its exit code; never a traceback.

    The one place errors are rendered: an :class:`OnboardError` (raised by every layer) exits with
    its own code; a write that failed for a full disk or a denied permission (an OSError or SQLite
    error, perhaps wrapped) with the disk-full or bad-input code. Any other exception is a bug and
    keeps its traceback."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            code = func(*args, **kwargs)
        except Exception as err:
            failure = as_onboard_error(err)
            if failure is None:
                raise
            render_error(failure)
            sys.exit(int(failure.code))
        if code:
            sys.exit(int(code))

    return wrapper


def as_onboard_error(err: BaseException) -> OnboardError | None:
    """The error to show for ``err``, or None when it is not one a person can act on (a bug).

    A :class:`WorkflowError` is shown as raised; any other error is first checked for a full disk
    or a denied write somewhere in its chain (a domain error raised while handling one says less
    than the failed write itself)."""
    if isinstance(err, WorkflowError):
        return err
    return disk_full_error(err) or write_denied_error(err) or (err if isinstance(err, OnboardError) else None)


def render_error(err: OnboardError) -> None:
    """Print the error on stderr: ``error: <message>`` and its fix, or under ``--json`` one object
    ``{"error": {"code", "name", "message", "fix", "path"/"line"/"field" when known}}``."""
    if _json_requested():
        click.echo(json.dumps({"error": err.to_json()}, indent=2), err=True)
    else:
        click.echo(f"error: {err}", err=True)


def _json_requested() -> bool:
    """Whether the running command was given ``--json`` (its parameter is ``as_json`` or ``json``)."""
    ctx = click.get_current_context(silent=True)
    while ctx is not None:
        if ctx.params.get("as_json") or ctx.params.get("json"):
            return True
        ctx = ctx.parent
    return False


# A write that failed for lack of space (or a file size limit: RLIMIT_FSIZE, a quota) is reported
# with the external-failure code: the disk, not onboard's input or state, is what failed.
DISK_FULL_EXIT = Exit.EXTERNAL
_DISK_ERRNOS = {errno.ENOSPC, errno.EFBIG, getattr(errno, "EDQUOT", errno.ENOSPC)}
_SQLITE_DISK = ("database or disk is full", "disk i/o error")


def disk_full_error(err: BaseException) -> OnboardError | None:
    """The error (exit 8) for a write that failed because the disk (or a size limit) is full, else None.

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
        return _disk_error(str(what), disk[0].strerror or str(disk[0]))
    for exc in reversed(chain):
        orig = getattr(exc, "orig", exc)  # sqlalchemy wraps sqlite3's error
        if type(orig).__name__ == "OperationalError" and any(m in str(orig).lower() for m in _SQLITE_DISK):
            return _disk_error(_db_path(), str(orig).splitlines()[0])
    return None


_DENIED_ERRNOS = {errno.EACCES, errno.EPERM, errno.EROFS}


def write_denied_error(err: BaseException) -> OnboardError | None:
    """The error (exit 6) for a file onboard may not write (permissions, a read-only folder or mount), else None.

    The step that tried is undone like any failed step, so nothing is left half-written."""
    seen: BaseException | None = err
    while seen is not None:
        if isinstance(seen, OSError) and seen.errno in _DENIED_ERRNOS and seen.filename:
            return OnboardError(
                f"cannot write {seen.filename}: {seen.strerror}. Nothing was changed: the step was undone",
                fix="make the repository (or that file and its folder) writable for you, then run the "
                    "command again; reading commands (status, list, history) work as they are",
                code=Exit.BAD_INPUT, path=seen.filename)
        seen = seen.__cause__ or seen.__context__
    return None


def _disk_error(what: str, reason: str) -> OnboardError:
    return OnboardError(
        f"writing {what} failed: {reason} (the disk is full, or a disk quota or file size limit was "
        "reached). Nothing was lost: a file onboard writes is replaced only once its new content is "
        "complete, a step cut short is undone by the next command, and `onboard status` shows where "
        "the candidate stands", fix="free disk space and run the command again", code=DISK_FULL_EXIT)


def _db_path() -> str:
    """The workflow database of this command, for the message (best effort)."""
    ctx = click.get_current_context(silent=True)
    try:
        return f"the workflow database {repo_paths(ctx)[1]}" if ctx is not None else "the workflow database"
    except Exception:  # noqa: BLE001 - only a message
        return "the workflow database"


def print_json(data: Any) -> None:
    click.echo(json.dumps(data, indent=2, sort_keys=False))
