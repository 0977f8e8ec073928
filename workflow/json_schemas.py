"""The JSON Schemas (draft 2020-12) of the workflow commands' ``--json`` output, one per kind of result.

One vocabulary in all of them: a phase is ``phase`` (``from_phase``/``to_phase`` for a move), a time is
``*_at`` or ``at`` (ISO-8601 UTC), a candidate list is ``{"candidates": [...]}``. A phase's facts
are described from its record's own fields (``Phase.facts``), so the schema follows the code.
``docs/json-output.md`` is generated from these (``workflow.generated_docs``); a test checks the real
output of every command against them (``workflow.json_validate``).
"""
from __future__ import annotations

import dataclasses
import re
from typing import Any

from onboard.phases import BY_NAME, FINAL_STATES
from onboard.workflow.candidate_facts import record_type
from onboard.workflow.machine import TRIGGERS

DIALECT = "https://json-schema.org/draft/2020-12/schema"
STATES = [*BY_NAME, *FINAL_STATES]


def _nullable(kind: str | list[str]) -> list[str]:
    return [*([kind] if isinstance(kind, str) else kind), "null"]


_BASE_TYPES = {"str": "string", "int": "integer", "float": "number", "bool": "boolean", "None": "null",
               "list": "array", "dict": "object", "Any": None}


def _field_type(annotation: Any) -> dict[str, Any]:
    """A record field's JSON type from its annotation (``str | None`` -> ``["string", "null"]``)."""
    text = annotation if isinstance(annotation, str) else getattr(annotation, "__name__", str(annotation))
    types: list[str] = []
    for part in re.split(r"\s*\|\s*", text):
        base = _BASE_TYPES.get(part.split("[", 1)[0].strip(), "unknown")
        if base == "unknown":
            raise ValueError(f"no JSON type for {part!r}")
        if base is None:
            return {}
        types.append(base)
    return {"type": types[0] if len(types) == 1 else types}


def record_schema(key: str) -> dict[str, Any]:
    """The schema of the record stored under ``key`` of a candidate's facts: every field, each typed,
    described by the record's docstring."""
    kind = record_type(key)
    assert kind is not None, key
    fields = dataclasses.fields(kind)
    return {"type": "object", "description": " ".join((kind.__doc__ or "").split()),
            "properties": {f.name: _field_type(f.type) for f in fields},
            "required": [f.name for f in fields], "additionalProperties": False}


GUARD = {
    "type": "object", "description": "One guard of the phase: whether it passes, why, and what makes it pass.",
    "properties": {"name": {"type": "string"},
                   "passed": {"type": ["boolean", "null"], "description": "null: not checked yet"},
                   "reason": {"type": "string"}, "fix": {"type": ["string", "null"]},
                   "checked_at": {"type": ["string", "null"]}},
    "required": ["name", "passed", "reason", "fix", "checked_at"], "additionalProperties": False,
}

MEASUREMENT = {
    "type": "object", "description": "A buffer the profile phase predicted and the test phase measured (MiB).",
    "properties": {"device": {"type": "string"}, "what": {"type": "string"},
                   "predicted_mib": {"type": ["number", "null"]}, "measured_mib": {"type": ["number", "null"]},
                   "rig": {"type": "string"}, "backend": {"type": "string"}, "at": {"type": "string"}},
    "required": ["device", "what", "predicted_mib", "measured_mib", "rig", "backend", "at"],
    "additionalProperties": False,
}


def _facts_schema() -> dict[str, Any]:
    keys = [name for name, phase in BY_NAME.items() if phase.facts is not None] + ["workflow", "adopt"]
    return {"type": "object", "description": "What each phase found, keyed by phase name (and `workflow`, "
            "`adopt`): a record is present once its phase stored something.",
            "properties": {key: {"$ref": f"#/$defs/facts_{key}"} for key in keys}, "additionalProperties": False}


def _candidate_schema() -> dict[str, Any]:
    return {
        "type": "object", "description": "One candidate: its phase, the person's choices, the phases' facts, "
        "the stored guard results of its phase and the next command.",
        "properties": {
            "name": {"type": "string"}, "phase": {"enum": STATES},
            "phase_index": {"type": ["integer", "null"], "description": "1-based; null in a final state"},
            "final": {"type": "boolean"}, "version": {"type": "integer"}, "updated_at": {"type": "string"},
            "options": {"type": "object", "description": "The person's choices (repo, quant, ctx, profile_id, "
                        "accept_defaults, ...)."},
            "facts": {"$ref": "#/$defs/facts"},
            "guards": {"type": "array", "items": {"$ref": "#/$defs/guard"}},
            "allowed": {"type": ["array", "null"], "items": {"enum": list(TRIGGERS)},
                        "description": "With --check: the triggers whose guards hold now; else null."},
            "predicted_vs_measured": {"type": "array", "items": {"$ref": "#/$defs/measurement"}},
            "next": {"type": ["string", "null"], "description": "The command to run next; null when final."},
            "interrupted": {"type": "string", "description": "Only when a step was cut short: which, and what "
                            "undoes it."},
        },
        "required": ["name", "phase", "phase_index", "final", "version", "updated_at", "options", "facts",
                     "guards", "allowed", "predicted_vs_measured", "next"],
        "additionalProperties": False,
    }


