"""The records a candidate keeps beside the phases' own (``phases.facts``): the engine's (how the
candidate got where it is) and adoption's (what a person's profile told when it was adopted); and
every record of a candidate in its current shape, as ``status --json`` shows them.

Light on purpose: ``status`` reads these without loading the engine or the ORM mapping.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from onboard.phases import BY_NAME
from onboard.phases.facts import Facts

WORKFLOW_KEY = "workflow"
ADOPT_KEY = "adopt"


@dataclass
class WorkflowFacts(Facts):
    """How the candidate got where it is: the phase it entered by ``--skip-bench`` (rollback skips back)."""

    LEGACY = {"_skipped_into": "skipped_into"}

    skipped_into: str | None = None


@dataclass
class AdoptFacts(Facts):
    """What adoption found for a candidate: its profile, and what the profile tells when it was tested."""

    adopted: bool = False
    profile: str | None = None  # the models.conf section
    tested: bool = False
    speed_tps: float | None = None
    memory_gb: dict[str, Any] | None = None
    strategy: str | None = None
    kind: str | None = None  # dense or MoE


def record_type(key: str) -> type[Facts] | None:
    """The record stored under ``key`` of a candidate's facts (a phase's name, ``workflow``, ``adopt``)."""
    if key == WORKFLOW_KEY:
        return WorkflowFacts
    if key == ADOPT_KEY:
        return AdoptFacts
    phase = BY_NAME.get(key)
    return phase.facts if phase is not None else None


def normalized(facts: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Every record of a candidate's facts in its current shape (every field, current names), in the
    order of the phases; a key no record knows is left out."""
    order = [*BY_NAME, WORKFLOW_KEY, ADOPT_KEY]
    out: dict[str, dict[str, Any]] = {}
    for key in sorted(facts, key=lambda k: order.index(k) if k in order else len(order)):
        kind = record_type(key)
        if kind is not None:
            out[key] = kind.from_json(facts[key]).to_json()
    return out
