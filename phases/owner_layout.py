"""Where a repository's own EvalPlus pipeline keeps its files, and whether it has one.

A repository laid out by its owner (not by ``onboard init``) has ``benchmarks/evalplus/`` with
``benchmark.sh``, ``bench-client.conf``, ``generate-report.py``, ``reference-scores.json`` and
``results/<bench-id>/...``. Any of the report script, the client settings or the reference scores
makes it the owner's pipeline: the phases then enter models there instead of in our models.json and
client.json.
"""
from __future__ import annotations

from pathlib import Path

from onboard.phases import bench_pipeline as bp

REPORT_SCRIPT = f"{bp.PIPELINE_DIR}/generate-report.py"
CLIENT_CONF = f"{bp.PIPELINE_DIR}/bench-client.conf"
REFERENCE_SCORES = f"{bp.PIPELINE_DIR}/reference-scores.json"
BENCHMARK_SH = f"{bp.PIPELINE_DIR}/benchmark.sh"
RESULTS_DIR = f"{bp.PIPELINE_DIR}/results"
REPORT = f"{RESULTS_DIR}/REPORT.md"
MARKERS = (REPORT_SCRIPT, CLIENT_CONF, REFERENCE_SCORES)  # any of them: the owner's pipeline
DISPLAY_NAMES = "DISPLAY_NAMES"
REFERENCE_MAP = "REFERENCE_MAP"


def is_owner_pipeline(root: Path) -> bool:
    """The repository keeps its own pipeline (report script, client INI or reference scores), so the
    phases enter models there instead of in our models.json / client.json."""
    return any((Path(root) / rel).is_file() for rel in MARKERS)


def read_file(root: Path, relpath: str) -> str | None:
    """The text of a pipeline file, None when it is not there."""
    from onboard.store.atomic import read_text

    return read_text(Path(root) / relpath)


def newline(text: str) -> str:
    """The line ending a file uses, so that lines added to it use the same."""
    return "\r\n" if "\r\n" in text else "\n"
