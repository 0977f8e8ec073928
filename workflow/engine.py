"""The engine: loads a candidate, holds its lease, recovers interrupted steps, runs phase handlers,
fires the state machine (which asks the guards) and persists every transition.

Each command returns a result (``workflow.results``) and prints nothing: what the phases and the
recovery report goes to ``on_report`` as it happens (the command line shows it) and into the result.
The journalled steps under the commands (leases, recovery, undo, the guards) are ``workflow.engine_steps``.
"""
from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from onboard.phases import BY_NAME, PHASES
from onboard.phases.repo_layout import card_relpath
from onboard.phases.contract import Phase, PhaseContext, candidate_work_dir, profile_id
from onboard.store import queries
from onboard.store.db import utcnow
from onboard.store.schema import Candidate, Step
from onboard.workflow import machine
from onboard.workflow.candidate_facts import ADOPT_KEY, WORKFLOW_KEY, AdoptFacts, WorkflowFacts
from onboard.workflow.engine_steps import StepRunner
from onboard.workflow.errors import WorkflowError
from onboard.workflow.exit_codes import Exit
from onboard.workflow.results import CheckResult, GuardOutcome, StepResult


class Engine(StepRunner):
    """The workflow commands: each returns its result and prints nothing."""

    # -- commands -----------------------------------------------------------------------------------
    def start(self, name: str, repo: str | None = None, profile: str | None = None) -> StepResult:
        """Create candidate ``name`` in the first phase and prepare it (evaluate).

        A start that is refused (its card is wrong, it names no GGUF, ...) leaves nothing behind: the
        candidate's row, history and work folder are removed again, so the same command, or the one
        the refusal prints, simply works once the cause is fixed. A start cut short (the process
        killed) keeps its row; the next ``start`` undoes its step and runs it again with the
        options given this time.
        """
        notes = self._begin()
        _check_name(name)
        card = self.root / card_relpath(name)
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
                self._report(f"note: {name} was started before but its start never finished; starting it again")
        try:
            with self._leased(name) as cand:
                if existing is not None:  # this start's own options, not those of the one cut short
                    cand = self._set_start_options(cand, options)
                cand = self._step(cand, "start", first.name, lambda ctx: _call(first.prepare, ctx), phase=first.name)
        except Exception:
            self._forget_unstarted(name, work_dir if not had_work_dir else None)
            raise
        return StepResult("start", name, None, first.name, True, guards_phase=first.name,
                          guards=self._check_guards(cand, first), notes=notes)

    def _check_profile_id(self, session: Session, name: str, pid: str) -> None:
        """Refuse, before anything is created, a profile id that would make onboard write a section
        it does not own: one that models.conf has already (a person's hand-written profile, in any
        letter case, or its bench profile), or one another candidate uses (names that differ only in
        case or a trailing ``-`` slug to the same id)."""
        from onboard.store.models_conf import ModelsConf

        for other in session.scalars(select(Candidate).where(Candidate.name != name, Candidate.state != "abandoned")):
            if _profile_of(other).casefold() == pid.casefold():
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

    def advance(self, name: str, opts: dict[str, Any]) -> StepResult:
        notes = self._begin()
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
                cand = self._step(cand, "run", phase.name, lambda ctx: phase.run(ctx, opts), phase=phase.name)
            trigger = "skip_bench" if skip else "advance"
            checked: dict[str, list[GuardOutcome]] = {}
            with machine.candidate(phase.name, self._guard_answer(cand, checked)) as model:
                dest = machine.fire(trigger, model)
            # a trigger with no transition from here asks no guard: they are checked all the same
            outcomes = checked.get(phase.name) or self._check_guards(cand, phase)
            if any(not g.passed for g in outcomes):
                return StepResult("advance", name, phase.name, None, False, guards_phase=phase.name,
                                  guards=outcomes, notes=notes, exit_code=int(Exit.GUARD))
            if dest is None:
                raise WorkflowError(Exit.WRONG_STATE, f"--skip-bench does not apply in phase {phase.name}"
                                    if skip else f"{name} cannot advance from {phase.name}")
            nxt = BY_NAME.get(dest)
            cand = self._step(cand, "advance", dest, lambda ctx: _call(nxt.prepare if nxt else None, ctx),
                              phase=dest if nxt else None, trigger=trigger, skipped=skip)
        return StepResult("advance", name, phase.name, dest, True, guards_phase=nxt.name if nxt else None,
                          guards=self._check_guards(cand, nxt) if nxt else [], notes=notes)

    def rollback(self, name: str) -> StepResult:
        notes = self._begin()
        with self._leased(name) as cand:
            here = cand.state
            if here == "abandoned":
                raise WorkflowError(Exit.WRONG_STATE, f"{name} was abandoned; nothing to roll back")
            adopted = AdoptFacts.from_json(cand.facts.get(ADOPT_KEY))
            if adopted.adopted:
                raise WorkflowError(Exit.WRONG_STATE, f"{name} was adopted from the repository as it was: onboard "
                                    "wrote nothing for it, so there is nothing to roll back",
                                    fix=f"edit [{adopted.profile or name}] in models.conf yourself, or "
                                        f"`onboard abandon {name}` to stop tracking it")
            came_by_skip = WorkflowFacts.from_json(cand.facts.get(WORKFLOW_KEY)).skipped_into == here
            with machine.candidate(here, came_by_skip=came_by_skip) as model:
                dest = machine.fire("rollback", model)
            if dest is None:
                raise WorkflowError(Exit.WRONG_STATE, f"{name} is in the first phase ({here}): nothing before it",
                                    fix=f"onboard abandon {name}")
            undone = self._undo_phase(cand, here, dest)
        if here == "download":
            self._report("Downloaded model files are never deleted; they stay under models/.")
        return StepResult("rollback", name, here, dest, True, undone_changes=undone, notes=notes)

    def abandon(self, name: str, undo: bool) -> StepResult:
        notes = self._begin()
        with self._leased(name) as cand:
            if cand.state in ("abandoned",):
                raise WorkflowError(Exit.WRONG_STATE, f"{name} is abandoned already")
            if cand.state == "onboarded":
                raise WorkflowError(Exit.WRONG_STATE, f"{name} is onboarded; roll back first to abandon it")
            here = cand.state
            undone = self._undo_phase(cand, here, "abandoned", everything=undo, trigger="abandon")
        return StepResult("abandon", name, here, "abandoned", True, undone_changes=undone if undo else None,
                          notes=notes)

    def check(self, name: str) -> CheckResult:
        """Ask the machine which triggers hold now (``may_<trigger>``): that evaluates the current phase's
        guards and stores them (``status --check``)."""
        notes = self._begin()
        with self.sessions() as session:
            cand = self._load(session, name)
        phase = BY_NAME.get(cand.state)
        checked: dict[str, list[GuardOutcome]] = {}
        came_by_skip = WorkflowFacts.from_json(cand.facts.get(WORKFLOW_KEY)).skipped_into == cand.state
        with machine.candidate(cand.state, self._guard_answer(cand, checked), came_by_skip) as model:
            allowed = machine.allowed(model)
        outcomes = (checked.get(phase.name) or self._check_guards(cand, phase)) if phase else []
        return CheckResult(name, cand.state, outcomes, allowed, notes)

    # -- helpers -------------------------------------------------------------------------------------------------------
    def _phase_of(self, cand: Candidate) -> Phase:
        phase = BY_NAME.get(cand.state)
        if phase is None:
            raise WorkflowError(Exit.WRONG_STATE, f"{cand.name} is {cand.state}: there is nothing to advance",
                                fix=f"onboard rollback {cand.name}" if cand.state == "onboarded" else None)
        return phase


def start_options(repo: str | None, profile: str | None) -> dict[str, Any]:
    """The options a start records: the person's ``--repo`` and ``--profile-id`` where given."""
    return {**({"repo": repo} if repo else {}), **({"profile_id": profile} if profile else {})}


def _check_name(name: str) -> None:
    from onboard.llamacpp.candidate_card import check_name  # the one rule for names (BadInput: exit 6)

    check_name(name)


def _call(func: Callable[[PhaseContext], None] | None, ctx: PhaseContext) -> None:
    if func is not None:
        func(ctx)


def _profile_of(cand: Candidate) -> str:
    """The models.conf section a candidate owns: chosen at start, the adopted profile, else NAME as a slug."""
    return (cand.options.get("profile_id") or AdoptFacts.from_json(cand.facts.get(ADOPT_KEY)).profile
            or profile_id(cand.name))
