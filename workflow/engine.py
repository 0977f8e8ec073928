"""The engine: loads a candidate, holds its lease, recovers interrupted steps, runs phase handlers,
checks guards, fires the state machine and persists every transition.

Every change to a candidate is one journalled step: the step row is committed first, each file
change is recorded before it is written (store.journal), and the candidate's new state, its options,
the step's end and the event are committed in ONE transaction, guarded by the version column. A
crash before that commit leaves an open step, which the next command on the candidate undoes first.
"""
from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm.exc import StaleDataError

from phases import BY_NAME, PHASES
from phases.contract import GuardResult, Phase, PhaseContext, candidate_work_dir, profile_id
import psutil

from store import crashpoints, lease, queries
from store.atomic import remove_orphan_temps, remove_orphan_temps_in
from store.db import open_db, utcnow
from store.journal import Journal
from store.schema import Candidate, Event, GuardResult as GuardRow, Step
from workflow import machine
from workflow.engine_lookup import load_candidate
from workflow.errors import WorkflowError
from workflow.exit_codes import Exit


@dataclass(frozen=True)
class GuardOutcome:
    name: str
    passed: bool
    reason: str
    fix: str | None
    checked_at: str


class Engine:
    def __init__(self, root: Path, db_path: Path, argv: list[str],
                 echo: Callable[[str], None] = click.echo) -> None:
        self.root = root
        self.argv = argv
        self.echo = echo
        self.sessions: sessionmaker[Session] = open_db(db_path)

    # -- commands -----------------------------------------------------------------------------------
    def start(self, name: str, repo: str | None = None, profile: str | None = None) -> None:
        """Create candidate ``name`` in the first phase and prepare it (evaluate).

        A start that is refused (its card is wrong, it names no GGUF, ...) leaves nothing behind: the
        candidate's row, history and work folder are removed again, so the same command, or the one
        the refusal prints, simply works once the cause is fixed. A start cut short (the process
        killed) keeps its row; the next ``start`` undoes its step and runs it again with the
        options given this time.
        """
        _check_name(name)
        card = self.root / "models" / "documentation" / "CANDIDATES" / f"README_{name}.md"
        if not card.is_file() and not repo:
            raise WorkflowError(Exit.BAD_INPUT, f"no candidate card {card.relative_to(self.root)}",
                                fix=f"write that card (see docs/workflow.md), or `onboard start {name} --repo OWNER/REPO`")
        first = PHASES[0]
        work_dir = candidate_work_dir(self.root, name)
        had_work_dir = work_dir.exists()
        options = start_options(repo, profile)
        with self.sessions() as session:
            existing = session.scalar(select(Candidate).where(Candidate.name == name))
            if existing is not None and self._started(session, existing):
                raise WorkflowError(Exit.WRONG_STATE, f"candidate {name} exists already",
                                    fix=f"onboard status {name}")
            self._check_profile_id(session, name, profile or profile_id(name))
            if existing is None:
                now = utcnow()
                cand = Candidate(name=name, state=first.name, created_at=now, updated_at=now)
                cand.options = options
                cand.path = [first.name]
                session.add(cand)
                try:
                    session.commit()
                except IntegrityError:  # the same start typed twice at once: the other one has it
                    raise WorkflowError(Exit.BUSY, f"another `onboard start {name}` is creating {name} right now",
                                        fix=f"onboard status {name}") from None
                self._event(session, cand, "start", None, None, first.name, True, {})
                session.commit()
            else:  # a start that was interrupted: the lease below undoes its step, then it runs again
                self.echo(f"note: {name} was started before but its start never finished; starting it again")
        try:
            with self._leased(name) as cand:
                if existing is not None:  # this start's own options, not those of the one cut short
                    cand = self._set_start_options(cand, options)
                self._step(cand, "start", first.name, lambda ctx: _call(first.prepare, ctx))
        except Exception:
            self._forget_unstarted(name, work_dir if not had_work_dir else None)
            raise
        self.echo(f"Started {name} in phase {first.name}.")
        self._print_guards(name, check=True)

    def _check_profile_id(self, session: Session, name: str, pid: str) -> None:
        """Refuse, before anything is created, a profile id that would make onboard write a section
        it does not own: one that models.conf has already (a person's hand-written profile, in any
        letter case, or its bench profile), or one another candidate uses (names that differ only in
        case or a trailing ``-`` slug to the same id)."""
        from store.models_conf import ModelsConf

        for other in session.scalars(select(Candidate).where(Candidate.name != name, Candidate.state != "abandoned")):
            if (other.options.get("profile_id") or other.options.get("profile") or profile_id(other.name)).casefold() \
                    == pid.casefold():
                raise WorkflowError(Exit.BAD_INPUT, f"profile id [{pid}] is candidate {other.name}'s already",
                                    fix=f"onboard start {name} --profile-id ID with an id of its own")
        conf = ModelsConf.load(self.root / "models.conf")
        for section in conf.sections:
            if section.id.casefold() in (pid.casefold(), f"bench-{pid}".casefold()):
                raise WorkflowError(Exit.BAD_INPUT, f"models.conf:{section.line}: section [{section.id}] exists and "
                                    "onboard did not create it; onboard never changes a section it did not create",
                                    fix=f"onboard start {name} --profile-id ID with an id models.conf does not have "
                                        f"yet (or rename [{section.id}] yourself)")

    def _set_start_options(self, cand: Candidate, options: dict[str, Any]) -> Candidate:
        """A start run again after one cut short takes the options given now (``--repo`` and
        ``--profile-id``, or none)."""
        with self.sessions() as session:
            row = session.get(Candidate, cand.id)
            row.options = options
            session.commit()
            session.refresh(row)
            session.expunge(row)
            return row

    def _forget_unstarted(self, name: str, work_dir: Path | None) -> None:
        """Remove a candidate whose start was refused (its step is undone already): the row with its
        steps, events and guard results (foreign keys cascade), and the work folder if this start
        made it. A candidate whose start did finish, that another command holds, or whose files could
        not all be put back (an open step: the next command's recovery needs its journal) is left alone."""
        with self.sessions() as session:
            row = session.scalar(select(Candidate).where(Candidate.name == name))
            if row is None or self._started(session, row) or row.lease_pid is not None:
                return
            if session.scalar(select(Step.id).where(Step.candidate_id == row.id, Step.status == "open")):
                return  # a step whose files could not be put back: its journal must stay for recovery
            session.delete(row)
            session.commit()
        if work_dir is not None and work_dir.is_dir():
            import shutil

            shutil.rmtree(work_dir, ignore_errors=True)

    @staticmethod
    def _started(session: Session, cand: Candidate) -> bool:
        """Whether the candidate's start step ever finished (else `start` may run it again)."""
        return queries.started(session.connection(), cand)

    def advance(self, name: str, opts: dict[str, Any]) -> int:
        with self._leased(name) as cand:
            with self.sessions() as session:
                if not self._started(session, cand):
                    raise WorkflowError(Exit.WRONG_STATE, f"{name}'s start never finished",
                                        fix=f"onboard start {name}")
            phase = self._phase_of(cand)
            skip = bool(opts.pop("skip_bench", False))
            wrong = [k for k in opts if phase.option(k) is None]
            if wrong:
                owners = {k: [p.name for p in PHASES if p.option(k)] for k in wrong}
                raise WorkflowError(Exit.WRONG_STATE, "; ".join(
                    f"--{k.replace('_', '-')} applies to the {', '.join(owners[k]) or 'no'} phase, "
                    f"and {name} is in {phase.name}" for k in wrong))
            if phase.run and (phase.run_by_default or any(phase.option(k).runs for k in opts)):
                cand = self._step(cand, "run", phase.name, lambda ctx: phase.run(ctx, opts))
            outcomes = self._check_guards(cand, phase)
            failed = [g for g in outcomes if not g.passed]
            if failed:
                if not phase.built:
                    raise WorkflowError(Exit.NOT_BUILT, failed[0].reason)
                self._report_failed(name, phase, failed)
                return Exit.GUARD
            results = {machine.condition_name(phase, g.name): g.passed for g in outcomes}
            trigger = "skip_bench" if skip else "advance"
            dest = machine.fire(trigger, phase.name, results)
            if dest is None:
                raise WorkflowError(Exit.WRONG_STATE, f"--skip-bench does not apply in phase {phase.name}"
                                    if skip else f"{name} cannot advance from {phase.name}")
            nxt = BY_NAME.get(dest)
            self._step(cand, "advance", dest, lambda ctx: _call(nxt.prepare if nxt else None, ctx),
                       trigger=trigger, skipped=skip)
        self.echo(f"{name}: {phase.name} -> {dest}")
        if dest in BY_NAME:
            self._print_guards(name, check=True)
        return Exit.OK

    def rollback(self, name: str) -> None:
        with self._leased(name) as cand:
            here = cand.state
            if here == "abandoned":
                raise WorkflowError(Exit.WRONG_STATE, f"{name} was abandoned; nothing to roll back")
            if cand.options.get("adopted"):
                raise WorkflowError(Exit.WRONG_STATE, f"{name} was adopted from the repository as it was: onboard "
                                    "wrote nothing for it, so there is nothing to roll back",
                                    fix=f"edit [{cand.options.get('profile', name)}] in models.conf yourself, or "
                                        f"`onboard abandon {name}` to stop tracking it")
            came_by_skip = cand.options.get("_skipped_into") == here
            dest = machine.fire("rollback", here, came_by_skip=came_by_skip)
            if dest is None:
                raise WorkflowError(Exit.WRONG_STATE, f"{name} is in the first phase ({here}): nothing before it",
                                    fix=f"onboard abandon {name}")
            self._undo_phase(cand, here, dest)
        self.echo(f"{name}: rolled back {here} -> {dest}")
        if here == "download":
            self.echo("Downloaded model files are never deleted; they stay under models/.")

    def abandon(self, name: str, undo: bool) -> None:
        with self._leased(name) as cand:
            if cand.state in ("abandoned",):
                raise WorkflowError(Exit.WRONG_STATE, f"{name} is abandoned already")
            if cand.state == "onboarded":
                raise WorkflowError(Exit.WRONG_STATE, f"{name} is onboarded; roll back first to abandon it")
            here = cand.state
            self._undo_phase(cand, here, "abandoned", everything=undo, trigger="abandon")
        self.echo(f"{name}: abandoned" + (" and its edits undone" if undo else " (its edits are kept)"))

    def check(self, name: str) -> list[GuardOutcome]:
        """Re-evaluate the current phase's guards and store them (status --check)."""
        with self.sessions() as session:
            cand = self._load(session, name)
        phase = BY_NAME.get(cand.state)
        return self._check_guards(cand, phase) if phase else []

    # -- steps ------------------------------------------------------------------------------------------
    def _step(self, cand: Candidate, kind: str, dest: str, work: Callable[[PhaseContext], None], *,
              trigger: str | None = None, skipped: bool = False) -> Candidate:
        """Run ``work`` as one journalled step that ends in state ``dest`` (committed atomically)."""
        journal = Journal(self.sessions, self.root, cand.id)
        step = journal.open_step(kind, cand.state, dest, self.argv)
        options = cand.options
        ctx = PhaseContext(name=cand.name, root=self.root, options=options, journal=journal, step=step,
                           echo=self.echo)
        try:
            work(ctx)
        except BaseException:
            self._abort_step(journal, step)
            raise
        crashpoints.reach("before_commit")
        with self.sessions() as session:
            row = session.get(Candidate, cand.id)
            if row.version != cand.version:
                raise WorkflowError(Exit.BUSY, f"{cand.name} was changed by another command meanwhile",
                                    fix=f"onboard status {cand.name}")
            source = row.state
            if skipped:
                options["_skipped_into"] = dest
            row.options = options
            if dest != row.state:
                row.state = dest
                row.path = row.path + [dest]
            row.updated_at = utcnow()
            session.get(Step, step.id).status = "done"
            session.get(Step, step.id).finished_at = utcnow()
            self._event(session, row, "transition" if dest != source else kind,
                        trigger or kind, source, dest, True, {"step": step.id, **ctx.data.get("event", {})})
            try:
                session.commit()
            except StaleDataError:
                raise WorkflowError(Exit.BUSY, f"{cand.name} was changed by another command meanwhile") from None
            except OperationalError:  # the database could not be written (a full disk): nothing moved
                session.rollback()
                self._undo_quietly(journal, step)
                raise
        crashpoints.reach("after_commit")
        return row

    def _undo_quietly(self, journal: Journal, step: Step) -> None:
        """The step's final commit failed: put its files back now where that still works. Whatever
        cannot be done now (the disk is still full) the next command's recovery does: the step is open."""
        try:
            self._abort_step(journal, step)
        except Exception:  # noqa: BLE001 - the commit's own error is the one to report
            pass

    def _abort_step(self, journal: Journal, step: Step) -> None:
        """A handler failed: put back what the step wrote, and close the step as undone."""
        records = journal.records([step.id])
        conflicts = journal.undo(None, records) if records else []  # nothing written: nothing to lock or undo
        with self.sessions() as session:
            journal.mark(session, records, "undone")
            session.get(Step, step.id).status = "undone" if not conflicts else "open"
            session.get(Step, step.id).finished_at = utcnow()
            session.commit()

    def _undo_phase(self, cand: Candidate, here: str, dest: str, *, everything: bool = False,
                    trigger: str = "rollback") -> None:
        """Undo what the current phase (or, with ``everything``, every phase) wrote, then move to ``dest``."""
        with self.sessions() as session:
            query = select(Step).where(Step.candidate_id == cand.id, Step.status == "done",
                                       Step.kind.in_(("start", "advance", "run") if everything else ("advance", "run")))
            if not everything:
                query = query.where(Step.to_state == here)
            steps = list(session.scalars(query.order_by(Step.id)))
        journal = Journal(self.sessions, self.root, cand.id)
        records = journal.records([s.id for s in steps]) if steps else []
        conflicts = journal.conflicts(records)
        if conflicts and not (trigger == "abandon" and not everything):
            raise WorkflowError(Exit.CONFLICT, "nothing was changed: these places were edited since onboard "
                                "wrote them:\n  " + "\n  ".join(map(str, conflicts)),
                                fix="undo those edits by hand, or keep them and `onboard abandon` without --undo")
        undo_now = records if (trigger == "rollback" or everything) else []
        step = journal.open_step(trigger, here, dest, self.argv)
        try:
            journal.undo(step, undo_now)
        except BaseException:  # Ctrl-C, SIGTERM, a failed write: put back what this undo changed so far
            self._abort_step(journal, step)
            raise
        crashpoints.reach("before_commit")
        with self.sessions() as session:
            row = session.get(Candidate, cand.id)
            options = row.options
            if dest in BY_NAME:
                for key in BY_NAME[dest].owns_options:
                    options.pop(key, None)
            if options.get("_skipped_into") == here:
                options.pop("_skipped_into")
            row.options = options
            row.state = dest
            path = row.path
            if trigger == "rollback" and path and path[-1] == here:
                path = path[:-1]
            row.path = path if trigger == "rollback" else path + [dest]
            row.updated_at = utcnow()
            journal.mark(session, undo_now, "undone")
            for s in steps:
                if undo_now and s.kind != "start":  # the start itself happened: an abandoned candidate stays one
                    session.get(Step, s.id).status = "undone"
            session.get(Step, step.id).status = "done"
            session.get(Step, step.id).finished_at = utcnow()
            self._event(session, row, "transition", trigger, here, dest, True,
                        {"undone_changes": len(undo_now), "step": step.id})
            session.query(GuardRow).filter(GuardRow.candidate_id == row.id, GuardRow.phase == here).delete()
            try:
                session.commit()
            except OperationalError:  # a full disk: the candidate did not move, so its files go back too
                session.rollback()
                self._undo_quietly(journal, step)
                raise
        crashpoints.reach("after_commit")

    # -- recovery and leases ---------------------------------------------------------------------------------
    @contextmanager
    def _leased(self, name: str) -> Iterator[Candidate]:
        holder = lease.me(" ".join(["onboard", *self.argv]))
        with self.sessions() as session:
            cand = self._load(session, name)
            try:
                stale = lease.acquire(session, cand.id, holder)
            except lease.Busy as busy:
                raise WorkflowError(Exit.BUSY, f"{name} is busy: {busy.holder.describe()} is working on it",
                                    fix="wait for it to finish, then run your command again") from None
        if stale is not None:
            self.echo(f"note: took over the lease of a command that is gone ({stale.describe()})")
        crashpoints.reach("lease_taken")
        try:
            self._recover(cand)
            with self.sessions() as session:
                cand = self._load(session, name)
            yield cand
        finally:
            with self.sessions() as session:
                lease.release(session, cand.id, holder)

    def _recover(self, cand: Candidate) -> None:
        """Undo an interrupted step (one whose final commit never happened) and say so."""
        journal = Journal(self.sessions, self.root, cand.id)
        for step in journal.open_steps():
            records = journal.records([step.id])
            for file in {r.file for r in records} | {"models.conf"}:
                remove_orphan_temps(self.root / file, psutil.pid_exists)
            remove_orphan_temps_in(candidate_work_dir(self.root, cand.name), psutil.pid_exists)
            conflicts = journal.undo(None, records)
            if conflicts:
                raise WorkflowError(Exit.CONFLICT, f"an interrupted {step.kind} ({step.from_state} -> "
                                    f"{step.to_state}) cannot be undone:\n  " + "\n  ".join(map(str, conflicts)))
            with self.sessions() as session:
                journal.mark(session, records, "undone")
                row = session.get(Step, step.id)
                row.status = "undone"
                row.finished_at = utcnow()
                self._event(session, session.get(Candidate, cand.id), "recover", step.kind, step.from_state,
                            step.to_state, True, {"step": step.id, "undone_changes": len(records)})
                session.commit()
            files = sorted({r.file for r in records})
            self.echo(f"note: an interrupted {step.kind} ({step.from_state} -> {step.to_state}) was undone"
                      + (f"; restored {', '.join(files)}" if files else "; it had written no file yet"))

    # -- guards ---------------------------------------------------------------------------------------------------
    def _check_guards(self, cand: Candidate, phase: Phase) -> list[GuardOutcome]:
        ctx = PhaseContext(name=cand.name, root=self.root, options=cand.options, echo=self.echo)
        now = utcnow()
        outcomes = []
        for guard in phase.guards:
            try:
                result = guard.check(ctx)
            except Exception as err:  # a guard that crashes holds the candidate back, with the reason
                result = GuardResult(False, f"could not be checked: {type(err).__name__}: {err}")
            outcomes.append(GuardOutcome(guard.name, result.passed, result.reason, result.fix, now))
        with self.sessions() as session:
            for g in outcomes:
                session.merge(GuardRow(candidate_id=cand.id, phase=phase.name, name=g.name, passed=g.passed,
                                       reason=g.reason, fix=g.fix, checked_at=g.checked_at))
            self._event(session, session.get(Candidate, cand.id), "guards", None, phase.name, None,
                        all(g.passed for g in outcomes),
                        {"guards": [{"name": g.name, "passed": g.passed, "reason": g.reason} for g in outcomes]})
            session.commit()
        return outcomes

    def _report_failed(self, name: str, phase: Phase, failed: list[GuardOutcome]) -> None:
        self.echo(f"{name} stays in {phase.name}: {len(failed)} guard(s) hold it back", )
        for g in failed:
            self.echo(f"  [fail] {g.name}: {g.reason}")
            if g.fix:
                self.echo(f"         fix: {g.fix}")

    def _print_guards(self, name: str, *, check: bool) -> None:
        outcomes = self.check(name) if check else []
        for g in outcomes:
            mark = "ok  " if g.passed else "todo"
            self.echo(f"  [{mark}] {g.name}: {g.reason}" + (f"\n         next: {g.fix}" if g.fix and not g.passed else ""))

    # -- helpers -------------------------------------------------------------------------------------------------------
    def _phase_of(self, cand: Candidate) -> Phase:
        phase = BY_NAME.get(cand.state)
        if phase is None:
            raise WorkflowError(Exit.WRONG_STATE, f"{cand.name} is {cand.state}: there is nothing to advance",
                                fix=f"onboard rollback {cand.name}" if cand.state == "onboarded" else None)
        return phase

    def _load(self, session: Session, name: str) -> Candidate:
        return load_candidate(session, name)

    def _event(self, session: Session, cand: Candidate, kind: str, trigger: str | None,
               source: str | None, dest: str | None, ok: bool, detail: dict[str, Any]) -> None:
        session.add(Event(candidate_id=cand.id, at=utcnow(), kind=kind, trigger=trigger, from_state=source,
                          to_state=dest, argv=json.dumps(["onboard", *self.argv]), ok=ok,
                          detail=json.dumps(detail)))


def start_options(repo: str | None, profile: str | None) -> dict[str, Any]:
    """The options a start records: the person's ``--repo`` and ``--profile-id`` where given."""
    return {**({"repo": repo} if repo else {}), **({"profile_id": profile} if profile else {})}


def _check_name(name: str) -> None:
    from llamacpp.candidate_card import check_name  # the one rule for names (BadInput: exit 6)

    check_name(name)


def _call(func: Callable[[PhaseContext], None] | None, ctx: PhaseContext) -> None:
    if func is not None:
        func(ctx)
