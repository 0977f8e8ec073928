"""Which repository a command works on, and where its workflow database lives."""
from __future__ import annotations

import os
from pathlib import Path

from onboard.workflow.errors import WorkflowError
from onboard.workflow.exit_codes import Exit


def find_root(start: Path | None = None) -> Path | None:
    """Walk up from ``start`` (default: the current directory) to the directory holding models.conf."""
    here = (start or Path.cwd()).resolve()
    for candidate in (here, *here.parents):
        if (candidate / "models.conf").is_file():
            return candidate
    return None


def resolve_root(root: str | None) -> Path:
    if root:
        path = Path(root).resolve()
        if not path.is_dir():
            raise WorkflowError(Exit.BAD_INPUT, f"--root {root}: no such directory")
        return path
    found = find_root()
    if found is None:
        raise WorkflowError(Exit.BAD_INPUT,
                            f"no models.conf in {Path.cwd()} or any parent directory",
                            fix="run onboard inside your llama-server repository, or pass --root DIR")
    return found


def resolve_db(root: Path, db: str | None) -> Path:
    if db:
        return Path(db).resolve()
    if os.environ.get("ONBOARD_DB"):
        return Path(os.environ["ONBOARD_DB"]).resolve()
    return root / ".onboard" / "onboard.db"
