"""phases/repo_map.py and phases/doc_fields.py on the owner's own repository (tests/owner_repo.py):
every place that lists models is found by meaning, with its file:line, its columns' fields and the
rows that name each profile; what onboard cannot use is refused with file:line and what to do."""
from __future__ import annotations

from pathlib import Path

import pytest

from onboard.llamacpp.errors import BadInput
from onboard.phases import doc_fields
from onboard.phases.repo_map import build_map, map_problems
from onboard.store.models_conf import ModelsConf
from tests.owner_repo import make_owner_repo, tracked_bytes

PROFILES = {"gpt-oss-120b", "qwen3-coder-30b", "glm-4.5-air", "qwen3-32b"}


@pytest.fixture(scope="module")
def owner(tmp_path_factory) -> Path:
    return make_owner_repo(tmp_path_factory.mktemp("map"), git=False)


@pytest.fixture(scope="module")
def rmap(owner):
    return build_map(owner)


def _line(root: Path, rel: str, needle: str, start: int = 1) -> int:
    lines = (root / rel).read_bytes().decode().splitlines()
    return next(i for i, text in enumerate(lines, start=1) if i >= start and needle in text)


def _place(rmap, role: str, file: str):
    (place,) = [p for p in rmap.places if p.role == role and p.file == file]
    return place


# (role, kind, file, a text on its first line, the heading it sits under)
EXPECTED = [
    ("target-models", "table", "README.md", "| Model | Profile | Quant |", "Target Models"),
    ("switching", "table", "README.md", "| Command | Model | Notes |", "Switching Models"),
    ("structure", "tree", "README.md", "```", "Repository Structure"),
    ("hierarchy", "tree", "AI_INSTRUCTIONS.md", "```", "Project hierarchy"),
    ("hierarchy", "tree", ".claude/agents/model-manager.md", "```", "Directory structure"),
    ("roadmap-status", "list", "ROADMAP.md", "GPT-OSS 120B", "Current Status"),
    ("capabilities", "table", "docs/client-settings.md", "| Thinking |", "Capabilities"),
    ("samplers", "table", "docs/client-settings.md", "| temp |", "Sampler Settings"),
    ("model-notes", "sections", "docs/client-settings.md", "### GPT-OSS 120B", "Per-Model Settings"),
    ("model-reference", "table", "docs/gpu-strategy-guide.md", "| Model | Strategy |", "Model reference"),
    ("model-reference", "table", ".claude/agents/gpu-optimizer.md", "| Model | Profile | Arch |", "Model reference"),
    ("bench-profiles", "table", "benchmarks/evalplus/README.md", "| Profile | Model |", "Profiles"),
]


def test_every_place_of_the_owner_repository_is_found_at_its_line(owner, rmap):
    assert {(p.role, p.file) for p in rmap.places} == {(r, f) for r, _, f, _, _ in EXPECTED}
    for role, kind, file, needle, heading in EXPECTED:
        place = _place(rmap, role, file)
        after = _line(owner, file, heading)
        assert (place.kind, place.heading) == (kind, heading), role
        assert place.line == _line(owner, file, needle, start=after), (role, file)
        assert {pid for _, pid in place.entries} == PROFILES, (role, file)
        assert place.per_model == (role != "bench-profiles")
    assert rmap.unmapped == []


def test_rows_lines_and_sections_name_their_profiles(owner, rmap):
    target = _place(rmap, "target-models", "README.md")
    assert (_line(owner, "README.md", "| Qwen3 32B |"), "qwen3-32b") in target.entries
    assert target.end_line == _line(owner, "README.md", "| Qwen3 32B |")
    tree = _place(rmap, "structure", "README.md")
    assert (_line(owner, "README.md", "── Qwen3-Coder-30B-A3B-Instruct/"), "qwen3-coder-30b") in tree.entries
    assert "documentation" not in {text for _, text in tree.items}  # not a model folder
    notes = _place(rmap, "model-notes", "docs/client-settings.md")
    assert (_line(owner, "docs/client-settings.md", "### Qwen3-Coder 30B-A3B"), "qwen3-coder-30b") in notes.entries
    # "Qwen3 32B" rows are qwen3-32b's, never qwen3-coder-30b's, in every table
    for place in rmap.places:
        for line, pid in place.entries:
            text = (owner / place.file).read_bytes().decode().splitlines()[line - 1]
            assert pid != "qwen3-coder-30b" or "Coder" in text, (place.file, line)


def test_columns_are_mapped_to_fields(rmap):
    target = _place(rmap, "target-models", "README.md")
    assert target.columns == ("Model", "Profile", "Quant", "Speed", "Context", "Use case")
    assert target.fields == ("model", "profile", "quant", "speed", "context", "description")
    samplers = _place(rmap, "samplers", "docs/client-settings.md")
    assert samplers.fields[-1] is None and samplers.fields[1:4] == ("temp", "top_p", "top_k")
    assert _place(rmap, "switching", "README.md").fields[0] == "start"
    ref = _place(rmap, "model-reference", "docs/gpu-strategy-guide.md")
    assert ref.fields == ("model", "strategy", "vram", "vram", "vram", "speed")
    assert [doc_fields.device_of(c) for c in ref.columns[2:4]] == ["gpu0", "gpu1"]


