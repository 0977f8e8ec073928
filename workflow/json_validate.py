"""A validator for the part of JSON Schema (draft 2020-12) that ``workflow.json_schemas`` uses:
``type`` (one or a list), ``enum``, ``properties``, ``required``, ``additionalProperties`` (true or
false), ``items`` and ``$ref`` to ``#/$defs/NAME``. Any other keyword is refused, so a schema can never
say more than is checked. Why not the ``jsonschema`` package: onboard does not depend on it, and this
subset is a page of code.
"""
from __future__ import annotations

from typing import Any

_TYPES = {"object": dict, "array": list, "string": str, "boolean": bool, "null": type(None)}
KNOWN = {"$schema", "title", "description", "$defs", "$ref", "type", "enum", "properties", "required",
         "additionalProperties", "items"}


def _is(value: Any, kind: str) -> bool:
    if kind == "integer":
        return isinstance(value, int) and not isinstance(value, bool)
    if kind == "number":
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    return isinstance(value, _TYPES[kind])


def errors(value: Any, schema: dict[str, Any], root: dict[str, Any] | None = None, at: str = "$") -> list[str]:
    """Every place where ``value`` breaks ``schema``, as ``path: what`` (empty: it is valid)."""
    root = schema if root is None else root
    unknown = set(schema) - KNOWN
    if unknown:
        raise ValueError(f"{at}: the schema uses keywords this validator does not check: {sorted(unknown)}")
    if "$ref" in schema:
        name = schema["$ref"].removeprefix("#/$defs/")
        found = errors(value, root["$defs"][name], root, at)
        if found:
            return found
    problems: list[str] = []
    if "type" in schema:
        kinds = [schema["type"]] if isinstance(schema["type"], str) else schema["type"]
        if not any(_is(value, k) for k in kinds):
            return [f"{at}: {type(value).__name__} {value!r:.60} is not {' or '.join(kinds)}"]
    if "enum" in schema and value not in schema["enum"]:
        problems.append(f"{at}: {value!r} is not one of {schema['enum']}")
    if isinstance(value, dict):
        props = schema.get("properties", {})
        for key in schema.get("required", []):
            if key not in value:
                problems.append(f"{at}: {key!r} is missing")
        for key, item in value.items():
            if key in props:
                problems += errors(item, props[key], root, f"{at}.{key}")
            elif schema.get("additionalProperties") is False:
                problems.append(f"{at}: {key!r} is not allowed here")
    if isinstance(value, list) and "items" in schema:
        for i, item in enumerate(value):
            problems += errors(item, schema["items"], root, f"{at}[{i}]")
    return problems
