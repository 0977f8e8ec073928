"""The expected state of a scratch repository while random command sequences run on it
(``tests/test_stateful_workflow.py``): each candidate's phase and what onboard wrote for it, and
every byte a person wrote by hand.

The model predicts each command's exit code and the candidate's phase after it; the checks compare
the repository with the model after every step. A person's bytes are compared exactly: models.conf
with the sections onboard created taken out must be the person's own text, so a rollback that
leaves a stray blank line, or a write that touched a person's section, shows up at once.
"""
from __future__ import annotations

import sqlite3
from dataclasses import dataclass, field
from pathlib import Path

import psutil

from onboard.store.models_conf import ModelsConf

PHASES = ("evaluate", "download", "profile", "samplers", "test", "bench-profile")
# Entering these phases writes the candidate's production profile [name] in models.conf.
WRITES_PROFILE = ("profile", "samplers", "bench-profile")
# The exit codes of the documented table (README, "Exit codes").
DOCUMENTED_EXITS = frozenset(range(10)) | {130, 143}
CLIENT_SETTINGS = "docs/client-settings.md"
NOTES = "docs/notes.md"


@dataclass
class Candidate:
    """One candidate as the model expects it."""

    name: str
    phase: str | None = None  # None: not started; a phase of PHASES, or "abandoned"
    quant: str | None = None
    writes: list[str] = field(default_factory=list)  # phases whose entry wrote [name], oldest first
    # len(writes) at each hand edit of [name]: an edit made after the newest write makes undoing
    # that write a conflict (the place no longer holds what onboard wrote there)
    edit_points: set[int] = field(default_factory=set)
    edited_line: str | None = None  # the DESCRIPTION line the person last wrote into [name]
    kept_sections: tuple[str, ...] = ()  # abandoned without --undo: what stays in models.conf
    kept_block: bool = False
    undone: bool = False  # abandoned with --undo

    @property
    def started(self) -> bool:
        return self.phase is not None

    @property
    def live(self) -> bool:
        return self.phase in PHASES

    @property
    def index(self) -> int:
        return PHASES.index(self.phase) if self.live else -1

    def sections(self) -> tuple[str, ...]:
        """The models.conf sections onboard created for this candidate that are there now."""
        if self.phase == "abandoned":
            return self.kept_sections
        if not self.live or self.index < PHASES.index("profile"):
            return ()
        return (self.name, f"bench-{self.name}") if self.phase == "bench-profile" else (self.name,)

    def has_block(self) -> bool:
        """Whether docs/client-settings.md holds this candidate's sampler block."""
        if self.phase == "abandoned":
            return self.kept_block
        return self.live and self.index >= PHASES.index("samplers")

    def rollback_conflicts(self) -> bool:
        """Undoing the step that entered the current phase would overwrite the person's edit."""
        return self.phase in WRITES_PROFILE and len(self.writes) in self.edit_points

    def undo_all_conflicts(self) -> bool:
        """``abandon --undo`` would remove a line the person wrote into the profile."""
        return bool(self.edit_points) and self.name in self.sections()


@dataclass
class Person:
    """What the person wrote: models.conf without onboard's sections, their notes, their lines in
    the client settings file onboard keeps."""

    conf: str
    notes: str
    settings_lines: list[str] = field(default_factory=list)
    edits: int = 0


def person_view(conf_text: str, candidates: list[Candidate]) -> str:
    """models.conf with every section onboard created (and still has there) taken out."""
    conf = ModelsConf.parse(conf_text)
    for cand in candidates:
        for sid in cand.sections():
            assert conf.section(sid) is not None, f"[{sid}] is missing from models.conf ({cand.name} in {cand.phase})"
            conf = conf.without_section(sid)
    return conf.text


def check_files(root: Path, candidates: list[Candidate], person: Person) -> None:
    """The repository's files against the model (see the module docstring)."""
    conf_text = (root / "models.conf").read_bytes().decode("utf-8")
    conf = ModelsConf.parse(conf_text)
    expected = {sid for c in candidates for sid in c.sections()}
    onboard_like = {s.id for s in conf.sections} - {s.id for s in ModelsConf.parse(person.conf).sections}
    assert onboard_like == expected, f"models.conf has sections {sorted(onboard_like)}, expected {sorted(expected)}"
    assert person_view(conf_text, candidates) == person.conf, (
        "models.conf without onboard's sections differs from what the person wrote:\n"
        f"--- person wrote ---\n{person.conf}\n--- file now ---\n{conf_text}")
    for cand in candidates:
        if cand.edited_line and cand.name in cand.sections():
            section = conf.section_text(cand.name) or ""
            assert cand.edited_line in section.splitlines(), (
                f"the person's line {cand.edited_line!r} in [{cand.name}] was lost:\n{section}")
    assert (root / NOTES).read_bytes().decode("utf-8") == person.notes, f"{NOTES} changed"
    settings = root / CLIENT_SETTINGS
    text = settings.read_bytes().decode("utf-8") if settings.exists() else ""
    for line in person.settings_lines:
        assert line in text.splitlines(), f"the person's line {line!r} in {CLIENT_SETTINGS} was lost:\n{text}"
    for cand in candidates:
        marker = f"<!-- BEGIN onboard: {cand.name} -->"
        assert (marker in text) == cand.has_block(), f"{CLIENT_SETTINGS}: block of {cand.name} " \
            f"{'missing' if cand.has_block() else 'left behind'} ({cand.phase})"
    temps = [str(p.relative_to(root)) for p in root.rglob("*.onboard-tmp*")]
    assert temps == [], f"temp files left: {temps}"


def check_database(root: Path, candidates: list[Candidate], adopted: frozenset[str] = frozenset()) -> None:
    """Every candidate's recorded state is the model's; no step left open, no lease held by a live
    process. ``adopted``: the person's own profiles ``doctor --rebuild`` registered as onboarded
    (it adopts models.conf's profiles into the new database)."""
    want = {c.name: c.phase for c in candidates if c.started}
    path = root / ".onboard" / "onboard.db"
    if not path.exists():
        assert want == {}, f"no database, but candidates {want}"
        return
    db = sqlite3.connect(f"file:{root / '.onboard' / 'onboard.db'}?mode=ro", uri=True)
    try:
        states = dict(db.execute("select name, state from candidates"))
        open_steps = db.execute("select count(*) from steps where status = 'open'").fetchone()[0]
        leases = [pid for (pid,) in db.execute("select lease_pid from candidates where lease_pid is not null")]
    finally:
        db.close()
    extra = {name: state for name, state in states.items() if name not in {c.name for c in candidates}}
    assert set(extra) <= adopted and set(extra.values()) <= {"onboarded"}, \
        f"recorded candidates {sorted(extra)} that were never started (adopted by a rebuild: {sorted(adopted)})"
    states = {name: state for name, state in states.items() if name not in extra}
    assert states == want, f"recorded states {states}, expected {want}"
    assert open_steps == 0, f"{open_steps} step(s) left open"
    live = [pid for pid in leases if psutil.pid_exists(pid)]
    assert live == [], f"leases held by live processes {live}"
