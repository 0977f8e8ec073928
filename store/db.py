"""Opening the workflow database as a trusted store: SQLite in WAL mode, foreign keys on, migrated
to the latest schema, and checked before it is trusted.

Default location ``<root>/.onboard/onboard.db``; ``--db`` / ``ONBOARD_DB`` override it.

Why the checks: the database holds the journal that puts a person's files back, so a damaged file
must be named, not met with a traceback, and never written to. On open: the path must be a regular
file holding SQLite's header (or be absent/empty: a new database); a schema written by a newer
onboard (a migration this version does not know) is refused for writing, naming it, while reading
commands still read it; a command about to write runs ``PRAGMA quick_check`` first. Migrations run
one process at a time (an exclusive ``flock`` on ``<db>.lock``, so twenty first commands at once
cannot race on ``CREATE TABLE``), and a copy of the database is kept before each migration
(``<db>.bak-<last applied migration>``), the backup a damaged database's message points to. A
database in a folder the person cannot write (a read-only checkout) is opened read-only, without
switching it to WAL, so ``status``, ``list`` and ``history`` still work there.
"""
from __future__ import annotations

import fcntl
import os
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path

from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.exc import DatabaseError
from sqlalchemy.orm import Session, sessionmaker

from onboard.llamacpp.errors import Exit, OnboardError
from onboard.store import migrations

SQLITE_MAGIC = b"SQLite format 3\x00"


class DatabaseProblem(OnboardError):
    """The workflow database cannot be trusted (or written): the message names the file, what is
    wrong and what to do, and where the last good backup is when there is one (exit 6)."""

    code = Exit.BAD_INPUT

    def __init__(self, path: Path, what: str, fix: str) -> None:
        backup = latest_backup(path)
        if backup is not None:
            fix += f"; the last good copy, made before a schema change, is {backup}"
        super().__init__(f"workflow database {path}: {what}", fix=fix, path=path)


def utcnow() -> str:
    """ISO-8601 UTC timestamp with seconds, as every table and JSON output uses."""
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def ignore_work_dir(folder: Path) -> None:
    """``.onboard/`` ignores itself for git (a ``.gitignore`` of ``*`` inside it, as pytest's cache
    does), so that a person's repository needs no edit of its own .gitignore for onboard's state."""
    if folder.name == ".onboard" and folder.is_dir() and not (folder / ".gitignore").exists() and os.access(folder, os.W_OK):
        try:
            (folder / ".gitignore").write_text("# onboard's workflow state; see docs/workflow.md\n*\n")
        except OSError:  # a read-only or full disk: git shows the folder, nothing else changes
            pass


def latest_backup(path: Path) -> Path | None:
    """The newest ``<db>.bak-*`` beside the database, or None."""
    backups = sorted(Path(path).parent.glob(Path(path).name + ".bak-*"), key=lambda p: p.stat().st_mtime)
    return backups[-1] if backups else None


def writable(path: Path) -> bool:
    """Whether this process may write the database (the file, and its folder for the WAL and journal)."""
    path = Path(path)
    folder = path.parent
    while not folder.exists():  # a database not created yet: its nearest existing folder decides
        folder = folder.parent
    return os.access(folder, os.W_OK) and (not path.exists() or os.access(path, os.W_OK))


def check_file(path: Path) -> None:
    """Refuse anything at ``path`` that is not an SQLite database (absent or empty is a new one)."""
    path = Path(path)
    if not path.exists() and not path.is_symlink():
        return
    if not path.is_file():
        kind = "a folder" if path.is_dir() else "not a regular file"
        raise DatabaseProblem(path, f"is {kind}", "point --db (or ONBOARD_DB) at a file, or move that away")
    try:
        with open(path, "rb") as handle:
            head = handle.read(len(SQLITE_MAGIC))
    except OSError as err:
        raise DatabaseProblem(path, f"cannot be read: {err.strerror}", "check its permissions") from None
    if head and head != SQLITE_MAGIC:
        raise DatabaseProblem(path, "is not an SQLite database (damaged, truncated or another file)",
                              "run `onboard doctor` to see what can be recovered, or move the file away to start "
                              "a new database")


def readonly_uri(path: Path) -> str:
    """An SQLite URI that reads ``path`` without writing anything beside it. A WAL database normally
    needs its ``-shm`` file; with no ``-wal`` file left (every writer closed) the file is all there
    is, so it is opened immutable, which needs none."""
    immutable = "" if Path(f"{path}-wal").exists() or writable(path) else "&immutable=1"
    return Path(path).resolve().as_uri() + "?mode=ro" + immutable


