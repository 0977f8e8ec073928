"""The one small interface between the workflow engine and the phases.

A phase is plain data: a name, its guards (named checks that gate leaving it), an optional
``prepare`` (runs on entering: cheap, idempotent, never a download, a launch or a benchmark), an
optional ``run`` (the long or person-driven work of ``advance NAME [options]``) and the record of
what it finds (``facts``, kept apart from the person's choices: ``phases.facts``). A phase says what
it did through ``ctx.report``, never by printing: the engine returns those lines in its result, and
the command line shows them. Phase modules
import the llama.cpp domain lazily inside these functions, so that reading the phase list (for
``status`` or ``list``) never loads gguf, huggingface_hub, nvidia-ml-py or the planner.
"""
from __future__ import annotations

import re
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from onboard.phases.facts import Facts

if TYPE_CHECKING:  # the journal is only needed when a step writes
    from onboard.store.journal import Journal
    from onboard.store.schema import Step



def profile_id(name: str) -> str:
    """Profile id = the candidate NAME as a lowercase slug."""
    return re.sub(r"[^a-z0-9._-]+", "-", name.lower()).strip("-")


@dataclass(frozen=True)
class GuardResult:
    passed: bool
    reason: str
    fix: str | None = None  # the command (or edit) that makes it pass


@dataclass(frozen=True)
class Guard:
    name: str
    description: str
    check: Callable[["PhaseContext"], GuardResult]


@dataclass(frozen=True)
class Option:
    """An ``advance`` option a phase accepts. ``runs`` = giving it runs the phase's ``run``."""

    name: str  # python name, e.g. "quant"; the CLI flag is --quant
    help: str
    runs: bool = True
    metavar: str | None = None  # takes a value (e.g. "Q", "FILE"); None = a flag


@dataclass(frozen=True)
class Phase:
    name: str
    title: str
    does: str  # what the handler does (docs table)
    guards: tuple[Guard, ...] = ()
    prepare: Callable[["PhaseContext"], None] | None = None
    run: Callable[["PhaseContext", dict[str, Any]], None] | None = None
    run_by_default: bool = False  # `advance NAME` with no option runs it (test, benchmark)
    options: tuple[Option, ...] = ()
    facts: type[Facts] | None = None  # the record of what this phase finds (ctx.facts)
    owns_choices: tuple[str, ...] = ()  # choices made in this phase: forgotten when a rollback returns to it
    return_forgets_facts: bool = False  # a rollback returning to this phase forgets its facts (redone there)
    skippable: bool = False  # bench-profile and benchmark: `advance --skip-bench`

    def option(self, name: str) -> Option | None:
        return next((o for o in self.options if o.name == name), None)


def candidate_work_dir(root: Path, name: str) -> Path:
    """``.onboard/candidates/<name>/``: a candidate's caches and logs (not the person's files, not
    journalled; the engine's recovery cleans a dead writer's temp files there)."""
    return Path(root) / ".onboard" / "candidates" / name


