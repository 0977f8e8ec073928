"""``docs/json-output.md``'s generated part: every ``--json`` result described from its JSON Schema
(``workflow.json_schemas``), one table per object, so the documentation is the schema a test checks."""
from __future__ import annotations

import json
from typing import Any

from onboard.workflow.json_schemas import schemas


def _type(schema: dict[str, Any]) -> str:
    if "$ref" in schema:
        name = schema["$ref"].removeprefix("#/$defs/")
        return f"[{name}](#{name})"
    if "enum" in schema:
        return " \\| ".join(f"`{json.dumps(v)}`" for v in schema["enum"])
    kinds = schema.get("type", "any")
    text = " or ".join(kinds) if isinstance(kinds, list) else kinds
    items = schema.get("items")
    if items is not None:
        text += f" of {_type(items)}"
    return text


def _table(schema: dict[str, Any]) -> list[str]:
    rows = ["| key | type | meaning |", "|---|---|---|"]
    for key, prop in schema.get("properties", {}).items():
        meaning = prop.get("description", "").replace("|", "\\|")
        rows.append(f"| `{key}` | {_type(prop)} | {meaning} |")
    return rows


def render() -> str:
    """The generated block: each kind of result, then the objects they share."""
    kinds = schemas()
    lines: list[str] = []
    for name, schema in kinds.items():
        shape = _type(schema) if "$ref" in schema else "an object"
        lines += [f"### {name}", "", f"`{schema['title']}`: {schema['description']} ({shape})", ""]
        if "properties" in schema:
            lines += _table(schema) + [""]
    lines += ["### Shared objects", ""]
    for name, schema in next(iter(kinds.values()))["$defs"].items():
        lines += [f"#### {name}", "", schema.get("description", ""), ""] + _table(schema) + [""]
    return "\n".join(lines).rstrip() + "\n"
