"""A new model's facts, and its row, tree line, list item and section in a person's own docs.

Real files: the owner-style repository of tests/fixtures/owner_repo (copied, never edited), a
models.conf profile written the way the profile, samplers and test phases leave it, a real tiny GGUF
for the header facts, and the places the repository map finds.
"""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from onboard.phases import doc_facts, doc_lists, doc_rows, doc_style, doc_trees
from onboard.phases.repo_map import build_map
from onboard.store.atomic import read_text
from onboard.store.markdown_doc import parse, split_lines
from onboard.store.models_conf import ModelsConf
from tests.gguf_factory import write_tiny_model

FIXTURE = Path(__file__).parent / "fixtures" / "owner_repo"
MODEL = "models/Qwen3-8B/Q4_K_M/Qwen3-8B-Q4_K_M.gguf"
TESTED = {"NAME": "Qwen3-8B", "DESCRIPTION": "qwen3, Q4_K_M, strategy A", "SPEED": "61.3 t/s", "MODEL": MODEL,
          "CTX_SIZE": "32768", "N_GPU_LAYERS": "99", "FIT": "off",
          "EXTRA_ARGS": "-fa on -ts 1,0 --jinja --temp 0.6 --top-p 0.95 --top-k 20 --min-p 0"}
TESTED_COMMENTS = ["architecture facts: GGUF header of " + MODEL + " (qwen3, 36 layers, trained context 40960)",
                   "rig: reference; strategy A: the whole model fits on CUDA0",
                   "tested by onboard 2026-12-01: 61.3 t/s generation, 1800.0 t/s prompt, layers 37/37, graph splits 2",
                   "measured CUDA0: weights 4700 MiB, KV 4608 MiB, compute 300 MiB",
                   "measured CUDA1: weights 0 MiB, KV 0 MiB, compute 40 MiB",
                   "measured CPU: weights 300 MiB, compute 20 MiB"]


def owner_copy(tmp_path: Path, *, values=TESTED, comments=TESTED_COMMENTS, bench: bool = True) -> Path:
    """A copy of the owner fixture with the candidate's profile (and bench profile) added."""
    root = tmp_path / "repo"
    shutil.copytree(FIXTURE, root)
    conf = ModelsConf.load(root / "models.conf").with_section("qwen3-8b", values, comments)
    if bench:
        conf = conf.with_section("bench-qwen3-8b", {"NAME": "Qwen3-8B bench", "MODEL": MODEL, "CTX_SIZE": "10240",
                                                    "N_GPU_LAYERS": "99", "FIT": "off",
                                                    "EXTRA_ARGS": "-fa on -b 512 -ub 512 --jinja --reasoning-format none"},
                                 [])
    (root / "models.conf").write_bytes(conf.text.encode("utf-8"))
    return root


def place(root: Path, role: str, file: str | None = None):
    found = [p for p in build_map(root).places
             if p.role == role and p.kind != "block" and (file is None or p.file == file)]
    assert len(found) == 1, [f"{p.file}:{p.line}" for p in found]
    return found[0]


FACTS = {"profile": "qwen3-8b", "model": "Qwen3-8B", "start": "./start.sh qwen3-8b", "bench": "bench-qwen3-8b",
         "file": MODEL, "quant": "Q4_K_M", "arch": "Dense", "params": "8.2B", "active": "8.2B", "context": "32768",
         "speed": "61.3 t/s", "vram": "CUDA0 9608 MiB + CUDA1 40 MiB", "strategy": "A",
         "description": "Small thinking model, one GPU", "temp": "0.6", "top_p": "0.95", "top_k": "20", "min_p": "0",
         "repeat_penalty": None, "presence_penalty": None, "thinking": "Yes", "tools": "Yes", "vision": "No",
         "system_prompt": None, "humaneval": None, "humaneval_plus": None, "reference": None, "status": "tested",
         "notes": None, "card": None}


