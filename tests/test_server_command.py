"""The profile -> llama-server argv builder and the binary lookup.

What a person relies on: the command start.sh runs is exactly the profile (every key, EXTRA_ARGS
split like a shell would, a regex with backslashes intact), caller flags win over the profile, a
bad profile is refused naming the field, and the binary is found in the documented order.
"""
from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from onboard.llamacpp.errors import BadInput
from onboard.llamacpp.server_command import build_server_argv, find_llama_server
from onboard.store.models_conf import ModelsConf, join_extra_args

BIN = "/opt/llama/llama-server"


def test_minimal_profile_is_model_and_loopback_host() -> None:
    assert build_server_argv({"MODEL": "m.gguf"}, binary=BIN) == [BIN, "-m", "m.gguf", "--host", "127.0.0.1"]


def test_every_key_maps_to_its_flag_in_order(tmp_path: Path) -> None:
    profile = {
        "NAME": "Qwen3 30B", "DESCRIPTION": "MoE, experts on CPU", "SPEED": "~40 t/s (estimated)",
        "MODEL": "models/Qwen3-30B/Q4_K_M/qwen3.gguf", "CTX_SIZE": "16384", "N_GPU_LAYERS": "99", "FIT": "off",
        "EXTRA_ARGS": r"-fa on -ot 'blk\.(1[0-9])\.ffn_.*_exps=CPU' --temp 0.6",
    }
    argv = build_server_argv(profile, binary=BIN, port=8080, verbosity=4, root=tmp_path, extra=["--no-warmup"])
    assert argv == [
        BIN, "-m", str(tmp_path / "models/Qwen3-30B/Q4_K_M/qwen3.gguf"), "-c", "16384", "-ngl", "99",
        "-fit", "off", "-fa", "on", "-ot", r"blk\.(1[0-9])\.ffn_.*_exps=CPU", "--temp", "0.6",
        "--host", "127.0.0.1", "--port", "8080", "-lv", "4", "--no-warmup",
    ]


def test_absolute_model_ignores_root(tmp_path: Path) -> None:
    argv = build_server_argv({"MODEL": "/data/m.gguf"}, binary=BIN, root=tmp_path)
    assert argv[1:3] == ["-m", "/data/m.gguf"]


@pytest.mark.parametrize(("fit", "flag"), [("off", "off"), ("OFF", "off"), ("false", "off"), ("on", "on"),
                                           ("enabled", "on")])
def test_fit_values_follow_llamacpp_spellings(fit: str, flag: str) -> None:
    argv = build_server_argv({"MODEL": "m.gguf", "FIT": fit}, binary=BIN, host=None)
    assert argv == [BIN, "-m", "m.gguf", "-fit", flag]


@pytest.mark.parametrize("ngl", ["0", "99", "auto", "all"])
def test_gpu_layers_accepts_numbers_auto_all(ngl: str) -> None:
    assert build_server_argv({"MODEL": "m", "N_GPU_LAYERS": ngl}, binary=BIN, host=None)[3:] == ["-ngl", ngl]


def test_host_none_leaves_host_to_extra_args() -> None:
    argv = build_server_argv({"MODEL": "m", "EXTRA_ARGS": "--host 0.0.0.0"}, binary=BIN, host=None)
    assert argv == [BIN, "-m", "m", "--host", "0.0.0.0"]


def test_extra_args_from_a_real_models_conf_round_trip() -> None:
    """Text as a person writes it in models.conf -> the store's parser -> the exact tokens."""
    conf = ModelsConf.parse(
        "# my big model\n"
        "[glm-air]\n"
        "MODEL=models/GLM/UD-Q4_K_XL/GLM-4.5-Air-UD-Q4_K_XL-00001-of-00002.gguf\n"
        "EXTRA_ARGS=-ot 'blk\\.([0-9]|1[0-5])\\.ffn_.*=CUDA0' -ot \"exps=CPU\" --alias \"GLM Air\" "
        "--chat-template-kwargs '{\"enable_thinking\": false}'\n"
    )
    argv = build_server_argv(conf.section("glm-air").values, binary=BIN, host=None)
    assert argv[3:] == ["-ot", r"blk\.([0-9]|1[0-5])\.ffn_.*=CUDA0", "-ot", "exps=CPU", "--alias", "GLM Air",
                        "--chat-template-kwargs", '{"enable_thinking": false}']


