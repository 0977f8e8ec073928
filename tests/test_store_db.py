"""The workflow database: a real SQLite file, migrations, version-guarded commits, leases."""
from __future__ import annotations

import os
import sqlite3
import subprocess
import sys

import pytest
from sqlalchemy import inspect
from sqlalchemy.orm.exc import StaleDataError

from onboard.store import lease, migrations, tables
from onboard.store.db import sqlite_engine, open_db
from onboard.store.schema import Base, Candidate


def test_database_is_sqlite_in_wal_mode_with_every_migration_recorded(tmp_path):
    db = tmp_path / ".onboard" / "onboard.db"
    open_db(db)
    conn = sqlite3.connect(db)
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    names = [r[0] for r in conn.execute("SELECT name FROM _migrations ORDER BY rowid")]
    assert names == [name for name, _ in migrations.MIGRATIONS]


def test_a_migrated_database_has_exactly_the_tables_store_tables_describes(tmp_path):
    """The migrations are the history, store.tables the one description: they must agree on every
    table, column (type affinity, NULL allowed, primary key) and index."""
    engine = sqlite_engine(tmp_path / "x.db")
    migrations.migrate(engine)
    insp = inspect(engine)
    assert set(insp.get_table_names()) - {"_migrations"} == set(tables.metadata.tables)
    for table in tables.metadata.sorted_tables:
        db_cols = {c["name"]: c for c in insp.get_columns(table.name)}
        assert set(db_cols) == {c.name for c in table.columns}, table.name
        for col in table.columns:
            got = db_cols[col.name]
            assert type(got["type"]).__name__ in _AFFINITY[type(col.type).__name__], (table.name, col.name)
            assert bool(got["primary_key"]) == col.primary_key, (table.name, col.name)
            if not col.primary_key:  # SQLite reflects a primary key column as nullable whatever it says
                assert bool(got["nullable"]) == col.nullable, (table.name, col.name)
        db_indexes = {i["name"]: i["column_names"] for i in insp.get_indexes(table.name)}
        assert db_indexes == {i.name: [c.name for c in i.columns] for i in table.indexes}, table.name
    assert Base.metadata is tables.metadata  # the ORM maps the same tables


# SQLite's reflected type for each Core type the tables use
_AFFINITY = {"Integer": {"INTEGER"}, "String": {"TEXT", "VARCHAR"}, "Text": {"TEXT"}, "Float": {"REAL", "FLOAT"}}


def test_an_old_database_is_migrated_and_keeps_its_data(tmp_path):
    db = tmp_path / "old.db"
    engine = sqlite_engine(db)
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


def test_an_older_database_gets_its_facts_moved_apart_from_the_persons_choices(tmp_path):
    """A database written before facts had their own column: what phases found leaves the options,
    keyed by the phase that found it; the person's choices stay where they were."""
    import json

    db = tmp_path / "old.db"
    engine = sqlite_engine(db)
    migrations.migrate(engine, upto="m003_measurements")
    old = {"repo": "org/M-GGUF", "quant": "Q4_K_M", "ctx": 16384, "accept_defaults": True,
           "architecture": "qwen3", "quants": ["Q4_K_M"], "chat": {"kind": "chat"}, "model_dir": "models/M/Q4_K_M",
           "plan": {"strategy": "A"}, "samplers": {"temp": 0.6}, "test": {"passed": True}, "measured": True,
           "bench_plan": {"ngl": 99}, "benchmark": {"plus_pass1": 0.5}, "_skipped_into": "docs"}
    adopted = {"adopted": True, "profile": "m-2", "tested": True, "speed_tps": 40.0}
    with engine.begin() as conn:
        for name, options in (("m", old), ("m-2", adopted)):
            conn.exec_driver_sql("INSERT INTO candidates (name, state, options, created_at, updated_at) "
                                 "VALUES (?, 'docs', ?, 't', 't')", (name, json.dumps(options)))
    assert migrations.migrate(engine)[0] == "m004_facts_apart_from_choices"
    with open_db(db)() as session:
        m = session.query(Candidate).filter_by(name="m").one()
        assert m.options == {"repo": "org/M-GGUF", "quant": "Q4_K_M", "ctx": 16384, "accept_defaults": True}
        assert m.facts == {"evaluate": {"architecture": "qwen3", "quants": ["Q4_K_M"], "chat": {"kind": "chat"}},
                           "download": {"model_dir": "models/M/Q4_K_M"}, "profile": {"plan": {"strategy": "A"}},
                           "samplers": {"samplers": {"temp": 0.6}}, "test": {"test": {"passed": True}, "measured": True},
                           "bench-profile": {"bench_plan": {"ngl": 99}}, "benchmark": {"benchmark": {"plus_pass1": 0.5}},
                           "workflow": {"_skipped_into": "docs"}}
        a = session.query(Candidate).filter_by(name="m-2").one()
        assert a.options == {} and a.facts == {"adopt": adopted}
