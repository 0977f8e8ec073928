"""`onboard docs check` on the owner's own repository (hand-written, no markers): clean as it is, and
each seeded inconsistency is reported at its file:line with what to do; `docs fix` leaves every
hand-written byte alone and says who fills those places."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from onboard.phases.docs_check import check
from onboard.store.models_conf import ModelsConf
from tests.owner_repo import make_owner_repo, tracked_bytes

REPO = Path(__file__).resolve().parent.parent


def _run(root: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.run([sys.executable, "-m", "onboard.workflow.cli", "--root", str(root), "docs", *args],
                          capture_output=True, text=True, env=env, timeout=120)


def _line(root: Path, rel: str, needle: str) -> int:
    lines = (root / rel).read_bytes().decode().splitlines()
    return next(i for i, text in enumerate(lines, start=1) if needle in text)


def _edit(root: Path, rel: str, old: str, new: str) -> None:
    path = root / rel
    data = path.read_bytes()
    assert old.encode() in data, old
    path.write_bytes(data.replace(old.encode(), new.encode(), 1))


def test_the_untouched_owner_repository_checks_clean(tmp_path):
    root = make_owner_repo(tmp_path, git=False)
    assert check(root) == []
    proc = _run(root, "check")
    assert proc.returncode == 0 and proc.stdout.strip() == "docs are consistent", proc.stdout + proc.stderr


def test_a_stale_start_command_is_reported_at_its_line(tmp_path):
    root = make_owner_repo(tmp_path, git=False)
    _edit(root, "AI_INSTRUCTIONS.md", "is started with `./start.sh <id>`", "is started with `./start.sh old-model`")
    _edit(root, "docs/lessons_learned.md", "\n## Tooling", "\nRun `[bench-old-model]` again.\n\n## Tooling")
    line = _line(root, "AI_INSTRUCTIONS.md", "./start.sh old-model")
    bench_line = _line(root, "docs/lessons_learned.md", "[bench-old-model]")
    proc = _run(root, "check", "--json")
    assert proc.returncode == 1
    problems = json.loads(proc.stdout)["problems"]
    assert problems == [
        f"AI_INSTRUCTIONS.md:{line}: refers to profile [old-model], which models.conf does not have; "
        "correct or remove the reference",
        f"docs/lessons_learned.md:{bench_line}: refers to profile [bench-old-model], which models.conf does not "
        "have; correct or remove the reference"]


def test_rows_lines_and_sections_of_a_removed_profile_are_reported(tmp_path):
    root = make_owner_repo(tmp_path, git=False)
    conf = ModelsConf.load(root / "models.conf").without_section("bench-qwen3-32b").without_section("qwen3-32b")
    (root / "models.conf").write_text(conf.text)
    problems = check(root)
    expected = {
        ("README.md", "| Qwen3 32B |", "the row 'Qwen3 32B'"),
        ("README.md", "./start.sh qwen3-32b", "the row '`./start.sh qwen3-32b`'"),
        ("README.md", "── Qwen3-32B/", "the folder 'Qwen3-32B'"),
        ("AI_INSTRUCTIONS.md", "Qwen3-32B/Q6_K/", "the folder 'Qwen3-32B'"),
        (".claude/agents/model-manager.md", "── Qwen3-32B/", "the folder 'Qwen3-32B'"),
        (".claude/agents/gpu-optimizer.md", "| Qwen3 32B |", "the row 'Qwen3 32B'"),
        ("ROADMAP.md", "**Qwen3 32B**", "the item"),
        ("docs/client-settings.md", "| Qwen3 32B | `qwen3-32b` | ✅", "the row 'Qwen3 32B'"),
        ("docs/client-settings.md", "| Qwen3 32B | 0.6", "the row 'Qwen3 32B'"),
        ("docs/client-settings.md", "### Qwen3 32B", "the section 'Qwen3 32B'"),
        ("docs/gpu-strategy-guide.md", "| Qwen3 32B |", "the row 'Qwen3 32B'"),
        ("benchmarks/evalplus/README.md", "`bench-qwen3-32b`", "the row '`bench-qwen3-32b`'"),
        ("benchmarks/evalplus/bench-client.conf", "[bench-qwen3-32b]", "a client section for profile"),
        ("benchmarks/evalplus/generate-report.py", '"bench-qwen3-32b": "Qwen3', "an entry for profile"),
        ("benchmarks/evalplus/generate-report.py", '"bench-qwen3-32b": "qwen3', "an entry for profile"),
    }
    for rel, needle, what in expected:
        prefix = f"{rel}:{_line(root, rel, needle)}: {what}"
        assert any(p.startswith(prefix) and ("names no profile" in p or "no profile's model folder" in p
                                             or "[bench-qwen3-32b], which models.conf does not have" in p)
                   for p in problems), (prefix, problems)
    assert len(problems) == len(expected), problems  # one finding per line, no duplicates


def test_a_profile_missing_from_a_table_a_tree_a_list_and_the_sections_is_reported(tmp_path):
    root = make_owner_repo(tmp_path, git=False)  # docs/gpu-strategy-guide.md is CRLF here
    for rel, row in [("docs/client-settings.md", "| GLM-4.5-Air | `glm-4.5-air` | ✅ | ✅ | ❌ | 32K | hybrid, "
                      "`/nothink` to disable |\n"),
                     ("docs/gpu-strategy-guide.md", "| GLM-4.5-Air | C | 22.9 GB | 15.1 GB | experts 22-46 "
                      "(~41 GB) | 14.8 t/s |\r\n"),
                     ("AI_INSTRUCTIONS.md", "│   ├── GLM-4.5-Air/UD-Q4_K_XL/\n"),
                     ("ROADMAP.md", "- ⚠️ **GLM-4.5-Air** (`glm-4.5-air`) -- production, 14.8 t/s, bench profile "
                      "ready but not benchmarked yet\n")]:
        _edit(root, rel, row, "")
    text = (root / "docs/client-settings.md").read_text()
    start = text.index("### GLM-4.5-Air")
    (root / "docs/client-settings.md").write_text(text[:start] + text[text.index("### Qwen3 32B"):])
    problems = check(root)
    assert problems == [
        f"AI_INSTRUCTIONS.md:{_line(root, 'AI_INSTRUCTIONS.md', '```')}: glm-4.5-air is not listed in "
        "AI_INSTRUCTIONS.md 'Project hierarchy', add a line for its model folder",
        f"ROADMAP.md:{_line(root, 'ROADMAP.md', 'GPT-OSS 120B')}: glm-4.5-air is not listed in ROADMAP.md "
        "'Current Status', add an item for it",
        f"docs/client-settings.md:{_line(root, 'docs/client-settings.md', '| Thinking |')}: glm-4.5-air is not "
        "listed in docs/client-settings.md 'Capabilities', add a row for it",
        f"docs/client-settings.md:{_line(root, 'docs/client-settings.md', '### GPT-OSS 120B')}: glm-4.5-air is not "
        "listed in docs/client-settings.md 'Per-Model Settings', add a section for it",
        f"docs/gpu-strategy-guide.md:{_line(root, 'docs/gpu-strategy-guide.md', '| Model | Strategy |')}: "
        "glm-4.5-air is not listed in docs/gpu-strategy-guide.md 'Model reference', add a row for it",
    ]


def test_a_bench_profile_missing_from_the_pipeline_readme_is_reported(tmp_path):
    root = make_owner_repo(tmp_path, git=False)
    _edit(root, "benchmarks/evalplus/README.md", "| `bench-qwen3-32b` | Qwen3 32B (Q6_K) | thinking, "
          "`--reasoning-format none` |\n", "")
    line = _line(root, "benchmarks/evalplus/README.md", "| Profile | Model |")
    assert check(root) == [f"benchmarks/evalplus/README.md:{line}: bench-qwen3-32b is not listed in "
                           "benchmarks/evalplus/README.md 'Profiles', add a row for it"]


def test_unusable_places_are_reported_by_check_and_fix_touches_no_hand_written_byte(tmp_path):
    root = make_owner_repo(tmp_path, git=False)
    _edit(root, "ROADMAP.md", "## Ideas / Later", "## Current Status\n\nStill current.\n\n## Ideas / Later")
    before = tracked_bytes(root)
    proc = _run(root, "fix")
    assert tracked_bytes(root) == before
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "nothing to change" in proc.stdout and "docs phase (onboard advance NAME)" in proc.stdout
    first = _line(root, "ROADMAP.md", "## Current Status")
    assert f"ROADMAP.md:{first + 2}: the roadmap-status list sits under heading 'Current Status', which appears " \
           f"2 times (lines {first} and " in proc.stdout and "rename one of the headings" in proc.stdout


def test_a_table_onboard_does_not_keep_is_no_finding_but_an_unreadable_models_table_is(tmp_path):
    root = make_owner_repo(tmp_path, git=False)
    lessons = root / "docs" / "lessons_learned.md"
    lessons.write_text(lessons.read_text() + "\n## Crashes\n\n| Model | When |\n|---|---|\n| Qwen3 32B | often |\n")
    assert check(root) == []
    readme = root / "README.md"
    readme.write_text(readme.read_text() + "\n## Favourite models\n\n| Foo | Bar |\n|---|---|\n| Qwen3 32B | yes |\n")
    line = _line(root, "README.md", "| Foo | Bar |")
    assert check(root) == [f"README.md:{line}: a table of models under 'Favourite models' with columns 'Foo', 'Bar', "
                           "none of which onboard knows; name a column by what it holds (e.g. 'Model', 'Profile', "
                           "'Speed'); until then onboard leaves the table alone"]


def test_docs_map_lists_the_places_as_json_and_text(tmp_path):
    root = make_owner_repo(tmp_path, git=False)
    proc = _run(root, "map", "--json")
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    target = next(p for p in data["places"] if p["role"] == "target-models")
    assert (target["file"], target["line"], target["kind"]) == ("README.md", _line(root, "README.md", "| Model |"),
                                                                "table")
    assert data["unmapped"] == []
    text = _run(root, "map").stdout
    assert f"README.md:{target['line']}-{target['end_line']} under 'Target Models'" in text


def test_profiles_sharing_a_model_folder_are_listed_by_its_tree_line(tmp_path):
    root = make_owner_repo(tmp_path, git=False)
    conf = ModelsConf.load(root / "models.conf")
    long_ctx = dict(conf.section("qwen3-32b").values, NAME="Qwen3 32B long context", CTX_SIZE="131072")
    (root / "models.conf").write_text(conf.with_section("qwen3-32b-128k", long_ctx).text)
    problems = check(root)
    assert problems and not any("folder" in p or "model folder" in p for p in problems), problems
    assert all("qwen3-32b-128k is not listed" in p for p in problems), problems