_owned = {"-m", "--model", "-c", "--ctx-size", "-ngl", "--gpu-layers", "--n-gpu-layers", "-fit", "--fit"}
_args = st.lists(
    st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\n\r\x00"), min_size=1, max_size=12)
    .filter(lambda a: a.split("=", 1)[0] not in _owned),
    max_size=8,
)


@settings(max_examples=200, deadline=None)
@given(_args)
def test_any_argument_list_written_by_the_store_comes_back_exactly(args: list[str]) -> None:
    """join_extra_args (the writer) and the builder (the reader) agree on every argument list."""
    argv = build_server_argv({"MODEL": "m", "EXTRA_ARGS": join_extra_args(args)}, binary=BIN, host=None)
    assert argv[3:] == args


@pytest.mark.parametrize(
    ("profile", "field", "words"),
    [
        ({"NAME": "x"}, "MODEL", "no MODEL"),
        ({"MODEL": "  "}, "MODEL", "no MODEL"),
        ({"MODEL": "m", "CTX_SIZE": "16k"}, "CTX_SIZE", "'16k'"),
        ({"MODEL": "m", "CTX_SIZE": "-1"}, "CTX_SIZE", "'-1'"),
        ({"MODEL": "m", "N_GPU_LAYERS": "most"}, "N_GPU_LAYERS", "'most'"),
        ({"MODEL": "m", "FIT": "maybe"}, "FIT", "'maybe'"),
        ({"MODEL": "m", "EXTRA_ARGS": "-ot 'blk=CPU"}, "EXTRA_ARGS", "No closing quotation"),
        ({"MODEL": "m", "EXTRA_ARGS": "-fa on -m other.gguf"}, "EXTRA_ARGS", "-m belongs in MODEL"),
        ({"MODEL": "m", "EXTRA_ARGS": "--ctx-size=4096"}, "EXTRA_ARGS", "--ctx-size belongs in CTX_SIZE"),
    ],
)
def test_bad_profiles_are_refused_naming_the_field(profile: dict, field: str, words: str) -> None:
    with pytest.raises(BadInput) as err:
        build_server_argv(profile, binary=BIN)
    assert err.value.field == field
    assert str(err.value).startswith(f"{field}: ")
    assert words in str(err.value)


def _executable(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("#!/bin/sh\nexit 0\n")
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return path


def test_find_order_env_then_rig_then_path_then_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cached = _executable(tmp_path / "cache" / "llama.cpp" / "bin" / "llama-server")
    on_path = _executable(tmp_path / "pathdir" / "llama-server")
    rig = tmp_path / "rig.toml"
    rig.write_text('llama_server = "tools/llama-server"\n[[devices]]\nname = "CUDA0"\n')
    monkeypatch.setenv("ONBOARD_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("PATH", str(tmp_path / "pathdir"))
    monkeypatch.setenv("LLAMA_SERVER", "/somewhere/llama-server")

    assert find_llama_server(str(rig)) == "/somewhere/llama-server"
    monkeypatch.delenv("LLAMA_SERVER")
    assert find_llama_server(str(rig)) == str(tmp_path / "tools" / "llama-server")  # relative to the rig file
    assert find_llama_server(str(tmp_path / "no-such-rig.toml")) == str(on_path)
    assert find_llama_server(None) == str(on_path)
    on_path.unlink()
    assert find_llama_server(None) == str(cached)
    cached.chmod(0o644)  # not executable: not a candidate
    assert find_llama_server(None) is None


def test_find_reads_a_table_form_rig_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LLAMA_SERVER", raising=False)
    rig = tmp_path / "rig.toml"
    rig.write_text('[llama_server]\npath = "/opt/llama/bin/llama-server"\nbuild = 6000\n')
    assert find_llama_server(str(rig)) == "/opt/llama/bin/llama-server"


def test_find_names_a_broken_rig_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LLAMA_SERVER", raising=False)
    rig = tmp_path / "rig.toml"
    rig.write_text('llama_server = "unterminated\n')
    with pytest.raises(BadInput) as err:
        find_llama_server(str(rig))
    assert str(rig) in str(err.value)
    assert os.path.basename(str(rig)) in err.value.path