LIST_ROW = {
    "type": "object", "description": "One candidate in the list, with its stored guard results counted.",
    "properties": {"name": {"type": "string"}, "phase": {"enum": STATES}, "final": {"type": "boolean"},
                   "updated_at": {"type": "string"}, "guards_passed": {"type": "integer"},
                   "guards_total": {"type": "integer"}},
    "required": ["name", "phase", "final", "updated_at", "guards_passed", "guards_total"],
    "additionalProperties": False,
}

EVENT = {
    "type": "object", "description": "One event: a transition, a guard check, a run, a recovery, an adoption.",
    "properties": {"seq": {"type": "integer"}, "at": {"type": "string"}, "kind": {"type": "string"},
                   "trigger": {"type": ["string", "null"]}, "from_phase": {"type": ["string", "null"]},
                   "to_phase": {"type": ["string", "null"]}, "argv": {"type": "array", "items": {"type": "string"}},
                   "ok": {"type": "boolean"}, "detail": {"type": "object"}},
    "required": ["seq", "at", "kind", "trigger", "from_phase", "to_phase", "argv", "ok", "detail"],
    "additionalProperties": False,
}

STEP = {
    "type": "object", "description": "What start, advance, rollback or abandon did to the candidate.",
    "properties": {
        "command": {"enum": ["start", "advance", "rollback", "abandon"]}, "name": {"type": "string"},
        "from_phase": {"type": ["string", "null"], "description": "null for a start"},
        "to_phase": {"type": ["string", "null"], "description": "null when it did not move"},
        "moved": {"type": "boolean"},
        "guards_phase": {"type": ["string", "null"], "description": "The phase whose guards `guards` are."},
        "guards": {"type": "array", "items": {"$ref": "#/$defs/guard"},
                   "description": "Held back: the guards checked; moved on: the new phase's guards."},
        "undone_changes": {"type": ["integer", "null"], "description": "Places put back (rollback, abandon --undo)."},
        "notes": {"type": "array", "items": {"type": "string"},
                  "description": "What the phases and the recovery reported, in order."},
        "exit_code": {"type": "integer", "description": "0, or 1 when a guard held the candidate back."},
    },
    "required": ["command", "name", "from_phase", "to_phase", "moved", "guards_phase", "guards", "undone_changes",
                 "notes", "exit_code"],
    "additionalProperties": False,
}


def _defs() -> dict[str, Any]:
    defs: dict[str, Any] = {"candidate": _candidate_schema(), "guard": GUARD, "measurement": MEASUREMENT,
                            "list_row": LIST_ROW, "event": EVENT, "facts": _facts_schema()}
    for key in _facts_schema()["properties"]:
        defs[f"facts_{key}"] = record_schema(key)
    return defs


def _schema(commands: str, description: str, body: dict[str, Any]) -> dict[str, Any]:
    return {"$schema": DIALECT, "title": commands, **body, "description": description, "$defs": _defs()}


def schemas() -> dict[str, dict[str, Any]]:
    """Every kind of result, by name: its schema."""
    each = {"type": "array", "items": {"$ref": "#/$defs/candidate"}}
    candidates = {"type": "object", "properties": {"candidates": each}, "required": ["candidates"],
                  "additionalProperties": False}
    return {
        "status": _schema("onboard status NAME --json [--check]", "One candidate.", {"$ref": "#/$defs/candidate"}),
        "status-all": _schema("onboard status --json [--check]", "Every candidate in flight, each as `status` "
                              "shows it.", candidates),
        "list": _schema("onboard list [--all] --json", "The candidates in flight (`--all`: finished ones too).", {
            "type": "object", "properties": {"candidates": {"type": "array", "items": {"$ref": "#/$defs/list_row"}}},
            "required": ["candidates"], "additionalProperties": False}),
        "history": _schema("onboard history NAME --json", "Everything that happened to the candidate, in order.", {
            "type": "object", "properties": {"name": {"type": "string"},
                                             "events": {"type": "array", "items": {"$ref": "#/$defs/event"}}},
            "required": ["name", "events"], "additionalProperties": False}),
        "step": _schema("onboard start|advance|rollback|abandon NAME ... --json", STEP["description"], STEP),
    }
