"""Random sequences of everything a person (and bad luck) does to a repository while onboarding:
start, advance, rollback, abandon (with and without --undo), hand edits to models.conf (the
person's own section, a comment, a new section of their own, another candidate's profile) and to
docs, a SIGKILL at a named point of the write path, a Ctrl-C or SIGTERM in the middle of a write, two
commands at once on one candidate, and a damaged database rebuilt by ``onboard doctor --rebuild``.

A hypothesis state machine drives the real CLI (separate processes, real SQLite, real files) over
three candidates of the tiny llama served by the local hub, through evaluate, download, profile,
samplers and test (from a llama-server log, ``advance --log``), and keeps a model of what it expects
(``tests/stateful_model.py``). After every step: each candidate's recorded phase is the model's and
its files match it; the person's bytes are exactly what the person last wrote; no temp file is left;
no step is left open; every exit code is one of the documented table and no command printed a
traceback. Rolling a candidate back before its profile leaves models.conf as it was plus the
person's later edits, byte for byte.

Seeded (``derandomize``) and bounded: ``ONBOARD_STATEFUL_EXAMPLES`` sequences (default 12) of at most
``ONBOARD_STATEFUL_STEPS`` steps (default 25), about 3-4 minutes on 2 cores; ``ONBOARD_STATEFUL_VERBOSE=1``
prints each sequence (with ``pytest -s``), ``ONBOARD_STATEFUL_SHRINK=1`` reduces a failing one. The faults
these sequences found are reduced to short command sequences at the end of this file.
"""
from __future__ import annotations

import json
import os
import random
import re
import shutil
import signal
import sqlite3
import subprocess
import tempfile
import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, Phase, assume, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule, \
    run_state_machine_as_test

from onboard.store.crashpoints import POINTS
from onboard.store.models_conf import ModelsConf
from tests import reliability
from tests.hub_server import LocalHub
from tests.stateful_model import CLIENT_SETTINGS, DOCUMENTED_EXITS, NOTES, PHASES, WRITES_PROFILE, Candidate, \
    Person, check_database, check_files
from tests.workflow_repo import PERSON_CONF, REPO_ID, WorkflowRepo, hub_files, make_repo

FIGURES = "stateful workflow sequences"
NAMES = ("tiny-llama", "other", "third")
QUANTS = ("Q8_0", "F16")
LOGS = Path(__file__).resolve().parent / "fixtures" / "llama-server-logs"
OOM_LOG = LOGS / "b11434-cpu-fail-oom-ulimit.log"
EXAMPLES = int(os.environ.get("ONBOARD_STATEFUL_EXAMPLES", "12"))
STEPS = int(os.environ.get("ONBOARD_STATEFUL_STEPS", "25"))
VERBOSE = os.environ.get("ONBOARD_STATEFUL_VERBOSE") == "1"  # print each sequence's commands (pytest -s)
SHRINK = os.environ.get("ONBOARD_STATEFUL_SHRINK") == "1"  # reduce a failing sequence (slow)
# The phases from which the next command writes files: forward (advance), back (rollback).
WRITING_FORWARD = ("download", "profile", "test")
WRITING_BACK = ("profile", "samplers", "bench-profile")
# The points a command that writes no file reaches (it still takes a lease and commits a step).
NO_FILE_POINTS = ("lease_taken", "step_opened", "before_commit", "after_commit")
NOTES_TEXT = "# My notes\n\nThings I learned about my rig.\n"


def _cpu_log(path: Path) -> Path:
    """A llama-server log of the tiny llama on this CPU-only rig. The fixture was recorded on a CPU
    build whose CPU buffers count as offloaded layers (5/5); the planner puts 0 of the test model's 3
    layers on a GPU here, so the offload line says what a run on this rig prints."""
    text = (LOGS / "cpu-tiny-llama.log").read_text(encoding="utf-8")
    assert "offloaded 5/5 layers to GPU" in text
    path.write_text(text.replace("offloaded 5/5 layers to GPU", "offloaded 0/3 layers to GPU"), encoding="utf-8")
    return path


