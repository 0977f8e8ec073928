"""The bench profile: what `[bench-<id>]` holds, decided by the real planner on a real GGUF file
(tests/gguf_factory) and a declared rig, and what its guard rejects."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from onboard.phases import bench_pipeline as bp
from onboard.phases import bench_profile
from onboard.phases.contract import PhaseContext
from onboard.store.models_conf import ModelsConf, join_extra_args, split_extra_args
from tests.gguf_factory import write_tiny_model

REPO_ID = "test-org/Tiny-Llama-GGUF"
# one 450 MiB GPU: at context 32768 the KV cache crowds layers out, at 10240 all of them fit
RIG = """name = "one small GPU"
[[device]]
name = "Vulkan0"
backend = "Vulkan"
usable_mib = 450
total_mib = 450
bandwidth_gbs = 300
margin_mib = 16
[host]
ram_mib = 16384
bandwidth_gbs = 20
"""
CARD = """---
gguf_repo: {repo}
thinking: {thinking}
---
# Tiny Llama
A tiny model.
"""


def _repo(tmp_path: Path, *, thinking: bool) -> PhaseContext:
    root = tmp_path / "repo"
    model_dir = root / "models" / "Tiny-Llama" / "F16"
    model_dir.mkdir(parents=True)
    model = write_tiny_model(model_dir / "Tiny-Llama-F16.gguf", "llama", n_ctx_train=131072, n_layer=8, n_embd=512,
                             n_head=8, n_head_kv=8, default_type="F16")
    (root / "rig.toml").write_text(RIG)
    cards = root / "models" / "documentation" / "CANDIDATES"
    cards.mkdir(parents=True)
    (cards / "README_tiny-llama.md").write_text(CARD.format(repo=REPO_ID, thinking=str(thinking).lower()))
    evaluated = {"repo": REPO_ID,
                 "quant_listing": {"F16": {"files": [{"path": "Tiny-Llama-F16.gguf", "size": model.stat().st_size}]}}}
    ctx = PhaseContext(name="tiny-llama", root=root, options={"quant": "F16"}, facts_by_phase={"evaluate": evaluated},
                       phase="bench-profile", echo=lambda _s: None)
    # the production profile, as the profile phase plans it (context 32768), plus the samplers
    # phase's settings and a flag the person added
    from onboard.phases.profile import make_plan, profile_from_plan

    plan, rig, header = make_plan(ctx, ctx_size=32768)
    values, comments = profile_from_plan(ctx, plan, rig, header)
    values["EXTRA_ARGS"] = join_extra_args(split_extra_args(values["EXTRA_ARGS"]) +
                                           ["--temp", "0.6", "--top-p", "0.95", "--jinja"])
    (root / "models.conf").write_text(ModelsConf.parse("").with_section("tiny-llama", values, comments).text)
    return ctx


def _write_bench(ctx: PhaseContext, values: dict[str, str]) -> None:
    conf = ModelsConf.load(ctx.root / "models.conf").with_section("bench-tiny-llama", values, [])
    (ctx.root / "models.conf").write_text(conf.text)


def test_bench_profile_has_the_bench_settings_and_more_gpu_layers_than_production(tmp_path):
    ctx = _repo(tmp_path, thinking=False)
    production = ModelsConf.load(ctx.root / "models.conf").section("tiny-llama").values
    values, comments, facts = bench_profile.bench_values(ctx)
    args = split_extra_args(values["EXTRA_ARGS"])
    assert values["CTX_SIZE"] == "10240"
    assert args[args.index("-b") + 1] == "512" and args[args.index("-ub") + 1] == "512"
    # the smaller context frees memory: the planner puts every layer on the GPU, production could not
    assert int(values["N_GPU_LAYERS"]) > int(production["N_GPU_LAYERS"])
    assert values["N_GPU_LAYERS"] == "9" and facts["fits"]
    # no sampler settings; what serves the model the same way is kept
    assert not {"--temp", "--top-p"} & set(args)
    assert "--jinja" in args
    assert "--reasoning-format" not in args
    assert values["MODEL"] == production["MODEL"]
    assert any(f"production: -ngl {production['N_GPU_LAYERS']}" in c for c in comments)


def test_thinking_model_gets_reasoning_format_none(tmp_path):
    ctx = _repo(tmp_path, thinking=True)
    values, _comments, facts = bench_profile.bench_values(ctx)
    args = split_extra_args(values["EXTRA_ARGS"])
    assert facts["thinking"] is True
    assert args[args.index("--reasoning-format") + 1] == "none"
    # the candidate's own option wins over the card
    ctx.options["thinking"] = False
    values, _c, _f = bench_profile.bench_values(ctx)
    assert "--reasoning-format" not in split_extra_args(values["EXTRA_ARGS"])


def test_guard_accepts_the_written_profile_and_names_what_is_wrong(tmp_path):
    ctx = _repo(tmp_path, thinking=True)
    values, _comments, facts = bench_profile.bench_values(ctx)
    ctx.facts_of("bench-profile").plan = facts
    assert bench_profile._valid(ctx).passed is False  # not written yet
    _write_bench(ctx, values)
    result = bench_profile._valid(ctx)
    assert result.passed, result.reason
    broken = dict(values, CTX_SIZE="4096",
                  EXTRA_ARGS=join_extra_args([a for a in split_extra_args(values["EXTRA_ARGS"])
                                              if a not in ("--reasoning-format", "none")] + ["--temp", "0.7"]))
    _write_bench(ctx, broken)
    result = bench_profile._valid(ctx)
    assert not result.passed
    assert "CTX_SIZE is 4096" in result.reason and "--temp" in result.reason
    assert "--reasoning-format none" in result.reason


def test_pipeline_data_entries_keep_what_a_person_wrote(tmp_path):
    models = {"bench-other": {"display_name": "Other", "reference": {"humaneval_plus": 81.1, "source": "card"}}}
    models = bp.with_model(models, "bench-tiny-llama", "Tiny Llama")
    assert models["bench-other"]["reference"]["humaneval_plus"] == 81.1
    assert models["bench-tiny-llama"]["display_name"] == "Tiny Llama"
    models["bench-tiny-llama"]["display_name"] = "Tiny (my name)"
    assert bp.with_model(models, "bench-tiny-llama", "Tiny Llama")["bench-tiny-llama"]["display_name"] == "Tiny (my name)"
    client = bp.with_client({}, "bench-tiny-llama", thinking=True, system_prompt="You are a coder.")
    root = tmp_path
    (root / bp.PIPELINE_DIR).mkdir(parents=True)
    (root / bp.CLIENT_JSON).write_text(json.dumps(client))
    config = bp.client_config(root, "bench-tiny-llama")
    assert config.max_tokens == bp.THINKING_MAX_TOKENS and config.system_prompt == "You are a coder."
    assert bp.client_config(root, "bench-unknown").max_tokens == bp.DEFAULT_CLIENT["max_tokens"]


def test_bad_client_json_names_file_and_line(tmp_path):
    from onboard.llamacpp.errors import BadInput

    (tmp_path / bp.PIPELINE_DIR).mkdir(parents=True)
    (tmp_path / bp.CLIENT_JSON).write_text('{\n  "defaults": {\n    "max_tokens": 4096,\n  }\n}\n')
    with pytest.raises(BadInput) as err:
        bp.client_config(tmp_path, "bench-x")
    assert err.value.path == bp.CLIENT_JSON and err.value.line == 4


def test_a_base_model_gets_evalplus_own_completion_budget(tmp_path):
    """Code completion of a base model: EvalPlus's own budget (768 new tokens), not the chat budget a
    model that explains itself needs; client.json can still set its own."""
    root = tmp_path
    (root / "benchmarks" / "evalplus").mkdir(parents=True)
    client = {"defaults": {}, "profiles": {"bench-base": {"mode": "completion"}, "bench-chat": {},
                                           "bench-own": {"mode": "completion", "max_tokens": 300}}}
    (root / bp.CLIENT_JSON).write_text(json.dumps(client))
    assert bp.client_config(root, "bench-base").max_tokens == bp.COMPLETION_MAX_TOKENS == 768
    assert bp.client_config(root, "bench-base").mode == "completion"
    assert bp.client_config(root, "bench-chat").max_tokens == bp.DEFAULT_CLIENT["max_tokens"]
    assert bp.client_config(root, "bench-own").max_tokens == 300
    client["defaults"] = {"max_tokens": 64}  # a smaller general budget bounds the completion's too
    (root / bp.CLIENT_JSON).write_text(json.dumps(client))
    assert bp.client_config(root, "bench-base").max_tokens == 64
