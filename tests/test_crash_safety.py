"""Crash safety across the whole workflow: a real `onboard` process is SIGKILLed (by the test-only hook
in store/crashpoints.py) at every named point of every phase's transition, forward (`start`, each
`advance` from evaluate to onboarded, the benchmark and the test phase with a real llama-server and
EvalPlus) and back (each `rollback`).

A clean walk first learns, with ``ONBOARD_TEST_TRACE``, which points each command reaches and how
often (a command may open several steps, and a step writes several files); each case then kills the
command at the first and at the last time it reaches one point. After every kill:

- no file is half-written: each file holds its bytes from before the command or from after it;
- ``status`` tells the truth: the phase, and whether a step was interrupted;
- the next command (the same one again, or nothing when the kill came after the final commit) goes on,
  undoing the interrupted step first; then the repository is what a clean run gives, no temp file is
  left, and the database holds no open step and no lease;
- the candidate can go on: the transition back (or forward again, after a killed rollback) works.

The repository always lives at the same absolute path (templates are copied into it), because the
database records paths such as the server logs.
"""
from __future__ import annotations

import re
import shutil
import sqlite3
from pathlib import Path

import psutil
import pytest

from onboard.store.crashpoints import POINTS
from onboard.store.models_conf import ModelsConf
from tests import reliability
from tests.hub_server import LocalHub
from tests.workflow_repo import REPO_ID, WorkflowRepo, hub_files, make_repo

pytestmark = pytest.mark.real_server
NAME = "tiny-llama"
DATASET = Path(__file__).resolve().parent / "fixtures" / "humaneval_tiny.jsonl"
FIGURES = "crash kills (SIGKILL, then the recovery checked)"
# The walk: the phase a command starts in, and the command. Phases whose work measures something
# (speed, memory, EvalPlus timings) write different numbers each run: their files are compared with
# the digits blanked out.
WALK: list[tuple[str, tuple[str, ...]]] = [
    ("(none)", ("start", NAME)),
    ("evaluate", ("advance", NAME, "--quant", "Q8_0")),
    ("download", ("advance", NAME, "--download")),
    ("profile", ("advance", NAME)),
    ("samplers", ("advance", NAME)),
    ("test", ("advance", NAME)),
    ("bench-profile", ("advance", NAME)),
    ("benchmark", ("advance", NAME, "--quick", "1", "--dataset", str(DATASET))),
    ("docs", ("advance", NAME)),
]
MEASURING = {"test", "benchmark"}


def _snapshot(root: Path) -> dict[str, bytes]:
    """Every file a person would see (not onboard's own database and logs, not the hub's cache)."""
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*"))
            if p.is_file() and not p.relative_to(root).parts[0] == ".onboard" and ".cache" not in p.parts}


def _norm(name: str, data: bytes, measuring: bool) -> bytes:
    """A file's bytes as compared: exact, or for a measuring phase with the digits blanked out (and a
    chart only as present: its axes are drawn to fit the measured speed)."""
    if not measuring:
        return data
    return b"<chart>" if name.endswith(".svg") else re.sub(rb"\d+(\.\d+)?", b"0", data)


def _same(have: dict[str, bytes], want: dict[str, bytes], measuring: bool) -> list[str]:
    """Files that differ (by name, or by content)."""
    names = sorted(set(have) | set(want))
    return [n for n in names if n not in have or n not in want
            or _norm(n, have[n], measuring) != _norm(n, want[n], measuring)]


def _kill_cases(trace: list[str]) -> list[tuple[str, int]]:
    """(point, n): the first and the last time the command reaches each point."""
    cases = []
    for point in POINTS:
        times = trace.count(point)
        cases += [(point, n) for n in sorted({1, times}) if times]
    return cases


