"""`onboard serve` and `./start.sh`: the person's launcher prints and runs the builder's command.

The dry runs need no llama-server (the command is only printed); the run that really execs
llama-server is in test_launcher_real.py.
"""
from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from onboard.llamacpp.server_command import build_server_argv
from onboard.store.models_conf import ModelsConf
from onboard.workflow.cli import cli

REPO = Path(__file__).resolve().parent.parent

MODELS_CONF = """\
# Qwen3 for coding: experts 10-19 on the CPU
[qwen3-coder]
NAME=Qwen3 Coder 30B
MODEL=models/Qwen3-Coder-30B/Q4_K_M/qwen3-coder.gguf
CTX_SIZE=32768
N_GPU_LAYERS=99
FIT=off
EXTRA_ARGS=-fa on -ot 'blk\\.(1[0-9])\\.ffn_.*_exps=CPU' --alias "Qwen3 Coder" --temp 0.7

[gemma-small]
MODEL=/abs/gemma.gguf
"""


@pytest.fixture
def repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    (tmp_path / "models.conf").write_text(MODELS_CONF)
    monkeypatch.setenv("LLAMA_SERVER", "/opt/llama.cpp/bin/llama-server")
    monkeypatch.delenv("ONBOARD_ROOT", raising=False)
    monkeypatch.delenv("ONBOARD_RIG", raising=False)
    return tmp_path


def _expected(root: Path, profile_id: str, **kw) -> str:
    values = ModelsConf.parse(MODELS_CONF).section(profile_id).values
    return shlex.join(build_server_argv(values, binary="/opt/llama.cpp/bin/llama-server", root=root, **kw))


def test_dry_run_prints_the_builders_command(repo: Path) -> None:
    result = CliRunner().invoke(cli, ["--root", str(repo), "serve", "qwen3-coder", "--dry-run", "--port", "8081"])
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == _expected(repo, "qwen3-coder", port=8081)
    # and the printed text is a shell-correct spelling of the argv (the regex survives a shell)
    assert shlex.split(result.stdout)[11:15] == ["-ot", r"blk\.(1[0-9])\.ffn_.*_exps=CPU", "--alias", "Qwen3 Coder"]


def test_root_is_found_by_walking_up_from_the_current_directory(repo: Path, monkeypatch) -> None:
    sub = repo / "docs" / "deep"
    sub.mkdir(parents=True)
    monkeypatch.chdir(sub)
    result = CliRunner().invoke(cli, ["serve", "gemma-small", "--dry-run"])
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == _expected(repo, "gemma-small")


def test_unknown_profile_exits_6_with_close_matches(repo: Path) -> None:
    result = CliRunner().invoke(cli, ["--root", str(repo), "serve", "qwen3-codr", "--dry-run"])
    assert result.exit_code == 6
    assert f"{repo / 'models.conf'}: no profile [qwen3-codr]" in result.stderr
    assert "did you mean qwen3-coder?" in result.stderr


def test_bad_profile_value_names_file_line_and_field(repo: Path) -> None:
    (repo / "models.conf").write_text(MODELS_CONF.replace("CTX_SIZE=32768", "CTX_SIZE=32k"))
    result = CliRunner().invoke(cli, ["--root", str(repo), "serve", "qwen3-coder", "--dry-run"])
    assert result.exit_code == 6
    assert f"{repo / 'models.conf'}:5: [qwen3-coder] CTX_SIZE: '32k' is not a number of tokens" in result.stderr


def test_missing_model_file_is_refused_before_exec(repo: Path) -> None:
    result = CliRunner().invoke(cli, ["--root", str(repo), "serve", "qwen3-coder"])
    assert result.exit_code == 6
    assert f"models.conf:4: [qwen3-coder] MODEL: {repo / 'models/Qwen3-Coder-30B/Q4_K_M/qwen3-coder.gguf'} " \
           f"does not exist" in result.stderr


def test_no_models_conf_anywhere_exits_6(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.delenv("ONBOARD_ROOT", raising=False)
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(cli, ["serve", "x", "--dry-run"])
    assert result.exit_code == 6 and "no models.conf in" in result.stderr and "--root" in result.stderr


def _onboard_on_path(tmp_path: Path) -> dict[str, str]:
    """PATH holding an `onboard` that runs this checkout's CLI with this interpreter."""
    bindir = tmp_path / "bin"
    bindir.mkdir()
    exe = bindir / "onboard"
    exe.write_text(f"#!{sys.executable}\nimport sys\nsys.path.insert(0, {str(REPO)!r})\n"
                   "from onboard.workflow.cli import main\nmain()\n")
    exe.chmod(0o755)
    return {**os.environ, "PATH": f"{bindir}{os.pathsep}{os.environ['PATH']}"}


def test_start_sh_dry_run_prints_the_same_command(repo: Path) -> None:
    shutil.copy2(REPO / "start.sh", repo / "start.sh")  # start.sh serves the repository it lives in
    env = _onboard_on_path(repo)
    done = subprocess.run([str(repo / "start.sh"), "qwen3-coder", "--dry-run"], cwd="/", env=env,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == _expected(repo, "qwen3-coder")


def test_start_sh_without_profile_prints_usage(repo: Path) -> None:
    done = subprocess.run(["bash", str(REPO / "start.sh")], capture_output=True, text=True, timeout=30)
    assert done.returncode == 2 and done.stderr.startswith("usage: ./start.sh <profile-id>")


def test_one_profile_with_an_unbalanced_quote_does_not_stop_the_others(tmp_path):
    """serve splits only the profile it starts: a person's typo in another section is named when that
    profile is started, never when a good one is."""
    import subprocess
    import sys

    (tmp_path / "models.conf").write_text("[good]\nNAME=g\nMODEL=m.gguf\nEXTRA_ARGS=-fa on\n\n"
                                          "[typo]\nNAME=t\nMODEL=m.gguf\nEXTRA_ARGS=-fa 'on\n")
    repo = Path(__file__).resolve().parent.parent

    def serve(profile: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "onboard.workflow.cli", "--root", str(tmp_path), "serve", profile,
                               "--dry-run"], capture_output=True, text=True, cwd=repo, timeout=60)

    good = serve("good")
    assert good.returncode == 0 and "-fa on" in good.stdout, good.stderr
    typo = serve("typo")
    assert typo.returncode == 6 and "models.conf:9: [typo] EXTRA_ARGS" in typo.stderr and "quot" in typo.stderr
