"""The owner's own benchmark pipeline (tests/fixtures/owner_repo: bench-client.conf, generate-report.py with
its DISPLAY_NAMES and REFERENCE_MAP, reference-scores.json, results/<bench-id>/ with EvalPlus's files):
the bench-profile phase enters a model there by meaning, the benchmark phase puts its results where the
owner's go and lets the owner's own script write the report, and a rollback leaves every file as it was.

Real files and real Python throughout: the edited report script is compiled and run; the benchmark
phase runs the real llama-server and EvalPlus's own evaluate.
"""
from __future__ import annotations

import difflib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from onboard.llamacpp.errors import BadInput, ExternalFailure
from onboard.phases import bench_profile, benchmark
from onboard.phases import owner_client_conf, owner_layout, owner_report_script, owner_results
from onboard.phases import owner_pipeline as op
from onboard.phases.contract import PhaseContext
from onboard.store.db import open_db
from onboard.store.journal import Journal
from onboard.store.models_conf import join_extra_args, split_extra_args
from onboard.store.schema import Candidate
from tests.gguf_factory import write_tiny_model
from tests.owner_repo import git_diff, make_owner_repo, tracked_bytes

DATASET = Path(__file__).resolve().parent / "fixtures" / "humaneval_tiny.jsonl"
REPO_ID = "test-org/Tiny-Llama-GGUF"
NAME = "tiny-llama"
BENCH = "bench-tiny-llama"
CPU_RIG = 'name = "test rig (CPU only)"\n[host]\nram_mib = 16384\nbandwidth_gbs = 20\n'
CARD = f"---\ngguf_repo: {REPO_ID}\nbase_model: {{base}}\n---\n# Tiny Llama\nA tiny model.\n"


def _added_lines(before: str, after: str) -> list[str]:
    diff = list(difflib.ndiff(before.splitlines(keepends=True), after.splitlines(keepends=True)))
    assert not [d for d in diff if d.startswith("- ")], "nothing of the person's may change"
    return [d[2:] for d in diff if d.startswith("+ ")]


def _candidate(root: Path, *, display_name: str, base_model: str = "test-org/Tiny-Llama",
               system_prompt: str | None = None) -> tuple[PhaseContext, Journal]:
    """A candidate in the owner's repository at the bench-profile phase: a real tiny GGUF, a CPU rig,
    its production profile in models.conf (as the profile phase writes it), a journal and a step."""
    from onboard.phases.profile import make_plan, profile_from_plan

    model_dir = root / "models" / "Tiny-Llama" / "F16"
    model_dir.mkdir(parents=True)
    model = write_tiny_model(model_dir / "Tiny-Llama-F16.gguf", "llama", default_type="F16")
    (root / "rig.toml").write_text(CPU_RIG)
    cards = root / "models" / "documentation" / "CANDIDATES"
    cards.mkdir(parents=True, exist_ok=True)
    (cards / f"README_{NAME}.md").write_text(CARD.format(base=base_model))
    facts = {"evaluate": {"repo": REPO_ID, "display_name": display_name,
                          "quant_listing": {"F16": {"files": [{"path": model.name, "size": model.stat().st_size}]}}},
             "samplers": {"samplers": {"system_prompt": system_prompt, "thinking_model": False}}}
    sessions = open_db(root / ".onboard" / "onboard.db")
    with sessions() as s:
        cand = Candidate(name=NAME, state="test", created_at="t", updated_at="t")
        s.add(cand)
        s.commit()
    journal = Journal(sessions, root, cand.id)
    ctx = PhaseContext(name=NAME, root=root, options={"quant": "F16"}, journal=journal, echo=lambda _s: None,
                       facts_by_phase=facts, phase="bench-profile")
    plan, rig, header = make_plan(ctx, ctx_size=4096)
    values, comments = profile_from_plan(ctx, plan, rig, header)
    values["NAME"] = display_name
    values["EXTRA_ARGS"] = join_extra_args(split_extra_args(values["EXTRA_ARGS"]) + ["--temp", "0.6", "-t", "2"])
    step = journal.open_step("advance", "samplers", "test", [])
    journal.set_conf_section(step, NAME, values, comments)  # the profile phase's own write, before ours
    return ctx, journal


