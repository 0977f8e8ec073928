"""`onboard export`: models.conf profiles as a llama-server router preset and as a llama-swap config,
without a server. The option names come from build 11434's real `llama-server --help` output
(fixtures/llama-server-logs/b11434-help.txt); the preset is read back the way llama.cpp's
common/preset.cpp reads it, and the llama-swap file with a YAML parser and POSIX word splitting, as
llama-swap does. tests/test_export_router_real.py serves the preset with the real router.
"""
from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from onboard.llamacpp.errors import BadInput
from onboard.llamacpp.presets import parse_help, preset_section, render_llama_swap, render_preset, swap_model, yaml_string
from onboard.llamacpp.server_command import build_server_argv
from onboard.store.models_conf import ModelsConf
from onboard.workflow.cli import cli

HELP = Path(__file__).parent / "fixtures" / "llama-server-logs" / "b11434-help.txt"
BINARY = "/opt/llama.cpp/bin/llama-server"

MODELS_CONF = """\
# the rig's profiles
# Tested: 38 t/s
[qwen3-coder]
NAME=Qwen3 Coder 30B (Q4_K_M)
DESCRIPTION=Coding model, experts of layers 10-19 on CPU
SPEED=38 t/s
MODEL=models/Qwen3-Coder/Q4_K_M/qwen3-coder.gguf
CTX_SIZE=32768
N_GPU_LAYERS=99
FIT=off
EXTRA_ARGS=-fa on -ts 24,16 -ot 'blk\\.(1[0-9])\\.ffn_.*_exps\\.=CPU' -ot 'exps=CUDA1' -ctk q8_0 -ctv q8_0 --temp 0.7 --top-p 0.8 --jinja --no-warmup -nkvo --alias coder --host 0.0.0.0 --port 8081

[gemma]
MODEL=/abs/gemma.gguf
CTX_SIZE=4096
N_GPU_LAYERS=auto

[bench-qwen3-coder]
MODEL=models/Qwen3-Coder/Q4_K_M/qwen3-coder.gguf
CTX_SIZE=10240
EXTRA_ARGS=-fa on -b 512 -ub 512
"""


@pytest.fixture
def repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    (tmp_path / "models.conf").write_text(MODELS_CONF)
    monkeypatch.setenv("LLAMA_SERVER", BINARY)  # named, never run: the help text comes from --server-help
    for var in ("ONBOARD_ROOT", "ONBOARD_RIG"):
        monkeypatch.delenv(var, raising=False)
    return tmp_path


def export(repo: Path, *args: str):
    return CliRunner().invoke(cli, ["--root", str(repo), "export", *args])


def preset(repo: Path, *args: str):
    return export(repo, "--format", "llama-server-preset", "--server-help", str(HELP), *args)


def read_ini(text: str) -> dict[str, dict[str, str]]:
    """The sections and values llama.cpp's INI reader (common/preset.cpp, parse_ini_from_file) gets:
    ``;``/``#`` start a comment anywhere, blanks around keys and values are dropped, a repeated key
    keeps its last value; keys before any section belong to "default"."""
    sections: dict[str, dict[str, str]] = {"default": {}}
    current = "default"
    for line in text.splitlines():
        stripped = line.strip(" \t")
        if not stripped or stripped[0] in ";#":
            continue
        header = re.fullmatch(r"\[[ \t]*([^]]*?)[ \t]*\][ \t]*(?:[;#].*)?", stripped)
        if header:
            current = header[1]
            sections[current] = {}
            continue
        kv = re.fullmatch(r"([A-Za-z_][A-Za-z0-9_.-]*)[ \t]*=[ \t]*([^;#\r\n]*?)[ \t]*(?:[;#].*)?", stripped)
        assert kv, f"llama.cpp's reader rejects the line {line!r}"
        sections[current][kv[1]] = kv[2]
    return sections


# -- reading `llama-server --help` -----------------------------------------------------------------