def _wait_for(path: Path, proc: subprocess.Popen, timeout: float = 60) -> bool:
    """True when ``path`` appears; False when the process ended first (it never reached the point)."""
    deadline = time.monotonic() + timeout
    while not path.exists():
        if proc.poll() is not None:
            return path.exists()
        assert time.monotonic() < deadline, f"{path} never appeared"
        time.sleep(0.05)
    return True


class Workflow(RuleBasedStateMachine):
    """One random sequence on a fresh repository. ``base``, ``hub_url``, ``files`` and ``good_log``
    are set by the test before the machine runs."""

    base: Path
    hub_url: str
    files: dict[str, bytes]
    good_log: Path

    @initialize(crlf=st.booleans())
    def fresh_repository(self, crlf: bool) -> None:
        """The person's repository; in half the sequences their models.conf has CRLF line endings,
        which every write and undo must keep."""
        tmp = Path(tempfile.mkdtemp(prefix="seq-", dir=self.base))
        self.repo: WorkflowRepo = make_repo(tmp, self.hub_url, self.files, NAMES[0])
        self.nl = "\r\n" if crlf else "\n"
        person_conf = PERSON_CONF.replace("\n", self.nl)
        (self.repo.root / "models.conf").write_bytes(person_conf.encode())
        cards = self.repo.root / "models" / "documentation" / "CANDIDATES"
        for name in NAMES[1:]:
            shutil.copyfile(cards / f"README_{NAMES[0]}.md", cards / f"README_{name}.md")
        (self.repo.root / "docs").mkdir()
        (self.repo.root / NOTES).write_text(NOTES_TEXT)
        self.cands = {name: Candidate(name) for name in NAMES}
        self.person = Person(conf=person_conf, notes=NOTES_TEXT)
        self.damaged = False
        self.adopted: frozenset[str] = frozenset()  # the person's profiles a rebuild adopted
        self.checked = False  # the first check is of the fresh repository, not after a step
        self.log: list[str] = []  # the commands of this sequence, for the failure message
        self._expect(self._run("start", NAMES[0]), 0, ("start", NAMES[0]))  # one under way from the outset
        self._moved(self.cands[NAMES[0]], "evaluate")
        reliability.count(FIGURES, "sequences run")

    # -- running commands -------------------------------------------------------------------------
    def _run(self, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
        proc = self.repo.onboard(*args, env=env, timeout=300)
        self.log.append(f"onboard {' '.join(args)}{' ' + str(env) if env else ''} -> {proc.returncode}")
        self._sound(proc.returncode, proc.stderr, args, killed_ok=bool(env and "ONBOARD_TEST_KILL_AT" in env))
        return proc

    def _sound(self, rc: int, stderr: str, args: tuple[str, ...], *, killed_ok: bool = False) -> None:
        where = f"onboard {' '.join(args)}"
        assert rc in DOCUMENTED_EXITS or (killed_ok and rc == -signal.SIGKILL), \
            f"{where}: exit {rc} is not in the documented table\n{stderr[-3000:]}\n{self._story()}"
        assert "Traceback" not in stderr, f"{where}: traceback\n{stderr[-3000:]}\n{self._story()}"

    def _story(self) -> str:
        return "sequence so far:\n  " + "\n  ".join(self.log)

    def _expect(self, proc: subprocess.CompletedProcess, rc: int, args: tuple[str, ...]) -> None:
        assert proc.returncode == rc, (f"onboard {' '.join(args)}: exit {proc.returncode}, expected {rc}\n"
                                       f"{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}\n{self._story()}")

    def _forward(self, cand: Candidate, quant: str) -> tuple[tuple[str, ...], int, str | None]:
        """The command that moves ``cand`` on, its exit code and the phase after it."""
        name = cand.name
        if not cand.started:
            return ("start", name), 0, "evaluate"
        if cand.phase == "abandoned":
            return ("advance", name), 4, None
        if cand.phase == PHASES[-1]:  # the benchmark runs EvalPlus: out of this test's reach
            return ("advance", name), -1, None
        options = {"evaluate": ("--quant", quant), "download": ("--download",),
                   "test": ("--log", str(self.good_log))}.get(cand.phase, ())
        return ("advance", name, *options), 0, PHASES[cand.index + 1]

    def _back(self, cand: Candidate) -> tuple[tuple[str, ...], int, str | None]:
        """``rollback``, its exit code and the phase after it."""
        args = ("rollback", cand.name)
        if not cand.started:
            return args, 3, None
        if cand.phase in ("abandoned", "evaluate"):
            return args, 4, None
        if cand.rollback_conflicts():
            return args, 7, None
        return args, 0, PHASES[cand.index - 1]

    def _moved(self, cand: Candidate, to: str | None, quant: str | None = None) -> None:
        """Apply a command that exited 0 to the model."""
        if to is None:
            return
        forward = not cand.started or PHASES.index(to) > cand.index
        if forward:
            if to == "download":
                cand.quant = quant
            if to in WRITES_PROFILE:
                cand.writes.append(to)
        else:
            if cand.phase in WRITES_PROFILE:
                cand.writes.pop()
            if cand.phase == "profile":  # the invariant then proves models.conf is back byte for byte
                reliability.count(FIGURES, "profiles rolled back (models.conf as before plus the person's edits)")
            if to == "evaluate":
                cand.quant = None
        cand.phase = to

    def _movable(self, back: bool) -> list[Candidate]:
        """Candidates whose next command (forward or back) is expected to succeed."""
        found = []
        for cand in self.cands.values():
            args, rc, to = self._back(cand) if back else self._forward(cand, QUANTS[0])
            if rc == 0 and to is not None:
                found.append(cand)
        return found

    def _writing(self, back: bool) -> list[tuple[Candidate, bool]]:
        """(candidate, back): the commands expected to succeed that write a file, those in direction
        ``back`` first, else those in the other."""
        for way in (back, not back):
            found = [(c, way) for c in self._movable(way) if c.phase in (WRITING_BACK if way else WRITING_FORWARD)]
            if found:
                return found
        return []

    # -- the workflow ------------------------------------------------------------------------------
    def _pick(self, data, *, fresh: bool = False) -> Candidate:
        """A candidate: mostly one already started (or, for ``fresh``, one not started yet), now and
        then any of them, so that commands on an unknown or abandoned candidate are tried too.

        Never one abandoned with --undo: ``advance`` then says its start never finished and ``start``
        brings it back to evaluate (a known fault, reproduced on its own in
        ``test_a_candidate_abandoned_with_undo_stays_abandoned``), which would end every sequence
        that meets it before it finds anything else."""
        cands = [c for c in self.cands.values() if not c.undone]
        assume(cands)
        pool = [c for c in cands if c.started != fresh]
        if not pool or data.draw(st.integers(0, 7), label="any") == 0:
            pool = cands
        return data.draw(st.sampled_from(pool), label="candidate")

    @rule(data=st.data())
    def start(self, data) -> None:
        cand = self._pick(data, fresh=True)
        args = ("start", cand.name)
        proc = self._run(*args)
        self._expect(proc, 4 if cand.started else 0, args)
        if not cand.started:
            self._moved(cand, "evaluate")

    @rule(data=st.data(), quant=st.sampled_from(QUANTS), times=st.integers(1, 3))
    def advance(self, data, quant: str, times: int) -> None:
        """``advance`` with the options the phase needs, up to ``times`` phases on."""
        cand = self._pick(data)
        for _ in range(times):
            if cand.phase == "bench-profile":
                return  # the benchmark needs EvalPlus: out of this test's reach
            args, rc, to = self._forward(cand, quant)
            if args[0] == "start":
                args, rc, to = ("advance", cand.name), 3, None
            proc = self._run(*args)
            self._expect(proc, rc, args)
            if rc != 0:
                return
            self._moved(cand, to, quant)

    @rule(data=st.data())
    def advance_held_by_a_guard(self, data) -> None:
        """No quant chosen yet, or a log that ran out of memory: exit 1, the candidate stays."""
        cand = self._pick(data)
        name = cand.name
        if cand.phase not in ("evaluate", "test"):
            return
        args = ("advance", name) if cand.phase == "evaluate" else ("advance", name, "--log", str(OOM_LOG))
        proc = self._run(*args)
        self._expect(proc, 1, args)

    @rule(data=st.data())
    def rollback(self, data) -> None:
        cand = self._pick(data)
        args, rc, to = self._back(cand)
        before = self._bytes()
        proc = self._run(*args)
        self._expect(proc, rc, args)
        if rc == 0:
            self._moved(cand, to)
        else:
            assert self._bytes() == before, f"{' '.join(args)} exited {rc} but changed files\n{self._story()}"

    @rule(data=st.data(), undo=st.booleans())
    def abandon(self, data, undo: bool) -> None:
        cand = self._pick(data)
        name = cand.name
        args = ("abandon", name, *(("--undo",) if undo else ()))
        rc = 3 if not cand.started else 4 if cand.phase == "abandoned" else \
            7 if undo and cand.undo_all_conflicts() else 0
        before = self._bytes()
        proc = self._run(*args)
        self._expect(proc, rc, args)
        if rc != 0:
            assert self._bytes() == before, f"{' '.join(args)} exited {rc} but changed files\n{self._story()}"
            return
        cand.undone = undo
        if undo:
            cand.kept_sections, cand.kept_block = (), False
        else:
            cand.kept_sections, cand.kept_block = cand.sections(), cand.has_block()
        cand.phase = "abandoned"
        cand.writes, cand.edit_points = [], set()

    # -- a person's hand edits -------------------------------------------------------------------------
    @rule(kind=st.sampled_from(("own-section", "comment", "new-section", "candidate-section", "notes",
                                "client-settings")),
          name=st.sampled_from(NAMES))
    def hand_edit(self, kind: str, name: str) -> None:
        conf_path = self.repo.root / "models.conf"
        conf = conf_path.read_bytes().decode("utf-8")
        n = self.person.edits + 1
        nl = self.nl
        if kind == "own-section":  # the person's own profile: a new description
            line = re.search(r"^DESCRIPTION=my daily driver[^\r\n]*", conf, re.M)[0]
            new_line = f"DESCRIPTION=my daily driver (edit {n})"
            conf_path.write_text(conf.replace(line, new_line, 1), encoding="utf-8", newline="")
            self.person.conf = self.person.conf.replace(line, new_line, 1)
        elif kind == "comment":  # a comment under the file's first line
            first, rest = conf.split(nl, 1)
            conf_path.write_text(f"{first}{nl}# note {n}{nl}{rest}", encoding="utf-8", newline="")
            first, rest = self.person.conf.split(nl, 1)
            self.person.conf = f"{first}{nl}# note {n}{nl}{rest}"
        elif kind == "new-section":  # a profile of their own, at the end
            section = f"{nl}[mine-{n}]{nl}NAME=Mine {n}{nl}MODEL=models/Mine/Q4_K_M/mine-{n}.gguf{nl}"
            assert conf.endswith(nl) and self.person.conf.endswith(nl)
            conf_path.write_text(conf + section, encoding="utf-8", newline="")
            self.person.conf += section
        elif kind == "candidate-section":  # a line in a profile onboard wrote for a candidate
            cand = self.cands[name]
            if name not in cand.sections():
                return
            parsed = ModelsConf.parse(conf)
            text = parsed.section_text(name)
            line = re.search(r"^DESCRIPTION=[^\r\n]*", text, re.M)[0]
            new_line = f"DESCRIPTION=edited by me ({n})"
            conf_path.write_text(conf.replace(text, text.replace(line, new_line, 1), 1), encoding="utf-8",
                                 newline="")
            cand.edited_line = new_line
            if cand.live:
                cand.edit_points.add(len(cand.writes))
        elif kind == "notes":
            self.person.notes += f"- note {n}\n"
            (self.repo.root / NOTES).write_text(self.person.notes, encoding="utf-8", newline="")
        else:  # a line of the person's own at the end of the client settings onboard keeps
            path = self.repo.root / CLIENT_SETTINGS
            if not path.exists():
                return
            text = path.read_bytes().decode("utf-8")
            line = f"My own remark {n}."
            path.write_text(text + ("" if text.endswith("\n") else "\n") + line + "\n", encoding="utf-8",
                            newline="")
            self.person.settings_lines.append(line)
        self.person.edits = n
        self.log.append(f"(hand edit: {kind} {name if kind == 'candidate-section' else ''})")
        reliability.count(FIGURES, "hand edits")

    # -- bad luck ----------------------------------------------------------------------------------
    @rule(data=st.data(), back=st.booleans(), point=st.sampled_from(POINTS), nth=st.sampled_from((1, 1, 1, 2)))
    def kill_at_a_named_point(self, data, back: bool, point: str, nth: int) -> None:
        """SIGKILL the next command at ``point@nth``; then the same command again finishes it."""
        movable = self._movable(back)
        if not movable:
            return
        cand = data.draw(st.sampled_from(movable), label="candidate")
        quant = data.draw(st.sampled_from(QUANTS), label="quant")
        args, rc, to = self._back(cand) if back else self._forward(cand, quant)
        if cand.phase not in (WRITING_BACK if back else WRITING_FORWARD):
            point = data.draw(st.sampled_from(NO_FILE_POINTS), label="point")  # a command that writes no file
        killed = self._run(*args, env={"ONBOARD_TEST_KILL_AT": f"{point}@{nth}"})
        if killed.returncode != -signal.SIGKILL:  # the command never reached that point so often
            self._expect(killed, rc, args)
            self._moved(cand, to, quant)
            return
        reliability.count(FIGURES, "kills (SIGKILL at a named point, then recovered)")
        ModelsConf.parse((self.repo.root / "models.conf").read_text(encoding="utf-8"))  # never half-written
        status = self.repo.onboard("status", cand.name, "--json")
        self._sound(status.returncode, status.stderr, ("status", cand.name))
        info = json.loads(status.stdout) if status.returncode == 0 else {}
        phase_now = info.get("phase")
        if args[0] == "start":
            again = status.returncode == 3 or "interrupted" in info or info.get("next") == f"onboard start {cand.name}"
        else:
            again = "interrupted" in info or phase_now == cand.phase
        if again:
            proc = self._run(*args)
            self._expect(proc, rc, args)
        else:
            assert phase_now == to, f"killed at {point}@{nth}, {cand.name} is in {phase_now}\n{self._story()}"
        self._moved(cand, to, quant)

    @rule(data=st.data(), back=st.booleans(), signum=st.sampled_from((signal.SIGINT, signal.SIGTERM)))
    def interrupt_mid_write(self, data, back: bool, signum: int) -> None:
        """Ctrl-C (or SIGTERM) while the command holds a new file text before renaming it into place:
        exit 130 (143), files and phase as before."""
        choices = self._writing(back)
        if not choices:
            return
        cand, back = data.draw(st.sampled_from(choices), label="candidate")
        quant = data.draw(st.sampled_from(QUANTS), label="quant")
        args, rc, to = self._back(cand) if back else self._forward(cand, quant)
        hold = Path(tempfile.mkdtemp(dir=self.base)) / "hold"
        before = self._bytes()
        proc = self.repo.start_onboard(*args, env={"ONBOARD_TEST_HOLD_AT": "before_rename",
                                                   "ONBOARD_TEST_HOLD_FILE": str(hold)})
        reached = _wait_for(Path(f"{hold}.reached"), proc)
        if reached:
            proc.send_signal(signum)
        out, err = proc.communicate(timeout=120)
        sent = f", {signal.Signals(signum).name}" if reached else ""
        self.log.append(f"onboard {' '.join(args)} (held before_rename{sent}) -> {proc.returncode}")
        self._sound(proc.returncode, err, args)
        if not reached:  # the command wrote no file
            assert proc.returncode == rc, (out, err, self._story())
            self._moved(cand, to, quant)
            return
        code = 130 if signum == signal.SIGINT else 143
        assert proc.returncode == code, (out[-2000:], err[-2000:], self._story())
        reliability.count(FIGURES, "interrupts (SIGINT/SIGTERM mid-write)")
        # an interrupted command, a rollback as well, puts back what it had changed before it ends
        assert self._bytes() == before, f"files changed by an interrupted {' '.join(args)}\n{self._story()}"

    @rule(data=st.data(), back=st.booleans(), second_back=st.booleans())
    def two_commands_at_once(self, data, back: bool, second_back: bool) -> None:
        """While one command holds the candidate's lease, a second on it exits 5 and changes nothing."""
        movable = [c for c in self._movable(back) if c.started]
        if not movable:
            return
        cand = data.draw(st.sampled_from(movable), label="candidate")
        quant = data.draw(st.sampled_from(QUANTS), label="quant")
        args, rc, to = self._back(cand) if back else self._forward(cand, quant)
        hold = Path(tempfile.mkdtemp(dir=self.base)) / "hold"
        first = self.repo.start_onboard(*args, env={"ONBOARD_TEST_HOLD_AT": "lease_taken",
                                                    "ONBOARD_TEST_HOLD_FILE": str(hold)})
        try:
            assert _wait_for(Path(f"{hold}.reached"), first), first.communicate()
            before = self._bytes()
            second_args = ("rollback", cand.name) if second_back else ("advance", cand.name)
            second = self._run(*second_args)
            self._expect(second, 5, second_args)
            assert self._bytes() == before
        finally:
            Path(f"{hold}.release").write_text("")
            out, err = first.communicate(timeout=120)
        self.log.append(f"onboard {' '.join(args)} (held at lease_taken meanwhile) -> {first.returncode}")
        self._sound(first.returncode, err, args)
        assert first.returncode == rc, (out[-2000:], err[-2000:], self._story())
        self._moved(cand, to, quant)
        reliability.count(FIGURES, "two commands at once on one candidate")

    @precondition(lambda self: not self.damaged and len(self.log) >= 6 and any(c.started for c in self.cands.values()))
    @rule(chance=st.integers(0, 2))
    def damage_the_database_then_rebuild(self, chance: int) -> None:
        """A damaged last page of the database (filler rows put there first, as a long history
        would): ``doctor`` says so, ``doctor --rebuild`` recovers every candidate. Sparingly: at most
        once a sequence, a third of the times it is drawn."""
        if chance:
            return
        self.damaged = True
        db = self.repo.root / ".onboard" / "onboard.db"
        with sqlite3.connect(db) as conn:
            (cid,) = conn.execute("select min(id) from candidates").fetchone()
            conn.executemany("INSERT INTO events (candidate_id, at, kind, argv, ok, detail) "
                             "VALUES (?, 't', 'note', '[]', 1, ?)", [(cid, "x" * 3000) for _ in range(40)])
        conn.close()
        data = bytearray(db.read_bytes())
        data[-4096:] = random.Random(len(self.log)).randbytes(4096)  # the same damage on every run
        db.write_bytes(bytes(data))
        self.log.append("(database: last page damaged)")
        damaged = self._run("doctor")
        self._expect(damaged, 6, ("doctor",))
        self.adopted = frozenset(s.id for s in ModelsConf.parse(self.person.conf).sections)
        rebuilt = self._run("doctor", "--rebuild")
        self._expect(rebuilt, 0, ("doctor", "--rebuild"))
        self._expect(self._run("doctor"), 0, ("doctor",))
        reliability.count(FIGURES, "databases damaged, then rebuilt")

    def teardown(self) -> None:
        if VERBOSE and hasattr(self, "repo"):
            print(self._story())

    # -- after every step ------------------------------------------------------------------------------
    def _bytes(self) -> dict[str, bytes]:
        """Every file a person keeps: not onboard's database and logs, not the downloaded model files
        (a download is kept whatever happens to the step that asked for it)."""
        root = self.repo.root
        return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*"))
                if p.is_file() and p.relative_to(root).parts[0] != ".onboard"
                and p.relative_to(root).parts[:2] != ("models", "Tiny-Llama")}

    @invariant()
    def repository_matches_the_model(self) -> None:
        if not hasattr(self, "repo"):
            return
        if self.checked:
            reliability.count(FIGURES, "steps run")
        self.checked = True
        try:
            check_files(self.repo.root, list(self.cands.values()), self.person)
            check_database(self.repo.root, list(self.cands.values()), self.adopted)
        except AssertionError as err:
            raise AssertionError(f"{err}\n{self._story()}") from None


