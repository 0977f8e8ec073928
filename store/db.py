"""Opening the workflow database: SQLite in WAL mode, foreign keys on, migrated to the latest schema.

Default location ``<root>/.onboard/onboard.db``; ``--db`` / ``ONBOARD_DB`` override it.
"""
from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

from sqlalchemy import create_engine, event, Engine
from sqlalchemy.orm import Session, sessionmaker

from store import migrations


def utcnow() -> str:
    """ISO-8601 UTC timestamp with seconds, as every table and JSON output uses."""
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def default_db_path(root: Path) -> Path:
    return Path(root) / ".onboard" / "onboard.db"


def make_engine(path: Path) -> Engine:
    engine = create_engine(f"sqlite:///{path}", connect_args={"timeout": 30})

    @event.listens_for(engine, "connect")
    def _pragmas(dbapi_conn, _record) -> None:  # noqa: ANN001 - DBAPI types
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA synchronous=FULL")
        cur.close()

    return engine


def open_db(path: Path, *, create: bool = True) -> sessionmaker[Session]:
    """Session factory for the database at ``path``; creates and migrates it when ``create``."""
    path = Path(path)
    if create:
        path.parent.mkdir(parents=True, exist_ok=True)
    engine = make_engine(path)
    migrations.migrate(engine)
    return sessionmaker(engine, expire_on_commit=False)