def sqlite_engine(path: Path, *, readonly: bool = False) -> Engine:
    if readonly:
        uri = readonly_uri(path)
        return create_engine("sqlite://", creator=lambda: sqlite3.connect(uri, uri=True, timeout=30))
    engine = create_engine(f"sqlite:///{path}", connect_args={"timeout": 30})

    @event.listens_for(engine, "connect")
    def _pragmas(dbapi_conn, _record) -> None:  # noqa: ANN001 - DBAPI types
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA synchronous=FULL")
        cur.close()

    return engine


@contextmanager
def _migration_lock(path: Path) -> Iterator[None]:
    """One process at a time brings a database's schema up to date (released by the kernel on death)."""
    fd = os.open(f"{path}.lock", os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def schema_state(engine: Engine, path: Path) -> tuple[list[str], list[str]]:
    """(migrations applied, those of them this onboard does not know): read without writing."""
    try:
        with engine.connect() as conn:
            has = conn.execute(text("SELECT 1 FROM sqlite_master WHERE type='table' AND name='_migrations'")).first()
            names = [r[0] for r in conn.execute(text("SELECT name FROM _migrations ORDER BY rowid"))] if has else []
    except DatabaseError as err:
        raise DatabaseProblem(path, f"cannot be read ({str(err.orig).splitlines()[0]})",
                              "run `onboard doctor` to see what can be recovered") from None
    known = {name for name, _ in migrations.MIGRATIONS}
    return names, [n for n in names if n not in known]


def _upgrade(engine: Engine, path: Path) -> None:
    """Refuse a newer schema, back the database up, then apply the missing migrations (serialized)."""
    with _migration_lock(path):
        applied, unknown = schema_state(engine, path)
        if unknown:
            raise DatabaseProblem(path, f"was written by a newer onboard (schema {unknown[-1]}, unknown to this "
                                  f"version, whose newest is {migrations.latest()}); it is not written to",
                                  "upgrade onboard (pip install -U onboard); reading commands (status, list, "
                                  "history) still work")
        missing = [name for name, _ in migrations.MIGRATIONS if name not in applied]
        if missing and applied:
            _backup(engine, path, applied[-1])
        if missing:
            migrations.migrate(engine)


def _backup(engine: Engine, path: Path, version: str) -> Path:
    target = Path(f"{path}.bak-{version}")
    with engine.connect() as conn:
        source = conn.connection.dbapi_connection
        copy = sqlite3.connect(target)
        try:
            source.backup(copy)
        finally:
            copy.close()
    return target


def quick_check(engine: Engine, path: Path) -> None:
    """SQLite's own consistency check, before a command writes (cheap for a database this size)."""
    try:
        with engine.connect() as conn:
            result = [r[0] for r in conn.execute(text("PRAGMA quick_check"))]
    except DatabaseError as err:
        raise DatabaseProblem(path, f"cannot be read ({str(err.orig).splitlines()[0]})",
                              "run `onboard doctor` to see what can be recovered") from None
    if result != ["ok"]:
        raise DatabaseProblem(path, "is damaged (SQLite's quick_check: " + "; ".join(result[:3]) + ")",
                              "run `onboard doctor` to see what can be recovered")


def open_db(path: Path, *, create: bool = True) -> sessionmaker[Session]:
    """Session factory for a command that writes: checked, migrated, and refused when the database
    cannot be trusted or written (DatabaseProblem, exit 6)."""
    path = Path(path)
    check_file(path)
    if create:
        path.parent.mkdir(parents=True, exist_ok=True)
        ignore_work_dir(path.parent)
    if not writable(path):
        raise DatabaseProblem(path, "cannot be written here (a read-only folder or file)",
                              "run the command where the repository is writable, or point --db at a writable file; "
                              "reading commands (status, list, history) work as they are")
    engine = sqlite_engine(path)
    try:
        _upgrade(engine, path)
        quick_check(engine, path)
    except DatabaseError as err:
        raise DatabaseProblem(path, f"cannot be used ({str(err.orig).splitlines()[0]})",
                              "run `onboard doctor` to see what can be recovered") from None
    return sessionmaker(engine, expire_on_commit=False)


def open_for_reading(path: Path) -> Engine | None:
    """An engine for the reading commands, or None when there is no database yet.

    A writable database is brought up to date first, as any command would; a read-only one, or one
    written by a newer onboard, is read as it is (its tables are a superset of ours).
    """
    path = Path(path)
    if not path.exists():
        return None
    check_file(path)
    if not writable(path):
        return sqlite_engine(path, readonly=True)
    engine = sqlite_engine(path)
    try:
        _, unknown = schema_state(engine, path)
        if not unknown:
            _upgrade(engine, path)
    except DatabaseError as err:
        raise DatabaseProblem(path, f"cannot be read ({str(err.orig).splitlines()[0]})",
                              "run `onboard doctor` to see what can be recovered") from None
    return engine