def test_random_sequences_keep_every_byte_and_state(tmp_path):
    files = hub_files(tmp_path)
    with LocalHub({REPO_ID: files}) as hub:
        Workflow.base, Workflow.hub_url, Workflow.files = tmp_path, hub.url, files
        Workflow.good_log = _cpu_log(tmp_path / "cpu-tiny-llama-0-of-3.log")
        run_state_machine_as_test(Workflow, settings=settings(
            max_examples=EXAMPLES, stateful_step_count=STEPS, deadline=None, derandomize=True,
            suppress_health_check=list(HealthCheck), database=None,
            phases=list(Phase) if SHRINK else [Phase.explicit, Phase.generate]))


# -- the faults these sequences found, each reduced to its shortest command sequence -----------------
@pytest.fixture()
def repo(tmp_path):
    files = hub_files(tmp_path)
    with LocalHub({REPO_ID: files}) as hub:
        yield make_repo(tmp_path, hub.url, files)


def _to_profile(repo: WorkflowRepo, name: str = NAMES[0]) -> None:
    for args in (("start", name), ("advance", name, "--quant", "Q8_0"), ("advance", name, "--download")):
        repo.onboard(*args, check=True)


def test_abandon_undo_never_removes_a_line_the_person_edited_in_the_profile(repo):
    """The person edits the profile onboard wrote, onboard writes it again (the samplers phase keeps
    the edit), then ``abandon --undo``: the person's line must not vanish without a conflict, as
    ``rollback`` refuses (exit 7) at the same place."""
    _to_profile(repo)
    mine = "DESCRIPTION=edited by me"
    conf = re.sub(r"^DESCRIPTION=llama, .*$", mine, repo.conf, count=1, flags=re.M)
    assert mine in conf
    (repo.root / "models.conf").write_text(conf)
    repo.onboard("advance", NAMES[0], check=True)  # profile -> samplers: writes EXTRA_ARGS, keeps the edit
    assert mine in repo.conf
    undo = repo.onboard("abandon", NAMES[0], "--undo")
    assert undo.returncode == 7 and mine in repo.conf, (
        f"abandon --undo exited {undo.returncode} and the person's line {mine!r} is "
        f"{'still there' if mine in repo.conf else 'GONE'}: undoing every step judged only the newest "
        f"record of [{NAMES[0]}], then walked back through the older ones over the edit\n{undo.stderr}")