class Walk:
    """The clean walk: a template repository before each command, the traces and the snapshots."""

    def __init__(self, base: Path, repo: WorkflowRepo) -> None:
        self.base, self.repo = base, repo
        self.templates: dict[int, Path] = {}
        self.snapshots: dict[int, dict[str, bytes]] = {}
        self.phases: dict[int, str] = {}
        self.traces: dict[int, list[str]] = {}
        self.back_traces: dict[int, list[str]] = {}
        self.back_snapshots: dict[int, dict[str, bytes]] = {}
        self.between: dict[int, list[dict[str, bytes]]] = {}  # after each step but the last of command i

    @property
    def work(self) -> Path:
        return self.repo.root

    def keep(self, i: int) -> None:
        self.templates[i] = self.base / f"template-{i}"
        shutil.copytree(self.work, self.templates[i])
        self.snapshots[i] = _snapshot(self.work)
        self.phases[i] = self.repo.status(NAME)["phase"] if i else "(none)"

    def restore(self, i: int) -> None:
        shutil.rmtree(self.work)
        shutil.copytree(self.templates[i], self.work)

    def traced(self, *args: str) -> list[str]:
        trace = self.base / "trace"
        trace.unlink(missing_ok=True)
        self.repo.onboard(*args, env={"ONBOARD_TEST_TRACE": str(trace)}, timeout=900, check=True)
        return trace.read_text().split()


@pytest.fixture(scope="module")
def walk(tmp_path_factory, llama_server_bin):
    base = tmp_path_factory.mktemp("crash")
    files = hub_files(base)
    with LocalHub({REPO_ID: files}) as hub:
        repo = make_repo(base, hub.url, files)
        repo.env["LLAMA_SERVER"] = str(llama_server_bin)
        w = Walk(base, repo)
        w.keep(0)
        for i, (phase, args) in enumerate(WALK):
            assert w.phases[i] == phase, (i, w.phases[i])
            w.restore(i)
            w.traces[i] = w.traced(*args)
            w.keep(i + 1)
            w.between[i] = []
            for k in range(1, w.traces[i].count("step_opened")):  # a command of several steps
                w.restore(i)
                stopped = repo.onboard(*args, env={"ONBOARD_TEST_KILL_AT": f"after_commit@{k}"}, timeout=900)
                assert stopped.returncode == -9, stopped.stderr
                w.between[i].append(_snapshot(w.work))
        assert w.phases[len(WALK)] == "onboarded"
        for i in range(2, len(WALK) + 1):  # rollback from the phase command i-1 entered (start has none)
            w.restore(i)
            w.back_traces[i] = w.traced("rollback", NAME)
            w.back_snapshots[i] = _snapshot(w.work)
            assert repo.status(NAME)["phase"] == w.phases[i - 1]
        yield w


def _consistent(root: Path, phase: str) -> None:
    """No step left open, no lease held by a live process (a dead holder's lease is taken over by the
    next command, which says so), the path taken ends in the state."""
    db = sqlite3.connect(f"file:{root / '.onboard' / 'onboard.db'}?mode=ro", uri=True)
    try:
        assert db.execute("select count(*) from steps where status = 'open'").fetchone()[0] == 0
        for (pid,) in db.execute("select lease_pid from candidates where lease_pid is not null"):
            assert not psutil.pid_exists(pid), f"lease still held by live pid {pid}"
        (state, path), = db.execute("select state, path from candidates").fetchall()
        assert state == phase and path.rstrip().endswith(f'"{state}"]'), (phase, state, path)
    finally:
        db.close()


def _temp_files(root: Path) -> list[Path]:
    return list(root.rglob("*.onboard-tmp*"))


def _no_half_written(have: dict[str, bytes], states: list[dict[str, bytes]], measuring: bool) -> None:
    """Each file holds its bytes of one of ``states``: before the command, after one of its steps."""
    for name, data in have.items():
        if ".onboard-tmp" in name:
            continue  # a temp file the next command removes (checked after it)
        allowed = [_norm(name, v[name], measuring) for v in states if name in v]
        assert _norm(name, data, measuring) in allowed, f"{name} is neither its text before nor after a step"
    if "models.conf" in have:
        ModelsConf.parse(have["models.conf"].decode())


