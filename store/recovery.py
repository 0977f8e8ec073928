"""What can be saved of a damaged workflow database, and how.

The database holds the candidates, their history and the journal that puts files back. When it is
damaged (a disk fault, a truncated copy, another program writing it), ``onboard doctor`` reports what
SQLite itself says and, on request, rebuilds: the damaged file is kept aside (never deleted), a new
database is made at the latest schema, and every row that can still be read is copied into it, table
by table and, where a table scan fails, row by row. What no row survives of, the production profiles
in models.conf give back as adopted candidates (the caller does that part).
"""
from __future__ import annotations

import shutil
import sqlite3
from dataclasses import dataclass, field
from pathlib import Path

from onboard.store.db import SQLITE_MAGIC, latest_backup, readonly_uri, utcnow

TABLES = ("candidates", "steps", "undo_records", "events", "guard_results", "measurements")


@dataclass
class Diagnosis:
    """What is wrong with a database file, in words a person can act on."""

    path: Path
    problems: list[str] = field(default_factory=list)
    facts: list[str] = field(default_factory=list)

    @property
    def healthy(self) -> bool:
        return not self.problems

    def to_json(self) -> dict:
        return {"path": str(self.path), "healthy": self.healthy, "problems": self.problems, "facts": self.facts,
                "backup": str(latest_backup(self.path) or "") or None}


def diagnose(path: Path) -> Diagnosis:
    """Header, SQLite's integrity check, the schema, open steps and held leases: read only."""
    from onboard.store import migrations

    diag = Diagnosis(Path(path))
    if not path.exists():
        diag.facts.append("no database yet: the first command that writes creates it")
        return diag
    if not path.is_file():
        diag.problems.append("not a regular file")
        return diag
    head = path.read_bytes()[:len(SQLITE_MAGIC)]
    if head and head != SQLITE_MAGIC:
        diag.problems.append("no SQLite header: not a database, or its first page is damaged")
        return diag
    try:
        conn = sqlite3.connect(readonly_uri(path), uri=True)
    except sqlite3.Error as err:
        diag.problems.append(f"cannot be opened: {err}")
        return diag
    try:
        check = [r[0] for r in conn.execute("PRAGMA integrity_check")]
        if check != ["ok"]:
            diag.problems.append("SQLite's integrity check: " + "; ".join(check[:5]))
        names = [r[0] for r in conn.execute("SELECT name FROM _migrations ORDER BY rowid")]
        known = [n for n, _ in migrations.MIGRATIONS]
        unknown = [n for n in names if n not in known]
        if unknown:
            diag.problems.append(f"schema {unknown[-1]} was written by a newer onboard: upgrade onboard")
        diag.facts.append(f"schema: {names[-1] if names else 'none'} (this onboard's newest: {known[-1]})")
        for table in TABLES:
            count = conn.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0]  # noqa: S608 - fixed names
            diag.facts.append(f"{table}: {count} rows")
        open_steps = conn.execute("SELECT COUNT(*) FROM steps WHERE status = 'open'").fetchone()[0]
        if open_steps:
            diag.facts.append(f"{open_steps} interrupted step(s): the next command on each candidate undoes it")
        leases = conn.execute("SELECT name, lease_pid, lease_command FROM candidates WHERE lease_pid IS NOT NULL")
        for name, pid, command in leases:
            diag.facts.append(f"{name} is leased by pid {pid} ({command}); a dead holder's lease is taken over")
    except sqlite3.Error as err:
        diag.problems.append(f"cannot be read: {err}")
    finally:
        conn.close()
    backup = latest_backup(path)
    if backup is not None:
        diag.facts.append(f"last backup (made before a schema change): {backup}")
    return diag


def _readable_rows(conn: sqlite3.Connection, table: str) -> tuple[list[str], list[tuple], int]:
    """(columns, rows read, rows lost) of ``table`` in a damaged database."""
    try:
        columns = [r[1] for r in conn.execute(f"PRAGMA table_info({table})")]  # noqa: S608 - fixed names
    except sqlite3.Error:
        return [], [], 0
    if not columns:
        return [], [], 0
    select = f"SELECT {', '.join(columns)} FROM {table}"  # noqa: S608
    try:
        return columns, list(conn.execute(select)), 0
    except sqlite3.Error:
        pass
    rows, lost = [], 0
    try:
        top = conn.execute(f"SELECT MAX(rowid) FROM {table}").fetchone()[0] or 0  # noqa: S608
    except sqlite3.Error:
        top = 100_000
    for rowid in range(1, top + 1):
        try:
            row = conn.execute(select + " WHERE rowid = ?", (rowid,)).fetchone()
        except sqlite3.Error:
            lost += 1
            continue
        if row is not None:
            rows.append(row)
    return columns, rows, lost


def rebuild(path: Path) -> tuple[Path, dict[str, tuple[int, int]]]:
    """Keep the damaged file aside, make a new database, copy every readable row into it.

    Returns the path of the damaged copy and, per table, (rows copied, rows lost).
    """
    from onboard.store.db import open_db

    aside = path.with_name(f"{path.name}.damaged-{utcnow().replace(':', '')}")
    shutil.move(path, aside)
    for suffix in ("-wal", "-shm"):
        if Path(f"{path}{suffix}").exists():
            shutil.move(f"{path}{suffix}", f"{aside}{suffix}")
    open_db(path)  # a new database at the latest schema
    copied: dict[str, tuple[int, int]] = {}
    try:
        old = sqlite3.connect(readonly_uri(aside), uri=True)
    except sqlite3.Error:
        return aside, {t: (0, 0) for t in TABLES}
    new = sqlite3.connect(path)
    try:
        new.execute("PRAGMA foreign_keys=OFF")  # rows of a lost parent are kept: the journal outlives a row
        for table in TABLES:
            columns, rows, lost = _readable_rows(old, table)
            wanted = [r[1] for r in new.execute(f"PRAGMA table_info({table})")]  # noqa: S608
            keep = [c for c in columns if c in wanted]
            index = [columns.index(c) for c in keep]
            done = 0
            for row in rows:
                try:
                    new.execute(f"INSERT OR IGNORE INTO {table} ({', '.join(keep)}) "  # noqa: S608
                                f"VALUES ({', '.join('?' for _ in keep)})", [row[i] for i in index])
                    done += 1
                except sqlite3.Error:
                    lost += 1
            copied[table] = (done, lost)
        new.commit()
    finally:
        old.close()
        new.close()
    return aside, copied


def restore_backup(path: Path) -> tuple[Path, Path]:
    """Put the newest backup in place of the database, keeping the current file aside."""
    backup = latest_backup(path)
    if backup is None:
        raise FileNotFoundError(f"no backup beside {path}")
    aside = path.with_name(f"{path.name}.damaged-{utcnow().replace(':', '')}")
    if path.exists():
        shutil.move(path, aside)
    for suffix in ("-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    shutil.copy2(backup, path)
    return aside, backup
