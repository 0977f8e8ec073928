"""JSON a person gave or keeps (a generation config, a pipeline's data file), read as data.

Why one helper: a file that is not valid JSON must stop with the same kind of message everywhere,
naming the file, the line and the column, and saying what to do (``BadInput``, exit 6).
"""
from __future__ import annotations

import json
from typing import Any

from onboard.llamacpp.errors import BadInput


def parse_json(text: str, path: str, *, fix: str | None = "correct it by hand") -> Any:
    """``text`` (the content of ``path``) as JSON; bad JSON is BadInput at its line and column."""
    try:
        return json.loads(text)
    except json.JSONDecodeError as err:
        raise BadInput(f"not valid JSON: {err.msg} (column {err.colno})", path=path, line=err.lineno,
                       fix=fix) from None