@pytest.mark.parametrize("i", range(len(WALK)), ids=[f"{i}-from-{p}" for i, (p, _) in enumerate(WALK)])
def test_kill_a_forward_command_at_every_point_then_go_on(walk, i):
    """Every point of command i: killed there, checked, recovered, checked, rolled back."""
    args = WALK[i][1]
    here, there = walk.phases[i], walk.phases[i + 1]
    measuring = here in MEASURING
    trace = walk.traces[i]
    last_step = trace.count("step_opened")
    for point, n in _kill_cases(trace):
        walk.restore(i)
        killed = walk.repo.onboard(*args, env={"ONBOARD_TEST_KILL_AT": f"{point}@{n}"}, timeout=900)
        where = f"{' '.join(args[:2])} from {here}, killed at {point}@{n}"
        assert killed.returncode == -9, (where, killed.stdout[-2000:], killed.stderr[-2000:])
        _no_half_written(_snapshot(walk.work), [walk.snapshots[i], *walk.between[i], walk.snapshots[i + 1]],
                         measuring)
        committed = point == "after_commit" and n == last_step
        interrupted = point not in ("lease_taken", "after_commit")
        status = walk.repo.status(NAME)  # (start creates the candidate in evaluate before its step)
        assert status["phase"] == (there if committed or i == 0 else here), (where, status)
        assert ("interrupted" in status) == interrupted, (where, status)
        if interrupted or (i == 0 and not committed):  # status proposes the command that goes on
            assert status["next"] == " ".join(("onboard", *args[:2])), (where, status)
        go_on = walk.repo.onboard("status", NAME) if committed else walk.repo.onboard(*args, timeout=900)
        assert go_on.returncode == 0, (where, go_on.stdout[-2000:], go_on.stderr[-2000:])
        if interrupted:
            assert "was undone" in go_on.stdout, (where, go_on.stdout)
        _consistent(walk.work, there)
        assert _same(_snapshot(walk.work), walk.snapshots[i + 1], measuring) == [], where
        assert _temp_files(walk.work) == [], where
        if i + 1 in walk.back_snapshots:  # the candidate can go on: back along the way it came
            back = walk.repo.onboard("rollback", NAME)
            assert back.returncode == 0, (where, back.stderr)
            assert _same(_snapshot(walk.work), walk.back_snapshots[i + 1], measuring) == [], where
        reliability.count(FIGURES, f"{here} -> {there} ({' '.join(args[:1])}), at {point}")


@pytest.mark.parametrize("i", range(2, len(WALK) + 1), ids=[f"back-from-{p}" for p, _ in WALK[2:]] + ["back-from-onboarded"])
def test_kill_a_rollback_at_every_point_then_go_on(walk, i):
    """Every point of the rollback out of the phase command i-1 entered: killed, checked, finished, and
    the command that had entered it runs again."""
    here, there = walk.phases[i], walk.phases[i - 1]
    measuring = there in MEASURING
    trace = walk.back_traces[i]
    for point, n in _kill_cases(trace):
        walk.restore(i)
        killed = walk.repo.onboard("rollback", NAME, env={"ONBOARD_TEST_KILL_AT": f"{point}@{n}"})
        where = f"rollback from {here}, killed at {point}@{n}"
        assert killed.returncode == -9, (where, killed.stdout[-2000:], killed.stderr[-2000:])
        _no_half_written(_snapshot(walk.work), [walk.snapshots[i], walk.back_snapshots[i]], measuring)
        committed = point == "after_commit"
        status = walk.repo.status(NAME)
        assert status["phase"] == (there if committed else here), (where, status)
        assert ("interrupted" in status) == (point not in ("lease_taken", "after_commit")), (where, status)
        if point not in ("lease_taken", "after_commit"):
            assert status["next"] == f"onboard rollback {NAME}", (where, status)
        if not committed:
            done = walk.repo.onboard("rollback", NAME)
            assert done.returncode == 0, (where, done.stdout[-2000:], done.stderr[-2000:])
        _consistent(walk.work, there)
        assert _same(_snapshot(walk.work), walk.back_snapshots[i], measuring) == [], where
        assert _temp_files(walk.work) == [], where
        again = walk.repo.onboard(*WALK[i - 1][1], timeout=900)
        assert again.returncode == 0, (where, again.stdout[-2000:], again.stderr[-2000:])
        _consistent(walk.work, here)
        assert _same(_snapshot(walk.work), walk.snapshots[i], measuring) == [], where
        reliability.count(FIGURES, f"{here} -> {there} (rollback), at {point}")