def test_a_candidate_abandoned_with_undo_stays_abandoned(repo):
    _to_profile(repo)
    repo.onboard("abandon", NAMES[0], "--undo", check=True)
    advance = repo.onboard("advance", NAMES[0])
    assert advance.returncode == 4 and "abandoned" in advance.stderr, advance.stderr
    start = repo.onboard("start", NAMES[0])
    assert start.returncode == 4 and "exists already" in start.stderr, start.stdout + start.stderr
    assert repo.status(NAMES[0])["phase"] == "abandoned"


@pytest.mark.parametrize(("signum", "code"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_an_interrupted_rollback_leaves_the_files_as_before(repo, tmp_path, signum, code):
    """Ctrl-C while ``rollback`` from bench-profile holds models.conf's new text (after it removed the
    benchmark pipeline files it had written): it says the step was undone and the files are as
    before, so they must be, and the step is closed."""
    _to_profile(repo)
    log = _cpu_log(tmp_path / "cpu.log")
    for args in (("advance", NAMES[0]), ("advance", NAMES[0]), ("advance", NAMES[0], "--log", str(log))):
        repo.onboard(*args, check=True)
    before = {p: p.read_bytes() for p in (repo.root / "benchmarks").rglob("*") if p.is_file()}
    assert before and repo.status(NAMES[0])["phase"] == "bench-profile"
    hold = tmp_path / "hold"
    proc = repo.start_onboard("rollback", NAMES[0], env={"ONBOARD_TEST_HOLD_AT": "before_rename",
                                                          "ONBOARD_TEST_HOLD_FILE": str(hold)})
    assert _wait_for(Path(f"{hold}.reached"), proc)
    proc.send_signal(signum)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == code and "was undone" in err, out + err
    after = {p: p.read_bytes() for p in (repo.root / "benchmarks").rglob("*") if p.is_file()}
    assert after == before, f"missing after the interrupt: {sorted(str(p) for p in set(before) - set(after))}"
    assert "interrupted" not in repo.status(NAMES[0])