def test_help_gives_long_names_values_and_negations() -> None:
    options = parse_help(HELP.read_text())
    expect = {  # spelling: (preset key, values)
        "-c": ("ctx-size", 1), "-ngl": ("n-gpu-layers", 1), "-ts": ("tensor-split", 1),
        "-ot": ("override-tensor", 1), "-fa": ("flash-attn", 1), "-ctk": ("cache-type-k", 1),
        "--n-cpu-moe": ("n-cpu-moe", 1), "--cpu-moe": ("cpu-moe", 0), "--jinja": ("jinja", 0),
        "--no-jinja": ("no-jinja", 0), "-nkvo": ("no-kv-offload", 0), "-kvo": ("kv-offload", 0),
        "--no-warmup": ("no-warmup", 0), "-fit": ("fit", 1), "--swa-full": ("swa-full", 0),
        "--control-vector-layer-range": ("control-vector-layer-range", 2), "--ctx_size": ("ctx-size", 1),
    }
    got = {s: (options.lookup(s).key(options.canonical(s)), options.lookup(s).n_values) for s in expect}
    assert got == expect
    assert options.lookup("--no-mmap") is None  # build 11434 replaced it with --load-mode
    assert {"models-preset", "override-tensor", "n-gpu-layers", "no-kv-offload"} <= options.long_names()


# -- the router preset -------------------------------------------------------------------------------

def test_one_section_per_production_profile_with_llama_servers_own_keys(repo: Path) -> None:
    result = preset(repo)
    assert result.exit_code == 0, result.output
    ini = read_ini(result.stdout)
    assert list(ini) == ["default", "qwen3-coder", "gemma"]  # bench-* left out
    assert ini["default"] == {"version": "1"}
    assert ini["qwen3-coder"] == {
        "model": str(repo / "models/Qwen3-Coder/Q4_K_M/qwen3-coder.gguf"),  # absolute, from the repository
        "ctx-size": "32768",
        "n-gpu-layers": "99",
        "fit": "off",
        "flash-attn": "on",
        "tensor-split": "24,16",
        "override-tensor": r"blk\.(1[0-9])\.ffn_.*_exps\.=CPU,exps=CUDA1",  # both rules, in order
        "cache-type-k": "q8_0",
        "cache-type-v": "q8_0",
        "temperature": "0.7",
        "top-p": "0.8",
        "jinja": "true",
        "no-warmup": "true",
        "no-kv-offload": "true",
        "alias": "coder",
    }
    assert ini["gemma"] == {"model": "/abs/gemma.gguf", "ctx-size": "4096", "n-gpu-layers": "auto"}


def test_host_and_port_are_left_out_with_a_comment_and_the_name_is_kept(repo: Path) -> None:
    text = preset(repo).stdout
    section = text[text.index("[qwen3-coder]"):text.index("[gemma]")]
    assert "; --host 0.0.0.0 left out: the router starts each model on its own local port" in section
    assert "; --port 8081 left out" in section
    above = text[:text.index("[qwen3-coder]")].splitlines()[-3:]
    assert above == ["; Qwen3 Coder 30B (Q4_K_M)", "; Coding model, experts of layers 10-19 on CPU",
                     "; speed: 38 t/s"]


def test_include_bench_exports_the_bench_profiles_too(repo: Path) -> None:
    ini = read_ini(preset(repo, "--include-bench").stdout)
    assert list(ini) == ["default", "qwen3-coder", "gemma", "bench-qwen3-coder"]
    assert ini["bench-qwen3-coder"]["batch-size"] == "512" and ini["bench-qwen3-coder"]["ubatch-size"] == "512"


def test_output_file_is_written_whole_and_replaced(repo: Path) -> None:
    target = repo / "serve" / "models.ini"
    target.parent.mkdir()
    target.write_text("old\n")
    result = preset(repo, "-o", str(target))
    assert result.exit_code == 0, result.output
    assert target.read_text() == preset(repo).stdout
    assert "wrote" in result.stderr and "2 profile(s) (qwen3-coder, gemma)" in result.stderr
    assert not [p for p in target.parent.iterdir() if p.name != "models.ini"]  # no temp file left


def _conf_with(repo: Path, extra_args: str) -> None:
    (repo / "models.conf").write_text(f"# header\n[solo]\nMODEL=m.gguf\nEXTRA_ARGS={extra_args}\n")