# -- facts --------------------------------------------------------------------------------------------------
def test_facts_come_from_the_tested_profile_its_comments_and_the_gguf_header(tmp_path):
    root = owner_copy(tmp_path)
    (root / MODEL).parent.mkdir(parents=True)
    write_tiny_model(root / MODEL, "qwen3moe")
    facts = doc_facts.model_facts(root, "qwen3-8b", {"quant": "Q4_K_M", "thinking": True})
    assert facts["profile"] == "qwen3-8b" and facts["model"] == "Qwen3-8B"
    assert facts["start"] == "./start.sh qwen3-8b" and facts["bench"] == "bench-qwen3-8b"
    assert facts["file"] == MODEL and facts["quant"] == "Q4_K_M" and facts["context"] == "32768"
    assert facts["speed"] == "61.3 t/s"
    # measured per device from the test phase's comments (weights + KV + compute), the CPU left out
    assert facts["vram"] == "CUDA0 9608 MiB + CUDA1 40 MiB"
    assert facts["strategy"] == "A" and facts["status"] == "tested"
    assert (facts["temp"], facts["top_p"], facts["top_k"], facts["min_p"]) == ("0.6", "0.95", "20", "0")
    assert facts["repeat_penalty"] is None and facts["thinking"] == "Yes"
    assert facts["arch"] == "MoE" and facts["params"].endswith("M") and facts["active"] != facts["params"]
    assert facts["vision"] == "No"  # the header was read and no mmproj file sits beside the model
    assert facts["humaneval"] is None and facts["humaneval_plus"] is None


def test_an_untested_profile_gives_an_estimate_and_no_memory(tmp_path):
    values = {**TESTED, "SPEED": "~58 t/s (estimated)"}
    root = owner_copy(tmp_path, values=values, comments=["NOT YET TESTED: written by onboard (profile phase)",
                                                          "predicted CUDA0: 9800 MiB of 23552 MiB (weights 4700)"],
                      bench=False)
    facts = doc_facts.model_facts(root, "qwen3-8b", {})
    assert facts["speed"] == "~58 t/s" and facts["vram"] is None
    assert facts["status"] == "untested" and facts["bench"] is None
    assert facts["quant"] == "Q4_K_M"  # from the models/<Model>/<Quant>/ folder when the options lack it
    assert facts["arch"] is None  # no GGUF file, no architecture option: unknown, never guessed


def test_benchmark_scores_become_percentages_and_the_status_benchmarked(tmp_path):
    root = owner_copy(tmp_path)
    results = root / "results" / "evalplus" / "bench-qwen3-8b"
    results.mkdir(parents=True)
    (results / "humaneval.json").write_text(json.dumps({"profile": "bench-qwen3-8b", "dataset": "humaneval",
                                                        "date": "2026-12-02", "base_pass1": 0.8415,
                                                        "plus_pass1": 0.7866}))
    facts = doc_facts.model_facts(root, "qwen3-8b", {})
    assert facts["humaneval"] == "84.2%" and facts["humaneval_plus"] == "78.7%"
    assert facts["status"] == "benchmarked"


def test_a_profile_models_conf_lacks_is_bad_input(tmp_path):
    from onboard.llamacpp.errors import BadInput

    root = owner_copy(tmp_path)
    with pytest.raises(BadInput, match=r"no \[nope\] profile"):
        doc_facts.model_facts(root, "nope", {})


