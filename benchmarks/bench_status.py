"""How fast are the read-only commands? `onboard status` and `onboard list --json` with 50 candidates
in the database, as whole processes, against the floor set by the libraries they must load
(`python -c "import click, sqlalchemy.orm"`), measured in the same run. Target: under 1.5x.

Run: .venv/bin/python benchmarks/bench_status.py [--runs N]
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from benchmarks.measure import Figures, Row, print_figures, run_child, run_interleaved  # noqa: E402
from onboard.store.db import open_db, utcnow  # noqa: E402
from onboard.store.schema import Candidate, GuardResult  # noqa: E402
from onboard.phases import PHASES  # noqa: E402

TITLE = "Read-only commands against the import floor"
ABOUT = ("`onboard status` (all candidates, then one) and `onboard list --json`, each a whole process "
         "on a database of 50 candidates with their stored guard results, against "
         "`python -c \"import click, sqlalchemy.orm\"`: the libraries these commands must load, so the "
         "floor no implementation of them can beat. Median wall time. Target: under 1.5x.")
FLOOR = "python -c 'import click, sqlalchemy.orm'"
TARGET = 1.5


def populate(root: Path, n: int) -> None:
    (root / "models.conf").write_text("# bench\n")
    sessions = open_db(root / ".onboard" / "onboard.db")
    with sessions() as s:
        for i in range(n):
            phase = PHASES[i % len(PHASES)]
            cand = Candidate(name=f"model-{i:02d}", state=phase.name, created_at=utcnow(), updated_at=utcnow())
            s.add(cand)
            s.flush()
            for g in phase.guards:
                s.add(GuardResult(candidate_id=cand.id, phase=phase.name, name=g.name, passed=i % 2 == 0,
                                  reason="benchmark", fix=None, checked_at=utcnow()))
        s.commit()


def figures(runs: int = 15, candidates: int = 50) -> Figures:
    """Median wall time of each command and of the floor, ``runs`` runs each, interleaved."""
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        populate(root, candidates)
        py = sys.executable
        cli = [py, "-m", "onboard.workflow.cli", "--root", str(root)]
        listing = json.loads(run_child(cli + ["list", "--json"], REPO).stdout)["candidates"]
        if not listing:  # a benchmark of an empty listing would measure nothing
            raise RuntimeError("onboard list --json listed no candidate")
        named = listing[len(listing) // 2]["name"]
        s = run_interleaved({"floor": [py, "-c", "import click, sqlalchemy.orm"],
                             "status": cli + ["status"], "one": cli + ["status", named],
                             "list": cli + ["list", "--json"]}, runs, REPO)
    floor = s["floor"].wall_s
    rows = [Row("onboard status (all candidates): wall time", s["status"].wall_s, FLOOR, floor, "s", TARGET),
            Row("onboard status NAME: wall time", s["one"].wall_s, FLOOR, floor, "s", TARGET),
            Row("onboard list --json: wall time", s["list"].wall_s, FLOOR, floor, "s", TARGET,
                detail=f"{len(listing)} candidates listed")]
    return Figures(f"{candidates} candidates in the database; median of {runs} runs", rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args()
    print_figures(TITLE, figures(args.runs))


if __name__ == "__main__":
    main()
