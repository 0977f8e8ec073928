"""docs/performance.md is generated, never hand-edited, and its figures come from the benchmark scripts.

What a reader of the page relies on: the table is exactly the rendering of the committed
benchmarks/results/performance.json; that JSON is a full run (not --quick) of every benchmark
benchmarks/performance.py runs, each row's ratio is its two figures divided; and every row is one the
scripts produce today (each script is run here on small inputs, one run each: rows whose label,
reference, unit or target differ from the committed ones, typed-in rows, and rows of a benchmark that
changed since the last full run all fail). No time is asserted: the figures are the benchmarks'
business, their shape is this test's.
"""
from __future__ import annotations

import copy
import importlib
import json
from pathlib import Path

import pytest

from benchmarks import performance
from benchmarks.measure import ratio_text
from onboard.phases.docs_blocks import complete
from tests.gguf_factory import model_spec, write_header_only

REPO = Path(__file__).resolve().parent.parent
DATA = json.loads((REPO / performance.RESULTS).read_text())
BEGIN, END = "<!-- BEGIN GENERATED: performance -->\n", "<!-- END GENERATED: performance -->"


def _bench(name: str) -> dict:
    return next(b for b in DATA["benchmarks"] if b["name"] == name)


def _keys(rows: list) -> list[tuple]:
    """What identifies a row whatever the figures: label, reference, unit, target."""
    return [(r["what"], r["reference"], r["unit"], r["target"]) if isinstance(r, dict)
            else (r.what, r.reference, r.unit, r.target) for r in rows]


def test_page_is_the_rendering_of_the_committed_json() -> None:
    text = (REPO / performance.DOC).read_text()
    assert text.count(BEGIN) == 1 and text.count(END) == 1
    assert text.split(BEGIN, 1)[1].split(END, 1)[0] == performance.render_block(DATA) + "\n"
    # and the docs-block mechanism the script writes with has nothing to change
    assert complete(REPO, [performance.block()]) == {}


def test_page_shows_every_row_and_changes_with_the_figures() -> None:
    rendered = performance.render_block(DATA)
    lines = rendered.splitlines()
    for bench in DATA["benchmarks"]:
        for row in bench["rows"]:
            assert any(line.startswith(f"| {bench['name']} | {row['what']} |") and f"| {ratio_text(row)} |" in line
                       for line in lines), row
    altered = copy.deepcopy(DATA)
    row = altered["benchmarks"][0]["rows"][0]
    row["ours"], row["ratio"] = row["ours"] * 3, row["ratio"] * 3
    assert performance.render_block(altered) != rendered


def test_committed_json_is_a_full_run_of_every_benchmark_the_script_runs() -> None:
    assert DATA["quick"] is False
    assert [b["name"] for b in DATA["benchmarks"]] == [b.name for b in performance.BENCHMARKS]
    for bench, entry in zip(performance.BENCHMARKS, DATA["benchmarks"]):
        module = importlib.import_module(bench.module)
        assert entry["script"] == bench.script and (REPO / bench.script).is_file()
        assert entry["arguments"] == bench.full
        # the prose on the page is the script's own description, so it follows the code
        assert (entry["title"], entry["about"]) == (module.TITLE, module.ABOUT)
        assert entry["rows"], bench.name
    m = DATA["machine"]
    assert isinstance(m["cpu_count"], int) and m["cpu_count"] > 0 and m["python"]
    assert len(m["load_average_start"]) == 3 and len(m["load_average_end"]) == 3


def test_every_ratio_is_its_figures_divided_and_every_target_judged() -> None:
    for bench in DATA["benchmarks"]:
        for row in bench["rows"]:
            assert row["reference_value"] > 0, row
            assert row["ratio"] == pytest.approx(row["ours"] / row["reference_value"], rel=1e-3), row
            assert row["ratio_bound"] in ("=", ">=", "<="), row
            if row["target"] is None:
                assert row["target_met"] is None
            else:
                assert row["target_met"] == (row["ratio"] < row["target"]), row
    # issue 2's target is in the report
    assert {r["target"] for r in _bench("status")["rows"]} == {1.5}


@pytest.mark.slow  # runs every script on small inputs: about a minute on 2 busy cores
def test_committed_rows_are_the_rows_the_scripts_produce(tmp_path: Path) -> None:
    from benchmarks import bench_gguf_header, bench_log_analysis, bench_plan, bench_status

    assert _keys(bench_status.figures(runs=1, candidates=3).rows) == _keys(_bench("status")["rows"])
    assert _keys(bench_plan.figures(runs=1, layers=4).rows) == _keys(_bench("plan")["rows"])
    assert _keys(bench_log_analysis.figures(runs=1, lines=400).rows) == _keys(_bench("log_analysis")["rows"])

    # the GGUF benchmark on tiny files under the committed labels (the Gemma file only where the
    # committed run had it): a complete sparse file for each, and a header-only one, which GGUFReader
    # cannot read, exactly like the big one
    committed = _bench("gguf_header")["rows"]
    labels = list(dict.fromkeys(r["what"].split(": ")[0] for r in committed))
    known = [bench_gguf_header.LABEL_GEMMA, bench_gguf_header.LABEL_8B, bench_gguf_header.LABEL_235B,
             bench_gguf_header.LABEL_8B_HEADER]
    assert set(labels) <= set(known) and set(known[1:]) <= set(labels)
    spec = model_spec("llama")
    files = {label: write_header_only(tmp_path / f"f{i}.gguf", spec.tensors, spec.metadata,
                                      sparse_data=label != bench_gguf_header.LABEL_8B_HEADER)
             for i, label in enumerate(label for label in known if label in labels)}
    assert _keys(bench_gguf_header.rows_for(files, runs=1)) == _keys(committed)