# -- one value in its neighbours' style ------------------------------------------------------------------
@pytest.mark.parametrize("field, neighbours, header, expected", [
    ("context", ["64K", "32K"], "Context", "32K"),
    ("context", ["65,536", "32,768"], "Context", "32,768"),
    ("context", ["65536"], "Context", "32768"),
    ("profile", ["`gpt-oss-120b`", "`qwen3-32b`"], "Profile", "`qwen3-8b`"),
    ("profile", ["gpt-oss-120b", "qwen3-32b"], "Profile", "qwen3-8b"),
    ("profile", ["`bench-gpt-oss-120b`"], "Profile", "`bench-qwen3-8b`"),
    ("thinking", ["✅ (low/medium/high)", "❌"], "Thinking", "✅"),
    ("vision", ["✅", "❌"], "Vision", "❌"),
    ("thinking", ["yes", "no"], "Thinking", "yes"),
    ("strategy", ["Strategy C", "Strategy A"], "Placement", "Strategy A"),
    ("strategy", ["C", "A"], "Strategy", "A"),
    ("speed", ["24.5 t/s", "148 t/s"], "Speed", "61.3 t/s"),
    ("speed", ["24.5", "148"], "Speed (t/s)", "61.3"),
    ("vram", ["21.8 GB", "21.6 GB"], "GPU0 (4090)", "9.4 GB"),
    ("vram", ["14.2 GB", "0.4 GB"], "GPU1 (5070 Ti)", "0.0 GB"),
    ("vram", ["~36 GB"], "VRAM", "9 GB"),
    ("vram", ["35.6 GiB", "30.1 GiB"], "VRAM", "9.4 GiB"),
    ("vram", ["22300 MiB", "14100 MiB"], "GPU0", "9608 MiB"),
    ("model", ["Qwen3 32B (Q6_K)", "GLM-4.5-Air (UD-Q4_K_XL)"], "Model", "Qwen3-8B (Q4_K_M)"),
    ("model", ["GLM-4.7 Flash Q4_K_M", "GPT-OSS 120B F16"], "Model", "Qwen3-8B Q4_K_M"),
    ("arch", ["MoE 117B/5.1B", "Dense 32.8B"], "Arch", "Dense 8.2B"),
    ("file", ["gpt-oss-120b-Q4_K_M.gguf"], "File", "Qwen3-8B-Q4_K_M.gguf"),
    ("params", ["18 GB", "61 GB"], "File Size", "TBD"),
    ("params", ["30.5B", "32.8B"], "Params", "8.2B"),
    ("humaneval_plus", ["0.872", "0.835"], "HumanEval+", "TBD"),
    ("notes", ["4090 only"], "Notes", "TBD"),
    ("repeat_penalty", ["1.05", "-"], "repeat_penalty", "-"),
    (None, ["1", "2", "3"], "#", "4"),
    (None, ["experts 18-35 (~33 GB)", "-"], "CPU", "TBD"),
])
def test_a_value_is_written_the_way_the_column_writes_its_neighbours(field, neighbours, header, expected):
    assert doc_style.style_value(field, FACTS, neighbours, header) == expected


def test_scores_follow_the_column_as_percentages_or_fractions():
    facts = {**FACTS, "humaneval_plus": "78.7%"}
    assert doc_style.style_value("humaneval_plus", facts, ["87.2%", "83.5%"]) == "78.7%"
    assert doc_style.style_value("humaneval_plus", facts, ["0.872", "0.835"]) == "0.787"


# -- one entry per kind of place, against the owner's own files ---------------------------------------------
def _added(root: Path, p, facts=FACTS) -> tuple[str, list[str], int]:
    text = read_text(root / p.file)
    new_text, lines, at = doc_rows.add_entry(p, facts, text)
    old, new = split_lines(text), split_lines(new_text)
    assert new[:at] == old[:at] and new[at + len(lines):] == old[at:], "only the entry's lines are added"
    assert [line.rstrip("\r\n") for line in new[at:at + len(lines)]] == lines
    return new_text, lines, at


def test_a_table_row_takes_the_tables_columns_backticks_units_and_placeholders(tmp_path):
    root = owner_copy(tmp_path)
    p = place(root, "target-models", "README.md")
    _, lines, at = _added(root, p)
    # Model | Profile | Quant | Speed | Context | Use case
    assert lines == ["| Qwen3-8B | `qwen3-8b` | Q4_K_M | 61.3 t/s | 32K | Small thinking model, one GPU |"]
    assert at == p.end_line  # right after the table's last row

    switching = place(root, "switching", "README.md")
    _, lines, _ = _added(root, switching)
    assert lines == ["| `./start.sh qwen3-8b` | Qwen3-8B | TBD |"]  # Notes: nothing known, said plainly


def test_a_capability_row_uses_the_tables_marks(tmp_path):
    root = owner_copy(tmp_path)
    _, lines, _ = _added(root, place(root, "capabilities"))
    assert lines == ["| Qwen3-8B | `qwen3-8b` | ✅ | ✅ | ❌ | 32K | TBD |"]


