"""The workflow as a state machine (library: transitions), built from the phase list once per process.

States: the phases in order, then ``onboarded`` and ``abandoned``. Triggers:
- ``advance``: phase i -> phase i+1 (the last phase -> onboarded); its conditions are the guards of
  the phase being left.
- ``skip_bench``: from the phase before the benchmark phases, and from the first of them, straight
  to the phase after them (guards of the phase being left still apply).
- ``rollback``: back to the previous phase actually passed through (skipped phases are skipped
  back too), and from onboarded back to the last phase.
- ``abandon``: any phase -> abandoned.

Each condition is a ``GuardCondition``: a callable that transitions calls with the event, and that
asks the event's model whether that guard of that phase passes. The model (``CandidateModel``)
answers through the function it was given: the engine's evaluates the phase's guards the first time
transitions asks (and records them), ``status`` answers from the stored results. One ``Machine``
serves every candidate: a model is added for the time of one question (``candidate``).
"""
from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from transitions import EventData, Machine
from transitions.core import MachineError

from onboard.phases import FINAL_STATES, PHASES
from onboard.phases.contract import Phase

CAME_BY_SKIP = "came_by_skip"
TRIGGERS = ("advance", "skip_bench", "rollback", "abandon")

# (phase name, guard name) -> passed, or None when unknown (counts as not passed)
GuardAnswer = Callable[[str, str], "bool | None"]


def condition_name(phase: Phase, guard_name: str) -> str:
    """How a guard is named in the machine (and in its diagram): ``<phase>/<guard>``."""
    return f"{phase.name}/{guard_name}"


class GuardCondition:
    """A transition's condition: one guard of one phase, asked of the model when transitions checks it."""

    def __init__(self, phase: Phase, guard_name: str) -> None:
        self.phase = phase.name
        self.guard = guard_name
        self.__name__ = condition_name(phase, guard_name)  # the diagram labels a condition by its name

    def __call__(self, event: EventData) -> bool:
        return event.model.passes(self.phase, self.guard)

    def __repr__(self) -> str:
        return self.__name__


def _conditions(phase: Phase) -> list[GuardCondition]:
    return [GuardCondition(phase, g.name) for g in phase.guards]


def transitions_table(phases: tuple[Phase, ...] = PHASES) -> list[dict[str, Any]]:
    """The machine as data: one dict per transition, in the order transitions tries them."""
    names = [p.name for p in phases] + ["onboarded"]
    table: list[dict[str, Any]] = []
    for i, phase in enumerate(phases):
        table.append({"trigger": "advance", "source": phase.name, "dest": names[i + 1],
                      "conditions": _conditions(phase)})
    skippable = [i for i, p in enumerate(phases) if p.skippable]
    if skippable:
        first, last = skippable[0], skippable[-1]
        after = names[last + 1]
        before = phases[first - 1]
        table.append({"trigger": "skip_bench", "source": before.name, "dest": after, "conditions": _conditions(before)})
        table.append({"trigger": "skip_bench", "source": phases[first].name, "dest": after})
        table.append({"trigger": "rollback", "source": after, "dest": before.name, "conditions": [CAME_BY_SKIP]})
    for i in range(1, len(phases)):
        table.append({"trigger": "rollback", "source": phases[i].name, "dest": phases[i - 1].name})
    table.append({"trigger": "rollback", "source": "onboarded", "dest": phases[-1].name})
    table.append({"trigger": "abandon", "source": [p.name for p in phases], "dest": "abandoned"})
    return table


def states(phases: tuple[Phase, ...] = PHASES) -> list[str]:
    return [p.name for p in phases] + list(FINAL_STATES)


class CandidateModel:
    """The object transitions drives for one candidate: its state, how it got there, and the answer
    to "does this guard pass?" (``answer``), asked only when a transition's condition needs it."""

    def __init__(self, answer: GuardAnswer | None = None, came_by_skip: bool = False) -> None:
        self.state: str = ""
        self._answer = answer or (lambda _phase, _guard: None)
        self._came_by_skip = came_by_skip

    def passes(self, phase: str, guard: str) -> bool:
        return bool(self._answer(phase, guard))

    def came_by_skip(self, _event: EventData) -> bool:
        return self._came_by_skip


def _build() -> Machine:
    return Machine(model=None, states=states(), transitions=transitions_table(), initial=None,
                   auto_transitions=False, ignore_invalid_triggers=False, send_event=True)


MACHINE: Machine = _build()


@contextmanager
def candidate(state: str, answer: GuardAnswer | None = None, came_by_skip: bool = False) -> Iterator[CandidateModel]:
    """A model in ``state`` on the one machine, for the time of the ``with`` block."""
    model = CandidateModel(answer, came_by_skip)
    MACHINE.add_model(model, initial=state)
    try:
        yield model
    finally:
        MACHINE.remove_model(model)


def fire(trigger: str, model: CandidateModel) -> str | None:
    """Fire ``trigger`` on ``model``: the state it led to, or None when no transition was allowed
    (no transition from this state, or a condition that did not pass)."""
    try:
        moved = model.trigger(trigger)
    except MachineError:
        return None
    return model.state if moved else None


def allowed(model: CandidateModel) -> list[str]:
    """The triggers whose conditions hold now (transitions' ``may_<trigger>``), in the machine's order."""
    return [t for t in TRIGGERS if t in MACHINE.get_triggers(model.state) and getattr(model, f"may_{t}")()]


def mermaid() -> str:
    """The diagram of the machine, generated by transitions (docs/workflow.md embeds it)."""
    from transitions.extensions import GraphMachine

    model = CandidateModel()
    GraphMachine(model=model, states=states(), transitions=transitions_table(), initial=PHASES[0].name,
                 auto_transitions=False, graph_engine="mermaid", show_conditions=True,
                 title="onboard workflow")
    return model.get_graph().draw(None)
