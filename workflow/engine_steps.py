"""The journalled steps under every workflow command: a candidate's lease, the recovery of a step cut
short, running a phase's work as one step, undoing a phase's steps, and asking the guards.

Every change to a candidate is one journalled step: the step row is committed first, each file
change is recorded before it is written (store.journal), and the candidate's new state, its choices
and facts, the step's end and the event are committed in ONE transaction, guarded by the version
column. A crash before that commit leaves an open step, which the next command on the candidate
undoes first. Nothing here prints: what there is to tell goes to ``_report`` (``workflow.engine``).
"""
from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import psutil
from sqlalchemy import select
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.orm.exc import StaleDataError

from onboard.phases import BY_NAME
from onboard.phases.contract import GuardResult, Phase, PhaseContext, candidate_work_dir
from onboard.store import crashpoints, lease
from onboard.store.atomic import remove_orphan_temps, remove_orphan_temps_in
from onboard.store.db import open_db, utcnow
from onboard.store.journal import Journal
from onboard.store.schema import Candidate, Event, GuardResult as GuardRow, Step
from onboard.workflow import machine
from onboard.workflow.candidate_facts import WORKFLOW_KEY, WorkflowFacts
from onboard.workflow.engine_lookup import load_candidate
from onboard.workflow.errors import WorkflowError
from onboard.workflow.exit_codes import Exit
from onboard.workflow.results import GuardOutcome


class StepRunner:
    """The engine's machinery for one repository and database (``workflow.engine.Engine`` adds the commands)."""

    def __init__(self, root: Path, db_path: Path, argv: list[str],
                 on_report: Callable[[str], None] | None = None) -> None:
        self.root = root
        self.argv = argv
        self.on_report = on_report  # told each line a phase or the recovery reports, as it happens
        self.sessions: sessionmaker[Session] = open_db(db_path)
        self._notes: list[str] = []

    def _report(self, line: str) -> None:
        self._notes.append(line)
        if self.on_report is not None:
            self.on_report(line)

    def _begin(self) -> list[str]:
        """A command starts: the lines reported from now on are this command's."""
        self._notes = []
        return self._notes

    # -- steps ------------------------------------------------------------------------------------------
    def _step(self, cand: Candidate, kind: str, dest: str, work: Callable[[PhaseContext], None], *,
              phase: str | None, trigger: str | None = None, skipped: bool = False) -> Candidate:
        """Run ``work`` (the work of ``phase``) as one journalled step that ends in state ``dest``
        (committed atomically, with the choices and facts the work left)."""
        journal = Journal(self.sessions, self.root, cand.id)
        step = journal.open_step(kind, cand.state, dest, self.argv)
        options = cand.options
        ctx = PhaseContext(name=cand.name, root=self.root, options=options, journal=journal, step=step,
                           echo=self._report, facts_by_phase=cand.facts, phase=phase)
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
            facts = ctx.facts_json()
            if skipped:
                facts[WORKFLOW_KEY] = WorkflowFacts(skipped_into=dest).to_json()
            row.options = options
            row.facts = facts
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
                    trigger: str = "rollback") -> int:
        """Undo what the current phase (or, with ``everything``, every phase) wrote, then move to ``dest``;
        returns how many changes were put back. A rollback returning to a phase forgets the choices
        made in it (and its facts, where the phase redoes them there)."""
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
            options, facts = row.options, row.facts
            if dest in BY_NAME:
                for key in BY_NAME[dest].owns_choices:
                    options.pop(key, None)
                if BY_NAME[dest].return_forgets_facts:
                    facts.pop(dest, None)
            if WorkflowFacts.from_json(facts.get(WORKFLOW_KEY)).skipped_into == here:
                facts.pop(WORKFLOW_KEY)
            row.options = options
            row.facts = facts
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
        return len(undo_now)

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
            self._report(f"note: took over the lease of a command that is gone ({stale.describe()})")
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
            self._report(f"note: an interrupted {step.kind} ({step.from_state} -> {step.to_state}) was undone"
                      + (f"; restored {', '.join(files)}" if files else "; it had written no file yet"))

    # -- guards ---------------------------------------------------------------------------------------------------
    def _check_guards(self, cand: Candidate, phase: Phase) -> list[GuardOutcome]:
        ctx = PhaseContext(name=cand.name, root=self.root, options=cand.options, echo=self._report,
                           facts_by_phase=cand.facts, phase=phase.name)
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

    def _guard_answer(self, cand: Candidate, checked: dict[str, list[GuardOutcome]]) -> machine.GuardAnswer:
        """The machine's answer to "does this guard pass?": the first question about a phase checks all
        its guards (and records them, as ``status`` shows them), later ones answer from that check."""
        def answer(phase_name: str, guard_name: str) -> bool | None:
            if phase_name not in checked:
                checked[phase_name] = self._check_guards(cand, BY_NAME[phase_name])
            return next((g.passed for g in checked[phase_name] if g.name == guard_name), None)

        return answer

    def _load(self, session: Session, name: str) -> Candidate:
        return load_candidate(session, name)

    def _event(self, session: Session, cand: Candidate, kind: str, trigger: str | None,
               source: str | None, dest: str | None, ok: bool, detail: dict[str, Any]) -> None:
        session.add(Event(candidate_id=cand.id, at=utcnow(), kind=kind, trigger=trigger, from_state=source,
                          to_state=dest, argv=json.dumps(["onboard", *self.argv]), ok=ok,
                          detail=json.dumps(detail)))
