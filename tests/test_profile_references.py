"""The profile phase shows the person's own tested profiles nearest to the new plan and the lessons of
their docs/lessons_learned.md that apply: read from a models.conf written in several people's comment
styles, real GGUF files (tests/gguf_factory) planned by the real planner, and a lessons file."""
from __future__ import annotations

from pathlib import Path

import pytest

from onboard.phases import profile_lessons
from onboard.phases import profile_references as refs
from onboard.phases.contract import PhaseContext
from onboard.phases.profile import make_plan, show_references
from tests.gguf_factory import write_tiny_model

MIB = 1024 * 1024
RIG = """name = "two GPUs"
[[device]]
name = "CUDA0"
backend = "CUDA"
usable_mib = 24000
total_mib = 24564
bandwidth_gbs = 1000
[[device]]
name = "CUDA1"
backend = "CUDA"
usable_mib = 15800
total_mib = 16303
bandwidth_gbs = 896
[host]
ram_mib = 65536
bandwidth_gbs = 60
"""
# Four tested production profiles in four comment styles, one tested profile whose SPEED is still the
# estimate, one NOT YET TESTED, one bench profile.
CONF = """# My rig: RTX 4090 24GB + RTX 5070 Ti 16GB
# Hardware: RTX 4090 24GB + RTX 5070 Ti 16GB

# Qwen3 30B-A3B, experts of layers 0-11 on the CPU
# Strategy C (MoE experts to CPU)
# GPU0 21.8 GB / GPU1 14.2 GB
[qwen3-30b]
NAME=Qwen3 30B A3B
DESCRIPTION=MoE coder
SPEED=24.5 t/s
MODEL=models/Qwen3-30B/Q4_K_M/Qwen3-30B-Q4_K_M-00001-of-00002.gguf
CTX_SIZE=32768
N_GPU_LAYERS=99
FIT=off
EXTRA_ARGS=-ot 'blk\\.([0-9]|1[01])\\.ffn_.*_exps\\.=CPU' -fa on -ctk q8_0 -ctv q8_0

# Gemma 3 27B, dense
# Strategy: B (layer split, 4090 takes more)
# 4090: 22.1GB, 5070Ti: 13.9GB
[gemma3-27b]
NAME=Gemma 3 27B
DESCRIPTION=dense generalist
SPEED=31.0 t/s
MODEL=models/Gemma3-27B/Q4_K_M/gemma-3-27b-Q4_K_M.gguf
CTX_SIZE=32768
N_GPU_LAYERS=99
FIT=off
EXTRA_ARGS=-ts 3,2 -fa on

# GLM 4.5 Air: Strategy C, --n-cpu-moe
# VRAM budget: 23/15 GB
# VRAM: 23.5/15.8 GB
[glm-air]
NAME=GLM 4.5 Air
DESCRIPTION=big MoE
SPEED=11.8 t/s
MODEL=models/GLM-Air/Q4_K_M/GLM-Air-Q4_K_M.gguf
CTX_SIZE=16384
N_GPU_LAYERS=99
FIT=off
EXTRA_ARGS=--n-cpu-moe 30 -fa on

# tested by onboard 2026-11-02: 88.0 t/s generation, 900.0 t/s prompt, layers 29/29, graph splits 2
# predicted CUDA0: 9000 MiB of 24000 MiB (weights 8000, KV 500, compute 300, margin 512)
# measured CUDA0: weights 7800 MiB, KV 512 MiB, compute 310 MiB
# measured CPU_Mapped: weights 300 MiB
[llama-8b]
NAME=Llama 8B
DESCRIPTION=llama, Q8_0, strategy A
SPEED=88.0 t/s
MODEL=models/Llama-8B/Q8_0/Llama-8B-Q8_0.gguf
CTX_SIZE=32768
N_GPU_LAYERS=33
FIT=off
EXTRA_ARGS=-fa on -fit off

# Mistral 7B, dense, Strategy A
[mistral-7b]
NAME=Mistral 7B
SPEED=~24 t/s (estimated)
MODEL=models/Mistral/Q4_K_M/mistral.gguf
CTX_SIZE=8192
N_GPU_LAYERS=99
FIT=off

# NOT YET TESTED: written by onboard (profile phase)
# Strategy C
# GPU0 20.0 GB / GPU1 10.0 GB
[qwen3-next]
NAME=Qwen3 Next
SPEED=~30 t/s (estimated)
MODEL=models/Qwen3-Next/Q4_K_M/next.gguf
EXTRA_ARGS=--n-cpu-moe 20

[bench-qwen3-30b]
NAME=Qwen3 30B A3B (bench)
SPEED=24.5 t/s
MODEL=models/Qwen3-30B/Q4_K_M/Qwen3-30B-Q4_K_M-00001-of-00002.gguf
CTX_SIZE=10240
"""
LESSONS = """# Lessons learned

## MoE models
- Keep attention and KV on the GPU; move only the routed experts with -ot.
- Unsloth quants route better than others.

## Gemma 3
- Gemma 3 uses sliding window attention: the KV cache is far smaller than the layer count suggests.

## Flash attention
1. Always pass -fa on with a quantized KV cache (-ctk q8_0 -ctv q8_0),
   llama-server refuses the pair otherwise.

## Splitting across the two GPUs
The 4090 should take more layers: use -ts 3,2 rather than an even split.

```
-ts 3,2
```

## Tooling
- start.sh reads models.conf; restart the server after each change.
"""


