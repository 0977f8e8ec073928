"""Commands that only read the store never import gguf, huggingface_hub, nvidia-ml-py, the planner,
the engine or the ORM mapping: they must stay about as fast as loading click and SQLAlchemy. Of the
domain package they load only ``onboard.llamacpp.errors``, the one module of error types, which is light."""
from __future__ import annotations

import json
import subprocess
import sys

import pytest

from onboard.store.db import open_db, utcnow
from onboard.store.schema import Candidate

HEAVY = ("gguf", "huggingface_hub", "pynvml", "onboard.llamacpp.planner", "transitions", "onboard.workflow.engine",
         "onboard.store.schema", "psutil", "numpy")

PROBE = """
import json, sys
from onboard.workflow.cli import cli
try:
    cli(sys.argv[1:], prog_name="onboard")
except SystemExit:
    pass
heavy = {{m for m in {heavy!r} if m in sys.modules}}
heavy |= {{m for m in sys.modules if m.startswith("onboard.llamacpp.") and m != "onboard.llamacpp.errors"}}
print(json.dumps(sorted(heavy)), file=sys.stderr)
"""


@pytest.mark.parametrize("args", [["status"], ["status", "a"], ["status", "a", "--json"], ["list", "--json"],
                                  ["list", "--all"], ["history", "a", "--json"]])
def test_read_only_commands_import_nothing_heavy(tmp_path, args):
    (tmp_path / "models.conf").write_text("")
    with open_db(tmp_path / ".onboard" / "onboard.db")() as s:
        s.add(Candidate(name="a", state="download", created_at=utcnow(), updated_at=utcnow()))
        s.commit()
    proc = subprocess.run([sys.executable, "-c", PROBE.format(heavy=HEAVY), "--root", str(tmp_path), *args],
                          capture_output=True, text=True)
    assert proc.stdout.strip(), proc.stderr
    loaded = json.loads(proc.stderr.strip().splitlines()[-1])
    assert loaded == [], f"{args} imported {loaded}"
