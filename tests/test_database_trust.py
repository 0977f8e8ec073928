"""The workflow database as a trusted store, with real processes, real SQLite files and real damage:
a file that is not a database, a truncated or page-damaged one, a folder, a schema from a newer
onboard, a read-only repository (a read-only bind mount), twenty first commands at once, a backup
before each migration, and `onboard doctor` reporting and rebuilding. Never a traceback."""
from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from sqlalchemy import create_engine

from onboard.store import migrations
from tests import reliability

REPO = Path(__file__).resolve().parent.parent
FIGURES = "damaged or unusual databases (clear message, no traceback)"
CONF = "".join(f"[model-{i}]\nNAME=Model {i}\nSPEED=1{i}.5 t/s\nMODEL=models/M{i}/Q4_K_M/m{i}.gguf\n\n" for i in range(6))


def onboard(root: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    env.pop("ONBOARD_DB", None)
    return subprocess.run([sys.executable, "-m", "onboard.workflow.cli", "--root", str(root), *args], capture_output=True,
                          text=True, env=env, timeout=120)


@pytest.fixture()
def repo(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    root.mkdir()
    (root / "models.conf").write_text(CONF)
    return root


def _db(root: Path) -> Path:
    return root / ".onboard" / "onboard.db"


def _dump(db: Path) -> list[str]:
    conn = sqlite3.connect(db)
    try:
        return list(conn.iterdump())
    finally:
        conn.close()


def _refused(proc: subprocess.CompletedProcess, *words: str) -> None:
    assert proc.returncode == 6, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr and "workflow database" in proc.stderr and "fix:" in proc.stderr
    for word in words:
        assert word in proc.stderr, proc.stderr


@pytest.mark.parametrize("damage", ["random bytes", "empty-header text", "truncated", "a folder"])
def test_a_database_that_is_not_one_is_named_by_every_command(repo, damage):
    assert onboard(repo, "adopt").returncode == 0
    db = _db(repo)
    if damage == "random bytes":
        db.write_bytes(os.urandom(8192))
    elif damage == "empty-header text":
        db.write_text("this is my notes file, not a database\n")
    elif damage == "truncated":
        db.write_bytes(db.read_bytes()[:1500])
    else:
        db.unlink()
        db.mkdir()
    for args in (("list", "--all"), ("status", "model-1"), ("history", "model-1"), ("adopt",), ("start", "x")):
        _refused(onboard(repo, *args), str(db))
    reliability.count(FIGURES, f"{damage}: every command exit 6 naming the file")


def test_a_newer_schema_is_never_written_but_still_read(repo):
    assert onboard(repo, "adopt").returncode == 0
    with sqlite3.connect(_db(repo)) as conn:
        conn.execute("INSERT INTO _migrations (name, applied_at) VALUES ('m999_from_the_future', 'x')")
        conn.execute("DELETE FROM candidates WHERE name = 'model-5'")  # adopt would register it again
    before = _dump(_db(repo))
    _refused(onboard(repo, "adopt"), "m999_from_the_future", "newer onboard")
    assert _dump(_db(repo)) == before
    listed = onboard(repo, "list", "--all")
    assert listed.returncode == 0 and "model-3" in listed.stdout
    reliability.count(FIGURES, "newer schema: refused read-write naming it, read-only commands work")


def test_a_copy_is_kept_before_each_migration(repo):
    db = _db(repo)
    db.parent.mkdir()
    migrations.migrate(create_engine(f"sqlite:///{db}"), upto="m001_initial")
    with sqlite3.connect(db) as conn:
        conn.execute("INSERT INTO candidates (name, state, created_at, updated_at) VALUES ('old', 'evaluate', 't', 't')")
    assert onboard(repo, "adopt").returncode == 0
    backup = db.with_name("onboard.db.bak-m001_initial")
    with sqlite3.connect(backup) as conn:
        assert [r[0] for r in conn.execute("SELECT name FROM _migrations")] == ["m001_initial"]
        assert [r[0] for r in conn.execute("SELECT name FROM candidates")] == ["old"]
    with sqlite3.connect(db) as conn:
        assert [r[0] for r in conn.execute("SELECT name FROM _migrations")] == [n for n, _ in migrations.MIGRATIONS]


def test_twenty_first_commands_at_once_neither_race_nor_duplicate(repo):
    with ThreadPoolExecutor(max_workers=20) as pool:
        procs = list(pool.map(lambda _: onboard(repo, "adopt", "--json"), range(20)))
    assert all(p.returncode == 0 and "Traceback" not in p.stderr for p in procs), [p.stderr for p in procs if p.returncode]
    listed = onboard(repo, "list", "--all", "--json")
    assert sorted(json.loads(listed.stdout)["candidates"], key=lambda r: r["name"]) and \
        sorted(r["name"] for r in json.loads(listed.stdout)["candidates"]) == [f"model-{i}" for i in range(6)]
    reliability.count(FIGURES, "20 first commands at once on a fresh repository: one migration, no duplicate")


def _in_read_only_mount(root: Path, *args: str) -> subprocess.CompletedProcess:
    """Run onboard with ``root`` bind-mounted read-only over itself in a private mount namespace:
    a read-only checkout even for root (who ignores permission bits)."""
    if shutil.which("unshare") is None:
        pytest.fail("unshare (util-linux) is needed to mount a read-only repository")
    script = ("import subprocess, sys\n"
              "subprocess.run(['mount', '--bind', '-o', 'ro', sys.argv[1], sys.argv[1]], check=True)\n"
              "sys.exit(subprocess.run([sys.executable, '-m', 'onboard.workflow.cli', '--root', sys.argv[1]] + sys.argv[2:]).returncode)\n")
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.run(["unshare", "-m", sys.executable, "-c", script, str(root), *args], capture_output=True,
                          text=True, env=env, timeout=120)


def test_a_read_only_repository_is_readable(repo):
    assert onboard(repo, "adopt").returncode == 0
    probe = _in_read_only_mount(repo, "list", "--all")
    if "Operation not permitted" in probe.stderr or "permission denied" in probe.stderr.lower():
        pytest.fail("this machine cannot make a private read-only mount: " + probe.stderr[-300:])
    assert probe.returncode == 0 and "model-0" in probe.stdout, probe.stderr
    for args in (("status", "model-2"), ("history", "model-2"), ("doctor",)):
        proc = _in_read_only_mount(repo, *args)
        assert proc.returncode == 0 and "Traceback" not in proc.stderr, proc.stderr
    _refused(_in_read_only_mount(repo, "adopt"), "cannot be written here")
    reliability.count(FIGURES, "read-only repository: status, list, history, doctor work; writing refused clearly")


def test_doctor_reports_then_rebuilds_keeping_the_damaged_file(repo):
    assert onboard(repo, "adopt").returncode == 0
    sound = onboard(repo, "doctor")
    assert sound.returncode == 0 and "sound" in sound.stdout and "candidates: 6 rows" in sound.stdout
    db = _db(repo)
    with sqlite3.connect(db) as conn:  # a last page damaged: some rows of the big tables survive
        conn.executemany("INSERT INTO events (candidate_id, at, kind, argv, ok, detail) VALUES (1, 't', 'note', '[]', 1, ?)",
                         [("x" * 3000,) for _ in range(40)])
    data = bytearray(db.read_bytes())
    page = 4096
    data[-page:] = os.urandom(page)
    db.write_bytes(bytes(data))
    damaged = onboard(repo, "doctor")
    assert damaged.returncode == 6 and "NOT sound" in damaged.stdout and "--rebuild" in damaged.stdout
    rebuilt = onboard(repo, "doctor", "--rebuild")
    assert rebuilt.returncode == 0, rebuilt.stdout + rebuilt.stderr
    kept = list(db.parent.glob("onboard.db.damaged-*"))
    assert [p for p in kept if not p.name.endswith(("-wal", "-shm"))], "the damaged file must be kept"
    listed = onboard(repo, "list", "--all", "--json")
    assert listed.returncode == 0
    assert sorted(r["name"] for r in json.loads(listed.stdout)["candidates"]) == [f"model-{i}" for i in range(6)]
    assert onboard(repo, "doctor").returncode == 0
    reliability.count(FIGURES, "damaged page: doctor reports, rebuilds, candidates back")


def test_a_read_only_repository_refuses_a_write_with_a_message_and_changes_nothing(tmp_path):
    """The workflow database elsewhere (--db), the repository mounted read-only: the profile phase
    cannot write models.conf; the command says so (exit 6, no traceback), its step is undone, and the
    same command works once the repository is writable again."""
    from tests.hub_server import LocalHub
    from tests.workflow_repo import REPO_ID, hub_files, make_repo

    files = hub_files(tmp_path)
    with LocalHub({REPO_ID: files}) as hub:
        repo = make_repo(tmp_path, hub.url, files)
        env = {"ONBOARD_DB": str(tmp_path / "elsewhere.db")}  # the database stays writable
        for args in (("start", "tiny-llama"), ("advance", "tiny-llama", "--quant", "Q8_0")):
            repo.onboard(*args, env=env, check=True)
        conf = (repo.root / "models.conf").read_bytes()
        script = ("import subprocess, sys\n"
                  "subprocess.run(['mount', '--bind', '-o', 'ro', sys.argv[1], sys.argv[1]], check=True)\n"
                  "sys.exit(subprocess.run([sys.executable, '-m', 'onboard.workflow.cli', '--root', sys.argv[1]] + sys.argv[2:]).returncode)\n")
        proc = subprocess.run(["unshare", "-m", sys.executable, "-c", script, str(repo.root), "advance", "tiny-llama",
                               "--download"], capture_output=True, text=True, env={**repo.env, **env}, timeout=300)
        assert proc.returncode == 6, proc.stdout + proc.stderr
        assert "Traceback" not in proc.stderr and "Read-only file system" in proc.stderr and "fix:" in proc.stderr
        assert (repo.root / "models.conf").read_bytes() == conf
        status = json.loads(repo.onboard("status", "tiny-llama", "--json", env=env).stdout)
        assert status["phase"] == "download" and "interrupted" not in status, (status.get("interrupted"), proc.stderr[:300])
        repo.onboard("advance", "tiny-llama", "--download", env=env, check=True)
    reliability.count(FIGURES, "read-only repository: a write refused with a message, step undone, then works")
