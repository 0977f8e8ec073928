"""`onboard samplers` as a person runs it: a real process (`python -m onboard.workflow.cli`), real files."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.samplers_gguf import write_sampling_gguf

REPO = Path(__file__).resolve().parent.parent
CARDS = REPO / "tests" / "fixtures" / "cards"
GENCONF = REPO / "tests" / "fixtures" / "generation_configs"


def onboard(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "onboard.workflow.cli", "samplers", *map(str, args)],
                          cwd=REPO, capture_output=True, text=True, timeout=120)


def test_json_is_the_contract() -> None:
    run = onboard(CARDS / "qwen3-4b.md", "--json")
    assert run.returncode == 0, run.stderr
    got = json.loads(run.stdout)
    assert list(got) == ["recommended", "modes", "sources", "system_prompt", "thinking_model", "notes"]
    assert got["recommended"] == {"temperature": 0.6, "top_p": 0.95, "top_k": 20, "min_p": 0.0,
                                  "repeat_penalty": None, "presence_penalty": None}
    assert got["modes"]["non_thinking"]["temperature"] == 0.7
    assert got["sources"]["temperature"] == "card: Best Practices"
    assert got["system_prompt"] is None and got["thinking_model"] is True


def test_human_output_table_modes_prompt_thinking() -> None:
    run = onboard(CARDS / "mistral-small-24b-2501.md")
    assert run.returncode == 0, run.stderr
    lines = run.stdout.splitlines()
    assert any(line.split()[:3] == ["temperature", "0.15", "card:"] and line.endswith("vLLM") for line in lines)
    assert any(line.split() == ["top_k", "-"] for line in lines)
    assert "System prompt the card asks for:" in run.stdout
    assert "  | You are Mistral Small 3, a Large Language Model (LLM) created by Mistral AI" in run.stdout
    assert "Thinking model: no" in run.stdout
    assert "llama-server arguments: --temp 0.15" in run.stdout


def test_human_output_lists_modes() -> None:
    run = onboard(CARDS / "qwen3-4b.md")
    assert "  thinking: temperature=0.6, top_p=0.95, top_k=20, min_p=0" in run.stdout
    assert "  non_thinking: temperature=0.7, top_p=0.8, top_k=20, min_p=0" in run.stdout


def test_nothing_found_says_defaults_apply() -> None:
    run = onboard(CARDS / "glm-4.5.md")
    assert run.returncode == 0
    assert "No recommended sampler settings found" in run.stdout
    assert "llama-server arguments" not in run.stdout


def test_generation_config_and_gguf_sources(tmp_path: Path) -> None:
    model = write_sampling_gguf(tmp_path / "model.gguf", temp=1.0, min_p=0.05)
    run = onboard(CARDS / "llama-3.1-8b-instruct.md", "--gguf", model,
                  "--generation-config", GENCONF / "llama-3.1-8b-instruct.json", "--json")
    assert run.returncode == 0, run.stderr
    got = json.loads(run.stdout)
    assert got["recommended"]["temperature"] == 0.6
    assert got["recommended"]["min_p"] == 0.05
    assert got["sources"]["temperature"] == "generation_config.json (differs: gguf general.sampling.temp = 1)"
    assert got["sources"]["min_p"] == "gguf general.sampling.min_p"


def test_missing_card_exits_6_naming_it(tmp_path: Path) -> None:
    missing = tmp_path / "README_nothing.md"
    run = onboard(missing)
    assert run.returncode == 6
    assert str(missing) in run.stderr and "not found" in run.stderr
    assert "Traceback" not in run.stderr


def test_bad_json_exits_6_with_file_and_line(tmp_path: Path) -> None:
    bad = tmp_path / "generation_config.json"
    bad.write_text('{\n  "temperature": 0.6,\n  "top_p": ,\n}\n')
    run = onboard(CARDS / "qwen3-4b.md", "--generation-config", bad)
    assert run.returncode == 6
    assert f"{bad}:3:" in run.stderr
    assert "Traceback" not in run.stderr


def test_generation_config_not_an_object_exits_6(tmp_path: Path) -> None:
    bad = tmp_path / "generation_config.json"
    bad.write_text("[0.6, 0.95]\n")
    run = onboard(CARDS / "qwen3-4b.md", "--generation-config", bad)
    assert run.returncode == 6 and str(bad) in run.stderr


def test_missing_or_damaged_gguf_exits_6_naming_it(tmp_path: Path) -> None:
    missing = tmp_path / "none.gguf"
    run = onboard(CARDS / "qwen3-4b.md", "--gguf", missing)
    assert run.returncode == 6 and str(missing) in run.stderr
    damaged = tmp_path / "damaged.gguf"
    damaged.write_bytes(write_sampling_gguf(tmp_path / "ok.gguf", temp=0.7).read_bytes()[:40])
    run = onboard(CARDS / "qwen3-4b.md", "--gguf", damaged)
    assert run.returncode == 6 and str(damaged) in run.stderr
    assert "Traceback" not in run.stderr
