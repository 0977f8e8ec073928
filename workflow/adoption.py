"""Adopting a repository as it is: its production profiles become onboarded candidates.

A person who kept a models.conf long before onboard has tuned, tested models in it. ``adopt``
registers each production profile as a candidate in the final state ``onboarded``, with one history
event that says it was adopted and what the profile itself tells (measured speed, memory per GPU,
strategy), so that ``list --all``, ``status`` and the docs check know every model of the repository.
Nothing of the person's files is written: only the workflow database (and the map, under
``.onboard/``). Adoption is idempotent: a profile that is a candidate already is left as it is.

An adopted candidate has no journal: onboard wrote nothing for it, so there is nothing to roll back.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from onboard.store.db import utcnow
from onboard.store.schema import Candidate, Event, Step
from onboard.workflow.candidate_facts import ADOPT_KEY, AdoptFacts

ADOPTED_STATE = "onboarded"


@dataclass
class Adopted:
    """What one adoption did: the candidates it registered and the profiles it left alone (and why)."""

    registered: list[dict[str, Any]] = field(default_factory=list)
    known: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {"registered": self.registered, "already_known": self.known}


def candidate_name(root: Path, section_id: str) -> str:
    """The candidate name for a profile: the card whose name slugs to the profile id (people save
    ``README_Qwen3-32B.md`` for ``[qwen3-32b]``), else the profile id itself."""
    from onboard.phases.repo_layout import card_for_profile

    found = card_for_profile(root, section_id)
    return found[0] if found else section_id


def profile_facts(root: Path) -> dict[str, dict[str, Any]]:
    """Per tested production profile id, what its section and comments say (measured speed, memory per
    GPU, strategy, dense or MoE), read by the one reader of the person's tested profiles."""
    from onboard.phases.profile_references import tested_profiles

    facts: dict[str, dict[str, Any]] = {}
    for ref in tested_profiles(root):
        data = ref.to_json()
        facts[ref.id] = {"tested": True, "speed_tps": data["speed_tps"], "memory_gb": data["memory_gb"],
                         "strategy": data["strategy"], "kind": data["kind"]}
    return facts


def adopt_profiles(root: Path, sessions: sessionmaker[Session], argv: list[str]) -> Adopted:
    """Register every production profile of ``root``'s models.conf that is not a candidate yet."""
    from onboard.store.models_conf import ModelsConf

    conf = ModelsConf.load(root / "models.conf")
    facts = profile_facts(root)
    result = Adopted()
    for section in conf.sections:
        if section.id.startswith("bench-"):
            continue
        name = candidate_name(root, section.id)
        info = facts.get(section.id, {"tested": False})
        if not _register(sessions, name, section.id, info, argv):
            result.known.append(name)
            continue
        result.registered.append({"name": name, "profile": section.id, **info})
    return result


def _register(sessions: sessionmaker[Session], name: str, section_id: str, info: dict[str, Any],
              argv: list[str]) -> bool:
    """One candidate, its (finished) adoption step and its history event, in one transaction.
    False when a candidate of that name exists (another adopt, or onboard itself, got there first)."""
    now = utcnow()
    with sessions() as session:
        if session.scalar(select(Candidate.id).where(Candidate.name == name)) is not None:
            return False
        cand = Candidate(name=name, state=ADOPTED_STATE, created_at=now, updated_at=now)
        cand.facts = {ADOPT_KEY: AdoptFacts.from_json({"adopted": True, "profile": section_id, **info}).to_json()}
        cand.path = [ADOPTED_STATE]
        session.add(cand)
        try:
            session.flush()
        except IntegrityError:  # a concurrent adopt registered it between the check and the insert
            session.rollback()
            return False
        session.add(Step(candidate_id=cand.id, kind="adopt", from_state="", to_state=ADOPTED_STATE,
                         status="done", argv=json.dumps(argv), started_at=now, finished_at=now))
        session.add(Event(candidate_id=cand.id, at=now, kind="adopted", trigger="adopt", from_state=None,
                          to_state=ADOPTED_STATE, argv=json.dumps(argv), ok=True,
                          detail=json.dumps({"profile": section_id, **info})))
        try:
            session.commit()
        except IntegrityError:
            session.rollback()
            return False
    return True