def _enter_bench_profile(ctx: PhaseContext, journal: Journal):
    ctx.step = journal.open_step("advance", "test", "bench-profile", ["advance", NAME])
    bench_profile.prepare(ctx)
    return ctx.step


# -- generate-report.py: libcst edits --------------------------------------------------------------------
def test_display_name_is_added_after_the_last_entry_in_the_same_layout_and_the_edited_script_runs(tmp_path):
    root = make_owner_repo(tmp_path)
    script = (root / owner_layout.REPORT_SCRIPT).read_text()
    edited = owner_report_script.script_with_entry(script, "DISPLAY_NAMES", "bench-new-model", "New Model 7B (Q4_K_M)")
    edited = owner_report_script.script_with_entry(edited, "REFERENCE_MAP", "bench-new-model", "qwen3-32b")
    # one line each, as the person writes them; comments (the trailing one in REFERENCE_MAP too) kept
    assert _added_lines(script, edited) == ['    "bench-new-model": "New Model 7B (Q4_K_M)",\n',
                                            '    "bench-new-model": "qwen3-32b",\n']
    assert "    # GLM-4.5-Air: no HumanEval+ numbers published\n    \"bench-new-model\": \"qwen3-32b\",\n}" in edited
    compile(edited, owner_layout.REPORT_SCRIPT, "exec")
    assert owner_report_script.script_dict(edited, "DISPLAY_NAMES")["bench-gpt-oss-120b"] == "GPT-OSS 120B (Q4_K_M)"
    # the edited script runs, as the owner runs it, and names the new model in its report
    pipeline = root / "benchmarks" / "evalplus"
    (pipeline / "generate-report.py").write_text(edited)
    new_dir = pipeline / "results" / "bench-new-model"
    new_dir.mkdir()
    shutil.copy(next((pipeline / "results" / "bench-qwen3-32b").glob("*eval_results.json")), new_dir / "x_eval_results.json")
    proc = subprocess.run([sys.executable, "generate-report.py"], cwd=pipeline, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    report = (pipeline / "results" / "REPORT.md").read_text()
    row = next(line for line in report.splitlines() if "`bench-new-model`" in line)
    assert "| New Model 7B (Q4_K_M) | `bench-new-model` |" in row and "| 90.2 | 85.4 |" in row  # qwen3-32b's reference


@pytest.mark.parametrize(("source", "expected"), [
    ('D = {"a": "A", "b": "B"}\n', 'D = {"a": "A", "b": "B", "k": "V"}\n'),
    ('D = {"a": "A"}\n', 'D = {"a": "A", "k": "V"}\n'),
    ("D = {\n    'a': 'A',\n    'b': 'B'\n}\n", "D = {\n    'a': 'A',\n    'b': 'B',\n    'k': 'V'\n}\n"),
    ('D = {\n  "a" : "A",  # mine\n}\n', 'D = {\n  "a" : "A",  # mine\n  "k" : "V",\n}\n'),
    ('D: dict = {\n    "a": "A",\n    "b": "B",  # last\n    # "c": "C",\n}\n',
     'D: dict = {\n    "a": "A",\n    "b": "B",  # last\n    # "c": "C",\n    "k": "V",\n}\n'),
    ('D = {}\n', 'D = {"k": "V"}\n'),
])
def test_an_entry_follows_the_dicts_own_layout(source, expected):
    assert owner_report_script.script_with_entry(source, "D", "k", "V", "x.py") == expected


def test_a_crlf_script_stays_crlf(tmp_path):
    root = make_owner_repo(tmp_path, crlf_file=owner_layout.REPORT_SCRIPT)
    script = (root / owner_layout.REPORT_SCRIPT).read_bytes().decode()
    edited = owner_report_script.script_with_entry(script, "DISPLAY_NAMES", "bench-x", "X")
    assert edited.count("\r\n") == edited.count("\n") == script.count("\n") + 1
    assert '    "bench-x": "X",\r\n}' in edited


def test_a_script_without_the_name_tables_is_left_alone_and_said_so(tmp_path):
    root = make_owner_repo(tmp_path)
    script = root / owner_layout.REPORT_SCRIPT
    script.write_text(script.read_text().replace("DISPLAY_NAMES = {", "NAMES = {").replace("DISPLAY_NAMES.get", "NAMES.get"))
    entries = op.plan_entries(root, "bench-qwen3-32b-q8", display_name="Qwen3 32B (Q8_0)",
                              model_names=["Qwen3 32B (Q8_0)"], system_prompt=None)
    assert any("has no DISPLAY_NAMES dict" in n for n in entries.notes)
    [(_path, text, _label)] = entries.edits  # REFERENCE_MAP is still there and knows the model
    assert _added_lines(script.read_text(), text) == ['    "bench-qwen3-32b-q8": "qwen3-32b",\n']


def test_an_existing_entry_is_left_as_the_person_wrote_it(tmp_path):
    script = 'DISPLAY_NAMES = {\n    "bench-x": "My own name",\n}\n'
    assert owner_report_script.script_with_entry(script, "DISPLAY_NAMES", "bench-x", "Another name", "x.py") == script


def test_a_script_that_does_not_parse_or_lacks_the_dict_is_refused_with_file_and_line():
    with pytest.raises(BadInput) as err:
        owner_report_script.script_with_entry('import json\n\nDISPLAY_NAMES = {\n    "a": "A"\n    "b": "B",\n}\n', "DISPLAY_NAMES", "k", "V")
    assert err.value.path == owner_layout.REPORT_SCRIPT and err.value.line == 5 and "does not parse" in str(err.value)
    with pytest.raises(BadInput) as err:
        owner_report_script.script_with_entry("NAMES = {}\n", "DISPLAY_NAMES", "k", "V")
    assert "no module-level DISPLAY_NAMES" in str(err.value) and err.value.fix


# -- the entries of phase 6 ------------------------------------------------------------------------------
def test_reference_map_entry_only_when_reference_scores_know_the_model(tmp_path):
    root = make_owner_repo(tmp_path)
    script = (root / owner_layout.REPORT_SCRIPT).read_text()
    known = op.plan_entries(root, "bench-qwen3-32b-q8", display_name="Qwen3 32B (Q8_0)",
                            model_names=["Qwen3 32B (Q8_0)", "Qwen/Qwen3-32B"], system_prompt=None)
    [(path, text, _label)] = known.edits
    assert path == owner_layout.REPORT_SCRIPT
    assert _added_lines(script, text) == ['    "bench-qwen3-32b-q8": "Qwen3 32B (Q8_0)",\n',
                                          '    "bench-qwen3-32b-q8": "qwen3-32b",\n']
    assert any("'qwen3-32b'" in n and "matched by the name 'Qwen3 32B (Q8_0)'" in n for n in known.notes)
    unknown = op.plan_entries(root, BENCH, display_name="Tiny Llama (F16)", model_names=["Tiny Llama (F16)", "Tiny-Llama"],
                              system_prompt=None)
    [(_path, text, _label)] = unknown.edits
    assert _added_lines(script, text) == ['    "bench-tiny-llama": "Tiny Llama (F16)",\n']
    assert any("REFERENCE_MAP left alone" in n for n in unknown.notes)


def test_client_section_only_when_the_model_needs_a_system_prompt_in_the_files_own_style(tmp_path):
    root = make_owner_repo(tmp_path, crlf_file=owner_layout.CLIENT_CONF)
    conf = (root / owner_layout.CLIENT_CONF).read_bytes().decode()
    assert "\r\n" in conf
    without = op.plan_entries(root, BENCH, display_name="Tiny Llama", model_names=["Tiny Llama"], system_prompt=None)
    assert owner_layout.CLIENT_CONF not in [e[0] for e in without.edits]
    with_prompt = op.plan_entries(root, BENCH, display_name="Tiny Llama", model_names=["Tiny Llama"],
                                  system_prompt="You are a careful coder.")
    new = dict((e[0], e[1]) for e in with_prompt.edits)[owner_layout.CLIENT_CONF]
    assert new.startswith(conf)  # byte-exact before it: appended after the last section
    # its own key spelling and spacing, its comment under the header, its line endings
    assert new[len(conf):] == ("\r\n[bench-tiny-llama]\r\n# Tiny Llama: system prompt from the model card (added by "
                               "onboard)\r\nsystem_prompt = You are a careful coder.\r\n")
    (root / owner_layout.CLIENT_CONF).write_bytes(new.encode())
    assert owner_client_conf.client_settings(root, BENCH) == {"system_prompt": "You are a careful coder."}
    config = owner_client_conf.client_config(root, "bench-gpt-oss-120b", thinking=False)  # the owner's own keys are used
    assert (config.system_prompt, config.max_tokens) == ("Reasoning: high", 16384)


def test_phase_6_enters_the_model_and_rollback_leaves_every_pipeline_file_byte_identical(tmp_path):
    root = make_owner_repo(tmp_path, crlf_file=owner_layout.CLIENT_CONF)
    ctx, journal = _candidate(root, display_name="Tiny Llama (F16)", system_prompt="Reasoning: low")
    before = tracked_bytes(root)
    step = _enter_bench_profile(ctx, journal)
    assert f"[{BENCH}]" in (root / "models.conf").read_text()
    names = owner_report_script.script_dict((root / owner_layout.REPORT_SCRIPT).read_text(), "DISPLAY_NAMES")
    assert names[BENCH] == "Tiny Llama (F16)"
    assert BENCH not in owner_report_script.script_dict((root / owner_layout.REPORT_SCRIPT).read_text(), "REFERENCE_MAP")
    assert (root / owner_layout.CLIENT_CONF).read_bytes().endswith(b"[bench-tiny-llama]\r\n# Tiny Llama (F16): system prompt from "
                                                         b"the model card (added by onboard)\r\nsystem_prompt = Reasoning: low\r\n")
    assert not (root / "benchmarks" / "evalplus" / "models.json").exists()  # our data files stay out of their repo
    assert not (root / "benchmarks" / "evalplus" / "client.json").exists()
    result = bench_profile._valid(ctx)
    assert result.passed, result.reason
    changed = [line for line in git_diff(root).splitlines() if line.startswith(("+", "-")) and line[:3] not in ("+++", "---")]
    assert changed and all(line.startswith("+") for line in changed)  # lines added, none of the person's changed
    assert "diff --git a/benchmarks/evalplus/README.md" not in git_diff(root)  # the docs phase's place
    # the guard notices a pipeline file it edited that no longer parses
    good = (root / owner_layout.REPORT_SCRIPT).read_text()
    (root / owner_layout.REPORT_SCRIPT).write_text(good.replace("def load_json(path):", "def load_json(path)"))
    result = bench_profile._valid(ctx)
    assert not result.passed and "generate-report.py" in result.reason and "does not parse" in result.reason
    (root / owner_layout.REPORT_SCRIPT).write_text(good)
    assert journal.undo(journal.open_step("rollback", "bench-profile", "test", []), journal.records([step.id])) == []
    assert tracked_bytes(root) == before


def test_a_missing_client_conf_is_created_whole_and_removed_by_rollback(tmp_path):
    root = make_owner_repo(tmp_path)
    (root / owner_layout.CLIENT_CONF).unlink()
    ctx, journal = _candidate(root, display_name="Tiny Llama (F16)", system_prompt="Reasoning: low")
    before = tracked_bytes(root)
    step = _enter_bench_profile(ctx, journal)
    assert (root / owner_layout.CLIENT_CONF).read_text() == "[bench-tiny-llama]\nSYSTEM_PROMPT=Reasoning: low\n"
    assert owner_client_conf.client_config(root, BENCH, thinking=False).system_prompt == "Reasoning: low"
    assert journal.undo(journal.open_step("rollback", "bench-profile", "test", []), journal.records([step.id])) == []
    assert tracked_bytes(root) == before and not (root / owner_layout.CLIENT_CONF).exists()


def test_a_duplicate_client_section_is_refused_before_anything_is_written(tmp_path):
    root = make_owner_repo(tmp_path)
    ctx, journal = _candidate(root, display_name="Tiny Llama (F16)", system_prompt="Reasoning: low")
    conf = (root / owner_layout.CLIENT_CONF).read_text()
    (root / owner_layout.CLIENT_CONF).write_text(conf + "\n[bench-tiny-llama]\nmax_tokens = 512\n")
    line = len(conf.splitlines()) + 2
    before = tracked_bytes(root)
    with pytest.raises(BadInput) as err:
        _enter_bench_profile(ctx, journal)
    assert (err.value.path, err.value.line) == (owner_layout.CLIENT_CONF, line)
    assert "already there" in str(err.value) and "remove that section" in err.value.fix
    assert tracked_bytes(root) == before
    assert journal.records([ctx.step.id]) == []


def test_an_unparsable_report_script_is_refused_before_anything_is_written(tmp_path):
    root = make_owner_repo(tmp_path)
    ctx, journal = _candidate(root, display_name="Tiny Llama (F16)")
    script = (root / owner_layout.REPORT_SCRIPT).read_text()
    broken = script.replace('    "bench-qwen3-32b": "Qwen3 32B (Q6_K)",\n', '    "bench-qwen3-32b": "Qwen3 32B (Q6_K)"\n    oops\n', 1)
    (root / owner_layout.REPORT_SCRIPT).write_text(broken)
    before = tracked_bytes(root)
    with pytest.raises(BadInput) as err:
        _enter_bench_profile(ctx, journal)
    assert err.value.path == owner_layout.REPORT_SCRIPT and "does not parse" in str(err.value)
    # the line Python itself names: the entry that lacks its comma, right above the stray word
    assert broken.splitlines()[err.value.line - 1].strip() == '"bench-qwen3-32b": "Qwen3 32B (Q6_K)"'
    assert broken.splitlines()[err.value.line].strip() == "oops"
    assert tracked_bytes(root) == before and journal.records([ctx.step.id]) == []


# -- results, report, scores ------------------------------------------------------------------------------
def test_results_layout_follows_the_results_there_else_the_pipeline_scripts(tmp_path):
    root = make_owner_repo(tmp_path)
    layout = owner_results.results_layout(root)
    assert layout.paths("bench-x", "X") == (
        f"{owner_layout.RESULTS_DIR}/bench-x/bench-x_openai_temp_0.0-sanitized.jsonl",
        f"{owner_layout.RESULTS_DIR}/bench-x/bench-x_openai_temp_0.0.jsonl",
        f"{owner_layout.RESULTS_DIR}/bench-x/bench-x_openai_temp_0.0-sanitized_eval_results.json")
    for folder in (root / owner_layout.RESULTS_DIR).iterdir():
        if folder.is_dir():
            shutil.rmtree(folder)
    # no results yet: benchmark.sh names the samples file (${id}_openai_temp_0.0-sanitized.jsonl)
    assert owner_results.results_layout(root).paths("bench-x", "X")[2] == \
        f"{owner_layout.RESULTS_DIR}/bench-x/bench-x_openai_temp_0.0-sanitized_eval_results.json"
    # a script that keeps a folder per dataset under each profile's folder
    (root / owner_layout.BENCHMARK_SH).write_text('RESULTS_DIR="$SCRIPT_DIR/results"\nmodel_dir="$RESULTS_DIR/$model_id/humaneval"\n')
    assert owner_results.results_layout(root).paths("bench-x", "X")[0] == f"{owner_layout.RESULTS_DIR}/bench-x/humaneval/bench-x.jsonl"


def test_results_named_after_the_profiles_name_in_a_folder_per_dataset_give_that_layout(tmp_path):
    """evalplus.codegen --model "$NAME" --root results/<bench-id>: the file is named after the NAME."""
    root = make_owner_repo(tmp_path)
    for folder in (root / owner_layout.RESULTS_DIR).iterdir():
        if folder.is_dir():
            shutil.rmtree(folder)
    folder = root / owner_layout.RESULTS_DIR / "bench-qwen3-32b" / "humaneval"
    folder.mkdir(parents=True)
    (folder / "Qwen3 32B (Q6_K) bench_openai_temp_0.0.jsonl").write_text("")
    (folder / "Qwen3 32B (Q6_K) bench_openai_temp_0.0_eval_results.json").write_text('{"eval": {}}')
    layout = owner_results.results_layout(root)
    assert layout.paths("bench-tiny-llama", "Tiny/Llama (benchmark)") == (
        f"{owner_layout.RESULTS_DIR}/bench-tiny-llama/humaneval/Tiny--Llama (benchmark)_openai_temp_0.0.jsonl",
        f"{owner_layout.RESULTS_DIR}/bench-tiny-llama/humaneval/Tiny--Llama (benchmark)_openai_temp_0.0.raw.jsonl",
        f"{owner_layout.RESULTS_DIR}/bench-tiny-llama/humaneval/Tiny--Llama (benchmark)_openai_temp_0.0_eval_results.json")
    assert "bench-qwen3-32b/humaneval/" in layout.source


def test_latest_scores_come_from_the_newest_results_of_either_pipeline(tmp_path):
    root = make_owner_repo(tmp_path)
    path = next((root / owner_layout.RESULTS_DIR / "bench-qwen3-32b").glob("*eval_results.json"))
    tasks = json.loads(path.read_text())["eval"]
    base = sum(t[0]["base_status"] == "pass" for t in tasks.values()) / len(tasks)
    plus = sum(t[0]["base_status"] == t[0]["plus_status"] == "pass" for t in tasks.values()) / len(tasks)
    assert owner_results.latest_scores(root, "bench-qwen3-32b") == {"humaneval": base, "humaneval_plus": plus}
    assert owner_results.latest_scores(root, "bench-unknown") is None
    ours = root / "results" / "evalplus" / "bench-qwen3-32b" / "humaneval.json"
    ours.parent.mkdir(parents=True)
    ours.write_text(json.dumps({"profile": "bench-qwen3-32b", "dataset": "humaneval", "base_pass1": 0.5,
                                "plus_pass1": 0.25}))
    os.utime(ours, (path.stat().st_mtime + 60, path.stat().st_mtime + 60))
    assert owner_results.latest_scores(root, "bench-qwen3-32b") == {"humaneval": 0.5, "humaneval_plus": 0.25}
    assert owner_results.eval_scores({"pass_at_k": {"base": {"pass@1": 0.8}, "plus": {"pass@1": 0.7}}}) == \
        {"humaneval": 0.8, "humaneval_plus": 0.7}


def test_the_owners_script_writes_the_report_in_a_scratch_copy_and_only_what_it_changed_comes_back(tmp_path):
    root = make_owner_repo(tmp_path)
    pipeline = root / "benchmarks" / "evalplus"
    (pipeline / ".venv" / "bin").mkdir(parents=True)  # their EvalPlus venv: not copied
    (pipeline / ".venv" / "bin" / "python").write_text("#!/bin/sh\n")
    assert owner_results.regenerate_report(root, tmp_path / "scratch") == ({}, [])  # same results: the same report
    assert not (tmp_path / "scratch" / ".venv").exists()
    new_dir = pipeline / "results" / "bench-new"
    new_dir.mkdir()
    shutil.copy(next((pipeline / "results" / "bench-qwen3-32b").glob("*eval_results.json")),
                new_dir / "bench-new_openai_temp_0.0-sanitized_eval_results.json")
    script = pipeline / "generate-report.py"
    script.write_text(script.read_text().replace(
        '    REPORT.write_text("\\n".join(lines), encoding="utf-8")\n',
        '    REPORT.write_text("\\n".join(lines), encoding="utf-8")\n    (RESULTS / "chart.png").write_bytes(b"\\x89PNG\\xff")\n'))
    report = (root / owner_layout.REPORT).read_text()
    files, binary = owner_results.regenerate_report(root, tmp_path / "scratch")
    assert list(files) == [owner_layout.REPORT] and binary == [f"{owner_layout.RESULTS_DIR}/chart.png"]
    assert (root / owner_layout.REPORT).read_text() == report  # the repository is written by the caller, through the journal
    for profile in ("bench-new", "bench-gpt-oss-120b", "bench-qwen3-32b", "bench-qwen3-coder-30b"):
        assert f"`{profile}`" in files[owner_layout.REPORT]


def test_a_failing_report_script_is_an_external_failure_with_its_stderr(tmp_path):
    root = make_owner_repo(tmp_path)
    script = root / owner_layout.REPORT_SCRIPT
    script.write_text(script.read_text().replace("def main():\n", "def main():\n    raise SystemExit('no results dir?')\n"))
    with pytest.raises(ExternalFailure) as err:
        owner_results.regenerate_report(root, tmp_path / "scratch")
    assert "no results dir?" in str(err.value) and "exit 1" in str(err.value)


# -- phase 7 for real: llama-server, our client, EvalPlus's evaluate, the owner's report --------------------------
@pytest.mark.real_server
def test_benchmark_phase_writes_the_owners_layout_and_report_and_rollback_restores_them(tmp_path, llama_server_bin,
                                                                                        monkeypatch):
    from tests.test_benchmark_real import _require_evalplus

    _require_evalplus()
    monkeypatch.setenv("LLAMA_SERVER", str(llama_server_bin))
    monkeypatch.setenv("GGML_VK_VISIBLE_DEVICES", "")
    monkeypatch.delenv("HUMANEVAL_OVERRIDE_PATH", raising=False)
    root = make_owner_repo(tmp_path)
    ctx, journal = _candidate(root, display_name="Tiny Llama (F16)")
    before = tracked_bytes(root)
    old_report = (root / owner_layout.REPORT).read_text()
    steps = [_enter_bench_profile(ctx, journal)]
    # the owner gives the new profile a client section by hand: a system prompt and a small budget
    # (keeps the run short on shared cores); the phase reads it as benchmark.sh does
    conf = (root / owner_layout.CLIENT_CONF).read_text() + "\n[bench-tiny-llama]\nsystem_prompt = Answer with code only.\nmax_tokens = 48\n"
    (root / owner_layout.CLIENT_CONF).write_text(conf)
    before[owner_layout.CLIENT_CONF] = conf.encode()
    ctx.step, ctx.phase = journal.open_step("run", "benchmark", "benchmark", ["advance", NAME]), "benchmark"
    steps.append(ctx.step)
    benchmark.run(ctx, {"quick": "2", "dataset": str(DATASET)})

    done = ctx.facts_of("benchmark").run
    samples, raw, evaluated = (f"{owner_layout.RESULTS_DIR}/{BENCH}/{BENCH}_openai_temp_0.0{s}" for s in
                               ("-sanitized.jsonl", ".jsonl", "-sanitized_eval_results.json"))
    assert done["file"] == evaluated and done["pipeline"] == "owner" and done["report"] == owner_layout.REPORT
    answers = [json.loads(line) for line in (root / raw).read_text().splitlines()]
    assert [a["task_id"] for a in answers] == ["Onboard/0", "Onboard/1"] and all(0 < a["tokens"] <= 48 for a in answers)
    assert [json.loads(line)["task_id"] for line in (root / samples).read_text().splitlines()] == ["Onboard/0", "Onboard/1"]
    tasks = json.loads((root / evaluated).read_text())["eval"]
    assert sorted(tasks) == ["Onboard/0", "Onboard/1"]
    scores = owner_results.latest_scores(root, BENCH)
    assert scores == {"humaneval": pytest.approx(done["base_pass1"], abs=1e-3),
                      "humaneval_plus": pytest.approx(done["plus_pass1"], abs=1e-3)}
    # the owner's script wrote the report: the new model under its display name, the older results kept
    report = (root / owner_layout.REPORT).read_text()
    assert report != old_report
    row = next(line for line in report.splitlines() if f"`{BENCH}`" in line)
    assert f"| Tiny Llama (F16) | `{BENCH}` | {scores['humaneval'] * 100:.1f} | {scores['humaneval_plus'] * 100:.1f} |" in row
    assert "| 2 (partial) |" in row
    for older in ("bench-gpt-oss-120b", "bench-qwen3-32b", "bench-qwen3-coder-30b"):
        assert f"`{older}`" in report
        assert all(before[p] == (root / p).read_bytes() for p in before if f"/{older}/" in p)
    assert benchmark._results_present(ctx).passed
    assert not (root / "results").exists()  # nothing of our template pipeline in their repository

    records = journal.records([s.id for s in steps])
    assert journal.undo(journal.open_step("rollback", "benchmark", "test", []), records) == []
    assert tracked_bytes(root) == before
