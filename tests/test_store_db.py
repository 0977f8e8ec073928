"""The workflow database: a real SQLite file, migrations, version-guarded commits, leases."""
from __future__ import annotations

import os
import sqlite3
import subprocess
import sys

import pytest
from sqlalchemy import inspect
from sqlalchemy.orm.exc import StaleDataError

from store import lease, migrations
from store.db import make_engine, open_db
from store.schema import Base, Candidate


def test_database_is_sqlite_in_wal_mode_with_every_migration_recorded(tmp_path):
    db = tmp_path / ".onboard" / "onboard.db"
    open_db(db)
    conn = sqlite3.connect(db)
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    names = [r[0] for r in conn.execute("SELECT name FROM _migrations ORDER BY rowid")]
    assert names == [name for name, _ in migrations.MIGRATIONS]


def test_orm_mapping_matches_the_tables_the_migrations_create(tmp_path):
    engine = make_engine(tmp_path / "x.db")
    migrations.migrate(engine)
    insp = inspect(engine)
    for table in Base.metadata.sorted_tables:
        db_cols = {c["name"] for c in insp.get_columns(table.name)}
        assert {c.name for c in table.columns} == db_cols, table.name


def test_an_old_database_is_migrated_and_keeps_its_data(tmp_path):
    db = tmp_path / "old.db"
    engine = make_engine(db)
    assert migrations.migrate(engine, upto="m001_initial") == ["m001_initial"]
    with engine.begin() as conn:
        conn.exec_driver_sql("INSERT INTO candidates (name, state, created_at, updated_at) "
                             "VALUES ('kept', 'download', 't', 't')")
    assert "guard_results" not in inspect(engine).get_table_names()
    applied = migrations.migrate(engine)
    assert applied == [name for name, _ in migrations.MIGRATIONS[1:]]
    assert migrations.migrate(engine) == []  # idempotent
    with open_db(db)() as session:
        assert session.query(Candidate).one().state == "download"


def test_a_stale_version_cannot_commit(tmp_path):
    sessions = open_db(tmp_path / "v.db")
    with sessions() as s:
        s.add(Candidate(name="a", state="evaluate", created_at="t", updated_at="t"))
        s.commit()
    first, second = sessions(), sessions()
    a = first.query(Candidate).one()
    b = second.query(Candidate).one()
    a.state = "download"
    first.commit()
    b.state = "profile"
    with pytest.raises(StaleDataError):
        second.commit()
    with sessions() as s:
        assert s.query(Candidate).one().state == "download"


def test_lease_is_exclusive_while_its_holder_lives_and_taken_over_when_it_is_gone(tmp_path):
    sessions = open_db(tmp_path / "l.db")
    with sessions() as s:
        s.add(Candidate(name="a", state="evaluate", created_at="t", updated_at="t"))
        s.commit()
        cid = s.query(Candidate).one().id
    # a live process (a real child that sleeps) holds the lease
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        import psutil

        holder = lease.Holder(pid=child.pid, host=lease.me().host, started=psutil.Process(child.pid).create_time(),
                              command="onboard advance a")
        with sessions() as s:
            assert lease.acquire(s, cid, holder) is None
            with pytest.raises(lease.Busy) as busy:
                lease.acquire(s, cid, lease.me("onboard advance a"))
            assert "onboard advance a" in str(busy.value) and str(child.pid) in str(busy.value)
    finally:
        child.kill()
        child.wait()
    with sessions() as s:  # the holder is gone: its lease is stale and taken over
        stale = lease.acquire(s, cid, lease.me("onboard rollback a"))
        assert stale is not None and stale.pid == child.pid
        lease.release(s, cid, lease.me())
        assert lease.current_holder(s, cid) is None