@dataclass
class PhaseContext:
    """What a phase handler or guard sees: the candidate, its repository and a journalled writer.

    ``options`` are the person's choices; ``facts`` is the record of the phase at work (``phase``) and
    ``facts_of(name)`` another phase's, both read from ``facts_by_phase`` (records, or their JSON as
    stored). ``report`` tells the person a line: it goes to ``echo`` at once (the engine collects the
    lines into its result, and the command line shows them while a long launch runs)."""

    name: str
    root: Path
    options: dict[str, Any] = field(default_factory=dict)
    journal: "Journal | None" = None
    step: "Step | None" = None
    echo: Callable[[str], None] | None = None
    data: dict[str, Any] = field(default_factory=dict)
    facts_by_phase: dict[str, Any] = field(default_factory=dict)
    phase: str | None = None

    def report(self, line: str) -> None:
        """Tell the person ``line`` (through ``echo``; nobody is told when there is none)."""
        if self.echo is not None:
            self.echo(line)

    @property
    def facts(self) -> Any:
        """The record of the phase at work (``Phase.facts``), created empty when it has none yet."""
        if self.phase is None:
            raise RuntimeError("facts: this context belongs to no phase")
        return self.facts_of(self.phase)

    def facts_of(self, phase: str) -> Any:
        """Phase ``phase``'s record (an empty one when it found nothing yet). The same object on every
        call, so that what a phase sets in it is stored when its step ends."""
        found = self.facts_by_phase.get(phase)
        if isinstance(found, Facts):
            return found
        from onboard.phases import BY_NAME  # the phase list imports this module

        kind = BY_NAME[phase].facts
        if kind is None:
            raise KeyError(f"the {phase} phase keeps no facts")
        record = kind.from_json(found)
        self.facts_by_phase[phase] = record
        return record

    def facts_json(self) -> dict[str, dict[str, Any]]:
        """Every phase's record as stored (JSON), keyed by phase name."""
        return {name: (value.to_json() if isinstance(value, Facts) else dict(value or {}))
                for name, value in self.facts_by_phase.items()}

    def merged_view(self) -> dict[str, Any]:
        """The choices with the facts that describe the model, under the names the docs rows read
        (``display_name``, ``architecture``, ``chat``, ``samplers``, ``thinking``, ``quant``)."""
        from onboard.phases import sources

        view = dict(self.options)
        evaluated = self.facts_of("evaluate")
        for key in ("display_name", "architecture"):
            if view.get(key) is None and getattr(evaluated, key) is not None:
                view[key] = getattr(evaluated, key)
        view["chat"] = sources.chat(self)
        samplers = self.facts_of("samplers").samplers
        if samplers is not None:
            view["samplers"] = samplers
        return view

    @property
    def profile_id(self) -> str:
        """The candidate's models.conf section: chosen at start (``--profile-id``), else NAME as a slug."""
        return self.options.get("profile_id") or profile_id(self.name)

    @property
    def work_dir(self) -> Path:
        path = candidate_work_dir(self.root, self.name)
        path.mkdir(parents=True, exist_ok=True)
        return path

    def card_path(self) -> Path:
        from onboard.phases.repo_layout import card_relpath

        return self.root / card_relpath(self.name)

    # journalled writes: only inside a step
    def set_profile(self, section_id: str, values: dict[str, str], comments: list[str]) -> bool:
        return self._journal().set_conf_section(self.step, section_id, values, comments)

    def set_block(self, relpath: str, block_id: str, body: str | None, new_file_header: str = "") -> bool:
        return self._journal().set_block(self.step, relpath, block_id, body, new_file_header)

    def write_file(self, relpath: str, text: str | None) -> bool:
        return self._journal().write_file(self.step, relpath, text)

    def write_shared(self, relpath: str, text: str, label: str) -> bool:
        """Write a file other candidates (or the person) also change: a new file whole (rollback removes
        it), an existing one as the runs of lines that differ, so that undoing one candidate's change
        never puts back another's text, and a person's edit elsewhere in the file is no conflict."""
        from onboard.store.atomic import inside_root

        if inside_root(self.root, relpath).exists():
            return self.edit_text(relpath, text, label)
        return self.write_file(relpath, text)

    def edit_text(self, relpath: str, new_text: str, label: str) -> bool:
        """Change a person's own file (their table, listing, script) into ``new_text``: journalled as
        the runs of lines that changed, so rollback removes exactly those (``store.journal``)."""
        return self._journal().edit_text(self.step, relpath, new_text, label)

    def writing(self) -> AbstractContextManager[None]:
        """Hold the repository's write lock while rendering a shared file from the repository's current
        state and writing it, so another candidate's write cannot fall in between and be lost."""
        from onboard.store.repo_lock import writing

        return writing(self.root)

    def record_measurements(self, rig: str, rows: list[tuple[str, str, str, float | None, float | None]]) -> int:
        """Store predicted-vs-measured rows ``(backend, device, what, predicted, measured)`` (MiB)."""
        from onboard.store.measurements import record

        journal = self._journal()
        return record(journal.sessions, journal.candidate_id, rig, rows)

    def _journal(self) -> "Journal":
        if self.journal is None or self.step is None:
            raise RuntimeError("files may only be written inside a journalled step")
        return self.journal
