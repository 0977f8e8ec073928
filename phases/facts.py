"""What a phase found, as a typed record apart from the person's choices.

A candidate keeps two things: ``options``, what the person chose (``--repo``, ``--quant``, ``--ctx``,
``--profile-id``, ``--accept-defaults``), and ``facts``, what each phase found (the quant listing, the
plan, the test's measurements), one record per phase keyed by the phase's name. Each phase declares
its record with the phase (``Phase(facts=ProfileFacts)``), so what it keeps is written down in one
place and ``status --json`` shows the same shape as the code reads.

A record is stored as JSON: ``to_json`` writes every field, ``from_json`` reads the fields it knows and
ignores the rest (a newer onboard's field, a field since removed), and reads a field under the name an
older onboard gave it (``LEGACY``), so a database written before keeps working.
"""
from __future__ import annotations

import dataclasses
from typing import Any, ClassVar, TypeVar

F = TypeVar("F", bound="Facts")


@dataclasses.dataclass
class Facts:
    """Base of every phase's record: a dataclass whose fields are JSON values."""

    LEGACY: ClassVar[dict[str, str]] = {}  # stored name of an older onboard -> field name

    @classmethod
    def from_json(cls: type[F], data: dict[str, Any] | None) -> F:
        known = {f.name for f in dataclasses.fields(cls)}
        values: dict[str, Any] = {}
        for key, value in (data or {}).items():
            key = cls.LEGACY.get(key, key)
            if key in known:
                values[key] = value
        return cls(**values)

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)