def test_map_is_read_only_deterministic_and_renders(owner):
    before = tracked_bytes(owner)
    first, second = build_map(owner), build_map(owner)
    assert tracked_bytes(owner) == before
    assert first.to_json() == second.to_json()
    text = first.render()
    assert "target-models" in text and "README.md:" in text and "Source" in text  # a column left as written


def test_a_table_whose_columns_mean_nothing_and_a_twice_used_heading_are_refused(tmp_path):
    root = make_owner_repo(tmp_path, git=False)
    readme = root / "README.md"
    readme.write_text(readme.read_text() + "\n## Favourite models\n\n| Foo | Bar |\n|---|---|\n| Qwen3 32B | yes |\n"
                      "\n## Switching Models\n\nSee above.\n")
    lessons = root / "docs" / "lessons_learned.md"  # a table that names models but is no place: only listed
    lessons.write_text(lessons.read_text() + "\n## Crashes\n\n| Model | When |\n|---|---|\n| Qwen3 32B | often |\n")
    rmap = build_map(root)
    foo = _line(root, "README.md", "| Foo | Bar |")
    switching = _line(root, "README.md", "| Command | Model | Notes |")
    first, second = (_line(root, "README.md", "## Switching Models"),
                     _line(root, "README.md", "## Switching Models", start=foo))
    assert not [p for p in rmap.places if p.file == "README.md" and p.role == "switching"]
    assert any(u.startswith(f"README.md:{foo}: ") and "'Foo', 'Bar'" in u and "name a column" in u
               for u in rmap.unmapped)
    assert any(u.startswith(f"README.md:{switching}: ") and f"lines {first} and {second}" in u
               and "rename one" in u for u in rmap.unmapped)
    crashes = _line(root, "docs/lessons_learned.md", "| Model | When |")
    assert any(u.startswith(f"docs/lessons_learned.md:{crashes}: ") and "purpose onboard cannot tell" in u
               for u in rmap.unmapped)
    assert len(rmap.unmapped) == 3 and len(rmap.problems) == 2
    errors = map_problems(root, rmap)
    assert all(isinstance(e, BadInput) and e.path == "README.md" and e.fix for e in errors)
    assert sorted(e.line for e in errors) == sorted([foo, switching])


def test_generated_blocks_are_places_of_kind_block(tmp_path):
    root = tmp_path / "repo"
    (root / "docs").mkdir(parents=True)
    (root / "models.conf").write_text("[qwen3-32b]\nMODEL=models/Qwen3-32B/Q6_K/Qwen3-32B-Q6_K.gguf\n")
    (root / "README.md").write_text("# Mine\n\n<!-- BEGIN GENERATED: target-models -->\n| Model |\n|---|\n"
                                    "| Qwen3 32B |\n<!-- END GENERATED: target-models -->\n")
    (place,) = build_map(root).places
    assert (place.role, place.kind, place.line, place.end_line) == ("target-models", "block", 3, 7)


# -- the shared vocabulary ---------------------------------------------------------------------------
@pytest.mark.parametrize("header,field", [
    ("Model", "model"), ("**Profile ID**", "profile"), ("`./start.sh` command", "start"), ("Speed (t/s)", "speed"),
    ("Tok/s", "speed"), ("VRAM GPU0", "vram"), ("GPU1 (5070 Ti)", "vram"), ("Temperature", "temp"),
    ("top-p", "top_p"), ("HE+", "humaneval_plus"), ("HumanEval", "humaneval"), ("Thinking 🧠", "thinking"),
    ("Tested speed", "speed"), ("Bench profile", "bench"), ("Use case", "description"), ("Letter", None),
])
def test_field_for_header(header, field):
    assert doc_fields.field_for_header(header) == field


def test_profile_identities_and_specific_matching():
    conf = ModelsConf.parse(
        "[qwen3-coder-30b]\nNAME=Qwen3-Coder 30B-A3B Instruct (UD-Q4_K_XL)\n"
        "MODEL=models/Qwen3-Coder-30B-A3B-Instruct/UD-Q4_K_XL/"
        "Qwen3-Coder-30B-A3B-Instruct-UD-Q4_K_XL-00001-of-00002.gguf\n"
        "[qwen3-32b]\nNAME=Qwen3 32B\nMODEL=models/Qwen3-32B/Q6_K/Qwen3-32B-Q6_K.gguf\n"
        "[qwen3]\nNAME=Qwen3 8B\nMODEL=models/Qwen3-8B/Q4_K_M/Qwen3-8B-Q4_K_M.gguf\n")
    ids = doc_fields.conf_identities(conf)
    assert {"qwen3coder30b", "qwen3coder30ba3binstruct", "qwen3coder30ba3b"} <= ids["qwen3-coder-30b"]
    assert doc_fields.best_profile("| Qwen3-Coder 30B-A3B | x |", ids) == "qwen3-coder-30b"
    assert doc_fields.best_profile("Qwen3-32B-Q6_K.gguf", ids) == "qwen3-32b"
    assert doc_fields.best_profile("`./start.sh qwen3`", ids) == "qwen3"
    assert not doc_fields.names_profile("Qwen3-32B", ids["qwen3"])  # "32b" makes it another model
    assert doc_fields.best_profile("Gemma 3 270M", ids) is None
    assert doc_fields.normalize("GLM-4.5-Air") == "glm45air"