def test_a_model_reference_row_gives_memory_per_gpu_column(tmp_path):
    root = owner_copy(tmp_path)
    _, lines, _ = _added(root, place(root, "model-reference", "docs/gpu-strategy-guide.md"))
    assert lines == ["| Qwen3-8B | A | 9.4 GB | 0.0 GB | TBD | 61.3 t/s |"]
    _, lines, _ = _added(root, place(root, "model-reference", ".claude/agents/gpu-optimizer.md"))
    assert lines == ["| Qwen3-8B | qwen3-8b | Dense 8.2B | A | 9.4 GB | 0.0 GB | 61.3 t/s |"]


def test_a_tree_line_copies_the_siblings_drawing_and_shows_the_quant_folder(tmp_path):
    root = owner_copy(tmp_path)
    p = place(root, "structure", "README.md")
    new_text, lines, at = _added(root, p)
    assert lines == ["│   ├── Qwen3-8B/", "│   │   └── Q4_K_M/"]
    # the siblings are not in name order: ours goes before the last (└──) one, whose line stays as it was
    assert split_lines(new_text)[at + 2].rstrip("\n") == "│   └── Qwen3-32B/"


def test_a_tree_with_model_and_quant_on_one_line_gets_one_line(tmp_path):
    root = owner_copy(tmp_path)
    _, lines, _ = _added(root, place(root, "hierarchy", "AI_INSTRUCTIONS.md"))
    assert lines == ["│   ├── Qwen3-8B/Q4_K_M/"]


def test_a_tree_child_gets_the_aligned_comment_its_siblings_have(tmp_path):
    root = owner_copy(tmp_path)
    text = read_text(root / ".claude/agents/model-manager.md")
    _, lines, _ = _added(root, place(root, "hierarchy", ".claude/agents/model-manager.md"))
    column = next(line for line in text.splitlines() if "└── Q6_K/" in line).index("#")
    assert lines[0] == "├── Qwen3-8B/"
    assert lines[1].startswith("│   └── Q4_K_M/") and lines[1].index("#") == column
    assert lines[1].endswith("# Qwen3-8B-Q4_K_M.gguf")


def test_a_status_item_takes_the_mark_and_words_of_a_sibling_in_the_same_state(tmp_path):
    root = owner_copy(tmp_path)
    p = place(root, "roadmap-status")
    _, lines, _ = _added(root, p)
    # tested, bench profile written, not benchmarked: like GLM-4.5-Air's item, not like the ✅ ones
    assert lines == ["- ⚠️ **Qwen3-8B** (`qwen3-8b`) -- production, 61.3 t/s, bench profile ready but not "
                     "benchmarked yet"]
    _, lines, _ = _added(root, p, {**FACTS, "status": "benchmarked"})
    assert lines == ["- ✅ **Qwen3-8B** (`qwen3-8b`) -- production, 61.3 t/s, benchmarked"]


def test_a_list_item_keeps_context_strategy_and_a_checkbox():
    siblings = ["[x] **GLM-4.7 Flash Q4_K_M** — ~140 t/s, 128K context, single GPU (Strategy A)",
                "[ ] **GPT-OSS 120B F16** — ~21 t/s, 64K context, large MoE with CPU expert offloading (Strategy D)"]
    item = doc_lists.list_item_text(siblings, {**FACTS, "bench": None, "description": "small and fast"})
    assert item == "[x] **Qwen3-8B Q4_K_M** — 61.3 t/s, 32K context, small and fast (Strategy A)"


def test_a_per_model_section_has_the_siblings_heading_level_and_labelled_bullets(tmp_path):
    root = owner_copy(tmp_path)
    p = place(root, "model-notes", "docs/client-settings.md")
    new_text, lines, at = _added(root, p)
    assert lines == ["", "### Qwen3-8B", "", "- **Profile:** `qwen3-8b`",
                     "- **Samplers:** temperature 0.6, top_p 0.95, top_k 20, min_p 0",
                     "- **System prompt:** none needed",
                     "- Thinking model: it reasons before the answer (benchmarks serve it with "
                     "`--reasoning-format none`)."]
    assert at == len(split_lines(read_text(root / p.file)))  # after the last section, at the end of the file
    assert parse(new_text).headings[-1].text == "Qwen3-8B"