@pytest.mark.parametrize("extra_args, words", [
    ("-ot 'blk\\.1;x=CPU'", ["-ot", "override-tensor", "';'", "comment"]),
    ("-ot 'blk\\.[#]=CPU'", ["-ot", "override-tensor", "'#'"]),
    ("--chat-template-kwargs ' {\"a\": 1}'", ["--chat-template-kwargs", "chat-template-kwargs", "blank"]),
    ("--frobnicate 3", ["'--frobnicate' is not an option of this llama-server"]),
    ("--control-vector-layer-range 1 4", ["--control-vector-layer-range takes 2 values"]),
    ("--temp 0.7 --temperature 0.6", ["--temp and --temperature", "'temperature'", "one value per option"]),
    ("--jinja --no-jinja", ["--jinja and --no-jinja"]),
    ("-t", ["-t has no value"]),
    ("stray", ["'stray' is not an option"]),
])
def test_what_a_preset_cannot_hold_is_refused_naming_profile_line_and_key(repo: Path, extra_args: str,
                                                                         words: list[str]) -> None:
    _conf_with(repo, extra_args)
    result = preset(repo)
    assert result.exit_code == 6, result.output
    first = result.stderr.splitlines()[0]  # the error, before any note
    assert first.startswith(f"error: {repo / 'models.conf'}:4: EXTRA_ARGS: [solo] "), first
    for word in words:
        assert word in result.stderr
    assert result.stdout == ""


def test_a_bad_ctx_size_is_refused_at_its_own_line(repo: Path) -> None:
    (repo / "models.conf").write_text("[solo]\nMODEL=m.gguf\nCTX_SIZE=lots\n")
    result = preset(repo)
    assert result.exit_code == 6
    assert f"{repo / 'models.conf'}:3: CTX_SIZE: [solo] 'lots' is not a number of tokens" in result.stderr


def test_same_value_twice_is_written_once(repo: Path) -> None:
    _conf_with(repo, "--temp 0.7 --temp 0.7 -t 4")
    ini = read_ini(preset(repo).stdout)
    assert ini["solo"]["temperature"] == "0.7" and ini["solo"]["threads"] == "4"


def test_placement_options_in_the_routers_order_stay_as_they_are(repo: Path) -> None:
    _conf_with(repo, "--n-cpu-moe 2 -ot 'exps=CUDA0'")
    ini = read_ini(preset(repo).stdout)
    assert ini["solo"]["n-cpu-moe"] == "2" and ini["solo"]["override-tensor"] == "exps=CUDA0"


def test_n_cpu_moe_after_ot_rules_becomes_explicit_rules_in_the_profiles_order(repo: Path) -> None:
    """On the command line -ot rules come first and the first matching rule wins; the router applies
    --n-cpu-moe before --override-tensor, so the export spells --n-cpu-moe out as the rules it adds."""
    _conf_with(repo, "-ot 'blk\\.1\\.ffn_.*_exps=CUDA0' --n-cpu-moe 2 --cpu-moe")
    text = preset(repo).stdout
    ini = read_ini(text)
    assert "n-cpu-moe" not in ini["solo"] and "cpu-moe" not in ini["solo"]
    assert ini["solo"]["override-tensor"].split(",") == [
        r"blk\.1\.ffn_.*_exps=CUDA0",
        r"blk\.0\.ffn_(up|down|gate|gate_up)_(ch|)exps=CPU",
        r"blk\.1\.ffn_(up|down|gate|gate_up)_(ch|)exps=CPU",
        r"\.ffn_(up|down|gate|gate_up)_(ch|)exps=CPU",
    ]
    assert "written as override-tensor rules in the profile's order" in text


def test_router_owned_options_are_comments_not_keys() -> None:
    options = parse_help(HELP.read_text())
    section = preset_section("p", ["llama-server", "-m", "/m.gguf", "--api-key", "k", "--models-max", "2"], options)
    assert section.keys == [("model", "/m.gguf")]
    assert [n.split(" left out")[0] for n in section.notes] == ["--api-key k", "--models-max 2"]
    assert render_preset([section]).count("\n[p]\nmodel = /m.gguf\n; --api-key k left out") == 1