def _sparse(path: Path, size: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as f:
        f.truncate(size)


def _repo(tmp_path: Path, arch: str, *, conf: str | None = CONF, lessons: str | None = LESSONS,
          **dims) -> PhaseContext:
    """A person's repository with a candidate of ``arch`` downloaded (a real tiny GGUF), its rig, and
    their models.conf and lessons; the reference models' files exist where a size is wanted."""
    root = tmp_path / "repo"
    repo_id = f"test-org/Tiny-{arch}-GGUF"
    model = root / "models" / f"Tiny-{arch}" / "F16" / f"Tiny-{arch}-F16.gguf"
    model.parent.mkdir(parents=True)
    write_tiny_model(model, arch, **dims)
    (root / "rig.toml").write_text(RIG)
    if conf is not None:
        (root / "models.conf").write_text(conf)
    if lessons is not None:
        (root / "docs").mkdir()
        (root / "docs" / "lessons_learned.md").write_text(lessons)
    evaluated = {"repo": repo_id,
                 "quant_listing": {"F16": {"files": [{"path": model.name, "size": model.stat().st_size}]}}}
    return PhaseContext(name=f"tiny-{arch}", root=root, options={"quant": "F16"},
                        facts_by_phase={"evaluate": evaluated}, phase="profile", echo=lambda _s: None)


def _facts(ctx: PhaseContext) -> refs.PlanFacts:
    plan, _rig, header = make_plan(ctx)
    from onboard.phases import sources

    return refs.plan_facts(plan, header, sources.model_path(ctx))


def _model_files(root: Path, candidate_size: int) -> None:
    """Qwen3 30B split in two shards summing to the candidate's size, GLM 16 times larger, Gemma's
    and Llama's files absent (size unknown)."""
    base = root / "models" / "Qwen3-30B" / "Q4_K_M"
    _sparse(base / "Qwen3-30B-Q4_K_M-00001-of-00002.gguf", candidate_size // 2)
    _sparse(base / "Qwen3-30B-Q4_K_M-00002-of-00002.gguf", candidate_size - candidate_size // 2)
    _sparse(root / "models" / "GLM-Air" / "Q4_K_M" / "GLM-Air-Q4_K_M.gguf", candidate_size * 16)


def test_tested_profiles_are_read_in_every_comment_style_and_untested_ones_left_out(tmp_path):
    ctx = _repo(tmp_path, "llama")
    _model_files(ctx.root, 4 * MIB)
    found = {r.id: r for r in refs.tested_profiles(ctx.root)}
    # neither the NOT YET TESTED profile nor the bench- one
    assert list(found) == ["qwen3-30b", "gemma3-27b", "glm-air", "llama-8b", "mistral-7b"]
    q, g, glm, llama, mistral = found.values()
    assert (q.speed_tps, q.strategy, q.kind, q.kind_source) == (24.5, "C", "MoE", "-ot expert rule")
    assert {d: round(m / 1024, 1) for d, m in q.memory_mib.items()} == {"GPU0": 21.8, "GPU1": 14.2}
    assert q.memory_line == 6 and q.line == 7
    assert q.size_bytes == 4 * MIB  # both shards
    assert (g.speed_tps, g.strategy, g.kind, g.size_bytes) == (31.0, "B", "dense", None)
    assert {d: round(m / 1024, 1) for d, m in g.memory_mib.items()} == {"4090": 22.1, "5070Ti": 13.9}
    # the budget line above is a plan, not a measurement: the figures come from the VRAM line
    assert (glm.speed_tps, glm.strategy, glm.kind, glm.kind_source) == (11.8, "C", "MoE", "--n-cpu-moe")
    assert {d: round(m / 1024, 1) for d, m in glm.memory_mib.items()} == {"GPU0": 23.5, "GPU1": 15.8}
    # onboard's own test write-back: the measured lines, GPUs only, the predicted line ignored
    assert (llama.speed_tps, llama.strategy) == (88.0, "A")
    assert llama.memory_mib == {"CUDA0": 7800 + 512 + 310}
    # an estimated SPEED is never taken as measured; the machine lines at the top are nobody's memory
    assert mistral.speed_tps is None and mistral.memory_mib == {} and mistral.kind == "dense"


@pytest.mark.parametrize("text,expected", [
    ("24.5 t/s", 24.5), ("41.2 tok/s gen, 900 t/s prompt", 41.2), ("~24 t/s (estimated)", None),
    ("~30 t/s estimated", None), ("unknown (estimated speed not available)", None), ("80-90 t/s", None), ("", None),
])
def test_only_a_measured_speed_is_a_speed(text, expected):
    assert refs.measured_speed(text) == expected


def test_memory_formats_people_write_and_capacity_lines_are_not_usage():
    gb = lambda found: {d: round(m / 1024, 1) for d, m in found.items()}  # noqa: E731
    assert gb(refs.memory_in_line("GPU0 21.8 GB / GPU1 14.2 GB")) == {"GPU0": 21.8, "GPU1": 14.2}
    assert gb(refs.memory_in_line("4090: 22.1GB, 5070 Ti: 13.9GB")) == {"4090": 22.1, "5070Ti": 13.9}
    assert gb(refs.memory_in_line("VRAM: 23.5 GB / 15.8 GB")) == {"GPU0": 23.5, "GPU1": 15.8}
    assert refs.memory_in_line("CUDA1: 14000 MiB") == {"CUDA1": 14000.0}
    assert refs.memory_in_line("Hardware: RTX 4090 24GB + RTX 5070 Ti 16GB") == {}
    assert refs.memory_in_line("GPU0 ~21 GB") == {}  # an approximate figure is not a measurement
    assert refs.memory_in_line("ctx 32768, 8 threads") == {}


def test_a_moe_candidate_is_nearest_to_the_moe_profile_of_its_size(tmp_path):
    ctx = _repo(tmp_path, "qwen3moe")
    facts = _facts(ctx)
    assert facts.moe and facts.arch == "qwen3moe" and facts.size_bytes > 0
    _model_files(ctx.root, facts.size_bytes)
    near = refs.nearest(refs.tested_profiles(ctx.root), facts, n=5)
    # MoE by size (the split model of the same size before the one 16 times larger), then the profile
    # whose kind nothing states, then the dense ones (the plan's strategy first)
    assert [n.reference.id for n in near] == ["qwen3-30b", "glm-air", "llama-8b", "mistral-7b", "gemma3-27b"]
    assert near[0].why.startswith("same kind (MoE, from -ot expert rule), model ")
    assert near[1].why.startswith("same kind (MoE, from --n-cpu-moe), model ")
    assert near[2].why.startswith("kind not stated") and near[3].why.startswith("dense, not MoE")
    assert len(refs.nearest(refs.tested_profiles(ctx.root), facts)) == 3


def test_a_dense_candidate_is_nearest_to_dense_profiles_then_the_same_strategy(tmp_path):
    ctx = _repo(tmp_path, "llama")
    facts = _facts(ctx)
    assert not facts.moe and facts.strategy == "A"  # two large GPUs: the tiny model fits one
    _model_files(ctx.root, facts.size_bytes)
    near = refs.nearest(refs.tested_profiles(ctx.root), facts)
    # dense with unknown sizes: the one with the plan's strategy first, then the other dense one;
    # llama-8b's kind is not stated (no MoE flag, no word) so it comes after both
    assert [n.reference.id for n in near] == ["mistral-7b", "gemma3-27b", "llama-8b"]
    assert near[0].why.endswith("same strategy A") and "model size unknown" in near[0].why


def test_lessons_that_match_the_architecture_kind_and_flags_with_their_lines(tmp_path):
    ctx = _repo(tmp_path, "gemma3")
    facts = _facts(ctx)
    assert facts.swa and not facts.moe
    found = profile_lessons.pitfalls(ctx.root, refs.PlanFacts(arch="gemma3", swa=True, strategy="B",
                                                   args=("-ts", "3,2", "-fa", "on", "-ctk", "q8_0", "-ctv", "q8_0")))
    by_line = {p.line: p for p in found}
    assert sorted(by_line) == [8, 11, 15]
    file_lines = LESSONS.splitlines()
    assert all(file_lines[p.line - 1].lstrip("-1. ").startswith(p.text[:20]) for p in found)
    assert by_line[8].heading == "Gemma 3" and set(by_line[8].matched) == {"gemma3", "SWA"}
    assert by_line[11].heading == "Flash attention" and set(by_line[11].matched) == {"-fa", "-ctk/-ctv"}
    assert by_line[11].text == ("Always pass -fa on with a quantized KV cache (-ctk q8_0 -ctv q8_0), "
                                "llama-server refuses the pair otherwise.")
    assert by_line[15].matched == ("-ts",) and by_line[15].at == "docs/lessons_learned.md:15"
    # a MoE plan with expert rules gets the MoE lessons, not the Gemma ones
    moe = profile_lessons.pitfalls(ctx.root, refs.PlanFacts(arch="qwen3moe", moe=True, args=("-ot", "x=CPU")))
    assert [(p.line, p.matched) for p in moe] == [(4, ("MoE", "-ot")), (5, ("MoE",))]


def test_the_profile_phase_prints_and_stores_them(tmp_path):
    ctx = _repo(tmp_path, "qwen3moe")
    lines: list[str] = []
    ctx.echo = lines.append
    plan, _rig, header = make_plan(ctx)
    _model_files(ctx.root, refs.plan_facts(plan, header).size_bytes)
    show_references(ctx, plan, header)
    text = "\n".join(lines)
    assert lines[0] == "Your tested profiles nearest to this one:"
    assert lines[1].startswith("  [qwen3-30b] strategy C, 24.5 t/s, GPU0 21.8 GB, GPU1 14.2 GB (same kind (MoE")
    assert "Lessons from docs/lessons_learned.md that apply:" in lines
    assert "  docs/lessons_learned.md:4: MoE models: Keep attention and KV on the GPU" in text
    stored = ctx.facts_of("profile").references
    assert [n["id"] for n in stored["nearest"]] == ["qwen3-30b", "glm-air", "llama-8b"]
    assert stored["nearest"][0]["memory_gb"] == {"GPU0": 21.8, "GPU1": 14.2}
    assert stored["lessons"][0] == {"at": "docs/lessons_learned.md:4", "heading": "MoE models", "matched": ["MoE"]}


def test_a_template_repository_shows_nothing(tmp_path):
    template = (Path(__file__).resolve().parent.parent / "models.conf").read_text()
    ctx = _repo(tmp_path, "llama", conf=template, lessons=None)
    lines: list[str] = []
    ctx.echo = lines.append
    ctx.facts_of("profile").references = {"nearest": [], "lessons": []}  # from an earlier plan: forgotten
    plan, _rig, header = make_plan(ctx)
    show_references(ctx, plan, header)
    assert lines == [] and ctx.facts_of("profile").references is None


def test_an_unreadable_lessons_file_is_a_warning_naming_it(tmp_path):
    ctx = _repo(tmp_path, "llama", lessons=None)
    (ctx.root / "docs").mkdir()
    (ctx.root / "docs" / "lessons_learned.md").write_bytes(b"# Lessons\n- caf\xe9 dense\n")
    lines: list[str] = []
    ctx.echo = lines.append
    plan, _rig, header = make_plan(ctx)
    show_references(ctx, plan, header)
    assert lines[0] == "warning: lessons not shown: docs/lessons_learned.md: not valid UTF-8"
    assert "Your tested profiles nearest to this one:" in lines  # the profiles are still shown


def test_through_the_cli_the_plan_is_printed_with_them_and_status_json_has_them(tmp_path):
    from tests.hub_server import LocalHub
    from tests.workflow_repo import REPO_ID, hub_files, make_repo

    files = hub_files(tmp_path)
    with LocalHub({REPO_ID: files}) as hub:
        repo = make_repo(tmp_path, hub.url, files)
        (repo.root / "docs").mkdir()
        (repo.root / "docs" / "lessons_learned.md").write_text(
            "# Lessons\n\n## Llama\n- llama models: keep -fa on.\n\n## Other\n- nothing to see\n")
        repo.onboard("start", "tiny-llama", check=True)
        repo.onboard("advance", "tiny-llama", "--quant", "Q8_0", check=True)
        moved = repo.onboard("advance", "tiny-llama", "--download", check=True)
        status = repo.status("tiny-llama")
    out = moved.stdout
    assert "Your tested profiles nearest to this one:\n  [qwen-7b] strategy ?, 41.2 t/s, memory not recorded" in out
    assert "Lessons from docs/lessons_learned.md that apply:\n  docs/lessons_learned.md:4: Llama: llama models" in out
    assert "nothing to see" not in out
    stored = status["facts"]["profile"]["references"]
    assert [n["id"] for n in stored["nearest"]] == ["qwen-7b"] and stored["nearest"][0]["speed_tps"] == 41.2
    assert stored["lessons"] == [{"at": "docs/lessons_learned.md:4", "heading": "Llama", "matched": ["llama", "-fa"]}]


def test_a_speed_measured_in_a_comment_counts_when_speed_still_holds_the_estimate(tmp_path):
    (tmp_path / "models.conf").write_text(
        "# Strategy A\n# expected ~40 t/s\n# Tested: GPU0 9.1 GB, 36.5 t/s (2025-09-01)\n"
        "[phi]\nSPEED=~40 t/s (estimated)\n"
        "MODEL=models/phi.gguf\n\n# planned for ~50 t/s\n[mini]\nSPEED=~50 t/s (estimated)\nMODEL=models/mini.gguf\n")
    phi, mini = refs.tested_profiles(tmp_path)
    assert (phi.speed_tps, phi.memory_line, round(phi.memory_mib["GPU0"] / 1024, 1)) == (36.5, 3, 9.1)
    assert mini.speed_tps is None


@pytest.mark.parametrize("crlf_file", ["docs/gpu-strategy-guide.md", "docs/lessons_learned.md"])
def test_the_owners_repository_four_profiles_and_their_lessons(tmp_path, crlf_file):
    from tests.owner_repo import make_owner_repo

    root = make_owner_repo(tmp_path, crlf_file=crlf_file, git=False)
    found = {r.id: r for r in refs.tested_profiles(root)}
    assert list(found) == ["gpt-oss-120b", "qwen3-coder-30b", "glm-4.5-air", "qwen3-32b"]
    gb = {r.id: {d: round(m / 1024, 1) for d, m in r.memory_mib.items()} for r in found.values()}
    assert gb == {"gpt-oss-120b": {"GPU0": 21.8, "GPU1": 14.2}, "qwen3-coder-30b": {"GPU0": 21.6, "GPU1": 0.4},
                  "glm-4.5-air": {"GPU0": 22.9, "GPU1": 15.1}, "qwen3-32b": {"GPU0": 21.2, "GPU1": 13.9}}
    assert [(r.speed_tps, r.strategy, r.kind) for r in found.values()] == [
        (24.5, "C", "MoE"), (148.0, "A", "MoE"), (14.8, "C", "MoE"), (27.3, "B", "dense")]
    # a new dense model planned on the owner's rig, next to their files
    rig = Path(__file__).resolve().parent.parent / "rigs" / "reference-4090-5070ti.toml"
    (root / "rig.toml").write_text(rig.read_text())
    model = root / "models" / "Tiny-gemma3" / "F16" / "Tiny-gemma3-F16.gguf"
    model.parent.mkdir(parents=True)
    write_tiny_model(model, "gemma3")
    ctx = PhaseContext(name="tiny-gemma3", root=root, echo=(lines := []).append,
                       options={"quant": "F16"}, phase="profile",
                       facts_by_phase={"evaluate": {"repo": "test-org/Tiny-gemma3-GGUF",
                                                    "quant_listing": {"F16": {"files": [
                                                        {"path": model.name, "size": model.stat().st_size}]}}}})
    plan, _rig, header = make_plan(ctx)
    show_references(ctx, plan, header)
    assert lines[1].startswith("  [qwen3-32b] strategy B, 27.3 t/s, GPU0 21.2 GB, GPU1 13.9 GB (same kind (dense")
    lessons = (root / "docs" / "lessons_learned.md").read_text().splitlines()
    gemma = next(i for i, line in enumerate(lessons, 1) if line.startswith("Gemma 3 uses sliding window"))
    assert any(line.startswith(f"  docs/lessons_learned.md:{gemma}: Gemma 3: sliding window attention: ")
               and line.endswith("[gemma3, SWA]") for line in lines)