def test_a_system_prompt_goes_in_a_code_block_like_the_siblings(tmp_path):
    root = owner_copy(tmp_path)
    p = place(root, "model-notes", "docs/client-settings.md")
    _, lines, _ = _added(root, p, {**FACTS, "system_prompt": "Reasoning: high"})
    assert "- **System prompt:** required:" in lines
    assert lines[-4:] == ["", "```", "Reasoning: high", "```"]


SETTINGS_BY_MODEL = """# Client settings

## Sampler settings at a glance

| Setting | GLM (general) | GPT-OSS (all) |
|---------|--------------|---------------|
| temperature | 1.0 | 1.0 |
| top_p | 0.95 | 1.0 |
| min_p | 0.01 | — |

More text.
"""


def test_a_settings_by_model_table_gets_a_column_not_a_row():
    from types import SimpleNamespace

    table = SimpleNamespace(kind="table", line=5, end_line=9, entries=(), fields=())
    new_text, lines, _ = doc_rows.add_entry(table, FACTS, SETTINGS_BY_MODEL)
    assert new_text.splitlines()[4:9] == [
        "| Setting | GLM (general) | GPT-OSS (all) | Qwen3-8B |",
        "|---------|--------------|---------------|----------|",
        "| temperature | 1.0 | 1.0 | 0.6 |",
        "| top_p | 0.95 | 1.0 | 0.95 |",
        "| min_p | 0.01 | — | 0 |"]
    assert new_text.endswith("\nMore text.\n")


def test_a_section_goes_before_a_marked_block_that_follows_the_last_section(tmp_path):
    root = owner_copy(tmp_path)
    path = root / "docs" / "client-settings.md"
    block = "\n<!-- BEGIN onboard: qwen3-8b -->\n## Qwen3-8B\n\n| setting | value |\n<!-- END onboard: qwen3-8b -->\n"
    path.write_bytes(path.read_bytes() + block.encode())
    p = place(root, "model-notes", "docs/client-settings.md")
    new_text, lines, at = _added(root, p)
    assert lines[0] == "### Qwen3-8B" and lines[-1] == ""  # blank lines around it, the block after it
    assert new_text.endswith(block)


def test_a_settings_by_model_table_that_has_the_models_column_counts_as_listing_it():
    from types import SimpleNamespace

    from onboard.phases import docs
    from onboard.phases.doc_fields import profile_identities

    section = ModelsConf.parse(ModelsConf.parse("").with_section("qwen3-8b", TESTED).text).section("qwen3-8b")
    table = SimpleNamespace(kind="table", line=5, end_line=9, entries=(), fields=())
    new_text, _, _ = doc_rows.add_entry(table, FACTS, SETTINGS_BY_MODEL)
    assert not docs.is_listed(table, FACTS, profile_identities(section), SETTINGS_BY_MODEL)
    assert docs.is_listed(table, FACTS, profile_identities(section), new_text)


def test_another_quant_of_a_model_the_tree_shows_gets_its_quant_folder_under_it(tmp_path):
    root = owner_copy(tmp_path, values={**TESTED, "NAME": "Qwen3 32B (Q4_K_M)",
                                        "MODEL": "models/Qwen3-32B/Q4_K_M/Qwen3-32B-Q4_K_M.gguf"})
    facts = {**FACTS, "model": "Qwen3 32B (Q4_K_M)", "file": "models/Qwen3-32B/Q4_K_M/Qwen3-32B-Q4_K_M.gguf"}
    p = place(root, "structure", "README.md")
    assert not doc_trees.tree_shows(p, facts, read_text(root / p.file))
    new_text, lines, at = _added(root, p, facts)
    assert lines == ["│       ├── Q4_K_M/"]
    assert [line.rstrip("\n") for line in split_lines(new_text)[at - 1:at + 2]] == \
        ["│   └── Qwen3-32B/", "│       ├── Q4_K_M/", "│       └── Q6_K/"]
    assert doc_trees.tree_shows(p, facts, new_text)
    # one line per model and quant: a new line, in the siblings' form
    hierarchy = place(root, "hierarchy", "AI_INSTRUCTIONS.md")
    _, lines, _ = _added(root, hierarchy, facts)
    assert lines == ["│   ├── Qwen3-32B/Q4_K_M/"]