def test_no_server_and_no_saved_help_is_an_external_failure(repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LLAMA_SERVER", str(repo / "missing-llama-server"))
    result = export(repo, "--format", "llama-server-preset")
    assert result.exit_code == 8
    assert "cannot run" in result.stderr and "--server-help FILE" in result.stderr


def test_a_server_without_router_mode_is_refused(repo: Path) -> None:
    old = repo / "old-help.txt"
    old.write_text("".join(line + "\n" for line in HELP.read_text().splitlines() if "models-" not in line))
    result = export(repo, "--format", "llama-server-preset", "--server-help", str(old))
    assert result.exit_code == 8 and "has no router mode" in result.stderr


def test_no_production_profile_is_bad_input(repo: Path) -> None:
    (repo / "models.conf").write_text("[bench-x]\nMODEL=m.gguf\n")
    result = preset(repo)
    assert result.exit_code == 6 and "no production profiles" in result.stderr


# -- llama-swap ---------------------------------------------------------------------------------------

def test_llama_swap_cmd_splits_back_to_the_builders_argv(repo: Path) -> None:
    result = export(repo, "--format", "llama-swap", "--ttl", "300")
    assert result.exit_code == 0, result.output
    config = yaml.safe_load(result.stdout)
    assert list(config["models"]) == ["qwen3-coder", "gemma"]
    conf = ModelsConf.load(repo / "models.conf")
    for profile_id, model in config["models"].items():
        # llama-swap: drop comment lines, substitute ${PORT}, split with POSIX shell rules
        cmd = "\n".join(line for line in model["cmd"].splitlines() if not line.strip().startswith("#"))
        argv = shlex.split(cmd.replace("${PORT}", "5800"))
        built = build_server_argv(conf.section(profile_id).values, binary=BINARY, host=None, root=repo)
        without_host_port = [a for i, a in enumerate(built) if a not in ("--host", "--port")
                             and built[i - 1] not in ("--host", "--port")]
        assert argv == without_host_port + ["--host", "127.0.0.1", "--port", "5800"]
        assert model["proxy"] == "http://127.0.0.1:${PORT}" and model["ttl"] == 300
    coder = config["models"]["qwen3-coder"]
    assert coder["aliases"] == ["coder"]
    assert coder["name"] == "Qwen3 Coder 30B (Q4_K_M)"
    assert r"-ot 'blk\.(1[0-9])\.ffn_.*_exps\.=CPU'" in coder["cmd"].splitlines()
    assert "# --port 8081 left out" in result.stdout


def test_llama_swap_refuses_an_argument_it_would_read_as_a_macro(repo: Path) -> None:
    _conf_with(repo, "--chat-template-kwargs '{\"x\": \"${HOME}\"}'")
    result = export(repo, "--format", "llama-swap")
    assert result.exit_code == 6
    assert f"{repo / 'models.conf'}:4: EXTRA_ARGS: [solo]" in result.stderr and "macro" in result.stderr


@pytest.mark.parametrize("text", ["plain", 'quote " and \\ back', "dollar ${env.HOME} $x", "tab\tand\u0085",
                                  "ünïcode ✓ 🚀", "\x7f\x01", "null", "- not a list", "#"])
def test_yaml_strings_read_back_exactly_and_hold_no_macro(text: str) -> None:
    written = yaml_string(text)
    assert yaml.safe_load(f"k: {written}") == {"k": text}
    assert "${" not in written


def test_swap_model_keeps_the_flag_values_on_their_lines() -> None:
    text = render_llama_swap([swap_model("p", [BINARY, "-m", "/m m.gguf", "--seed", "-1", "-ot", "#odd=CPU"], {})])
    lines = text.splitlines()
    start, end = lines.index("    cmd: |") + 1, lines.index('    proxy: "http://127.0.0.1:${PORT}"')
    cmd = [line.strip() for line in lines[start:end]]
    # a negative number stays with its option; an argument starting with '#' is quoted, so that
    # llama-swap does not take its line for a comment
    assert cmd == [BINARY, "-m '/m m.gguf'", "--seed -1", "-ot '#odd=CPU'", "--host 127.0.0.1", "--port ${PORT}"]


def test_bad_input_names_the_field_for_the_line_lookup() -> None:
    with pytest.raises(BadInput) as err:
        preset_section("p", ["llama-server", "-m", "/m.gguf", "-c", "1", "--nope"], parse_help(HELP.read_text()))
    assert err.value.field == "EXTRA_ARGS"


@pytest.mark.parametrize("fmt", ["llama-server-preset", "llama-swap"])
def test_an_alias_that_names_another_profile_is_refused(repo: Path, fmt: str) -> None:
    (repo / "models.conf").write_text("[a]\nMODEL=a.gguf\nEXTRA_ARGS=--alias x\n\n[b]\nMODEL=b.gguf\n"
                                      "EXTRA_ARGS=--alias 'y, a'\n")
    result = export(repo, "--format", fmt, "--server-help", str(HELP))
    assert result.exit_code == 6
    assert f"{repo / 'models.conf'}:7: EXTRA_ARGS: [b] alias 'a' is also the profile [a]" in result.stderr
