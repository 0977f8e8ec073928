"""How fast are the read-only commands? `onboard status` and `onboard list --json` with 50 candidates
in the database, as whole processes, against the floor set by the libraries they must load
(`python -c "import click, sqlalchemy.orm"`), measured in the same run. Target: under 1.5x.

Run: .venv/bin/python benchmarks/bench_status.py [--runs N]
"""
from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from store.db import open_db, utcnow  # noqa: E402
from store.schema import Candidate, GuardResult  # noqa: E402
from phases import PHASES  # noqa: E402


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


def median_wall(argv: list[str], runs: int, cwd: Path) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(argv, cwd=cwd, check=True, capture_output=True)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        populate(root, 50)
        py = sys.executable
        cli = [py, "-m", "workflow.cli", "--root", str(root)]
        floor = median_wall([py, "-c", "import click, sqlalchemy.orm"], args.runs, REPO)
        rows = {
            "onboard status (50 candidates)": median_wall(cli + ["status"], args.runs, REPO),
            "onboard status model-07": median_wall(cli + ["status", "model-07"], args.runs, REPO),
            "onboard list --json": median_wall(cli + ["list", "--json"], args.runs, REPO),
        }
        listing = json.loads(subprocess.run(cli + ["list", "--json"], capture_output=True, text=True,
                                            cwd=REPO).stdout)
        assert len(listing) == 50 - sum(1 for i in range(50) if PHASES[i % len(PHASES)].name in ("onboarded",))
    print(f"floor: python -c 'import click, sqlalchemy.orm': {floor * 1000:.0f} ms (median of {args.runs})")
    for label, wall in rows.items():
        print(f"{label:<32} {wall * 1000:6.0f} ms  ratio {wall / floor:.2f}x  (target < 1.5x)")


if __name__ == "__main__":
    main()
