"""Scoring with EvalPlus's own sanitize and evaluate (real EvalPlus, in subprocesses, offline through
HUMANEVAL_OVERRIDE_PATH), on answers written here whose verdicts are known: pass@1 is read from
EvalPlus's output, a leading <think> block does not count as the answer, bad datasets name file:line."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from onboard.llamacpp import evalplus_run as er
from onboard.llamacpp.errors import BadInput

DATASET = Path(__file__).resolve().parent / "fixtures" / "humaneval_tiny.jsonl"
ANSWERS = [
    "Here you go:\n```python\ndef add_numbers(a, b):\n    return a + b\n```\nDone.",  # right
    # right, after a thinking block that drafted a wrong function
    "<think>\nFirst try:\n```python\ndef is_even(n):\n    return True\n```\nno, wrong.\n</think>\n"
    "```python\ndef is_even(n: int) -> bool:\n    return n % 2 == 0\n```",
    "```python\ndef reverse_words(text):\n    return text[::-1]\n```",  # wrong
    # right on the base tests, wrong on the extra ones (only lower-case vowels)
    "```python\ndef count_vowels(word):\n    return sum(1 for c in word if c in 'aeiou')\n```",
]


def _require_evalplus() -> None:
    if subprocess.run([sys.executable, "-c", "import evalplus.evaluate"], capture_output=True).returncode:
        msg = "evalplus not installed: bash scripts/install-bench.sh"
        if os.environ.get("CI"):
            pytest.fail(msg)
        pytest.skip(msg)


def test_pass_at_1_comes_from_evalplus_and_thinking_is_not_the_answer(tmp_path):
    _require_evalplus()
    tasks = er.load_tasks(DATASET)
    samples = tmp_path / "samples.jsonl"
    samples.write_text("".join(json.dumps({"task_id": t["task_id"], "solution": er.without_thinking(a)}) + "\n"
                               for t, a in zip(tasks, ANSWERS)))
    score = er.score(samples, "humaneval", DATASET, cache_dir=tmp_path / "cache")
    # base: add, is_even, count_vowels ('banana', 'SKY' and '' have no upper-case vowels); plus: add, is_even
    assert (score.base_pass1, score.plus_pass1) == (0.75, 0.5)
    verdicts = json.loads(score.results_path.read_text())["eval"]
    assert verdicts["Onboard/3"][0]["base_status"] == "pass" and verdicts["Onboard/3"][0]["plus_status"] == "fail"
    assert "pass@1" in score.output


def test_quick_subset_is_a_dataset_evalplus_accepts(tmp_path):
    _require_evalplus()
    tasks = er.load_tasks(DATASET)
    subset = er.write_subset(tasks, 2, tmp_path / "first2.jsonl")
    samples = tmp_path / "samples.jsonl"
    samples.write_text("".join(json.dumps({"task_id": t["task_id"], "solution": er.without_thinking(a)}) + "\n"
                               for t, a in zip(tasks[:2], ANSWERS)))
    score = er.score(samples, "humaneval", subset, cache_dir=tmp_path / "cache")
    assert score.base_pass1 == 1.0 and len(json.loads(score.results_path.read_text())["eval"]) == 2


def test_messages_are_evalplus_s_with_the_model_s_system_prompt():
    task = er.load_tasks(DATASET)[0]
    plain = er.chat_message(task, er.ClientConfig())
    assert plain == [{"role": "user", "content": er.INSTRUCTION_PREFIX + "\n```python\n" + task["prompt"].strip() + "\n```"}]
    with_system = er.chat_message(task, er.ClientConfig(system_prompt="You are a careful programmer."))
    assert with_system[0] == {"role": "system", "content": "You are a careful programmer."}


def test_bad_dataset_names_file_and_line(tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps({"task_id": "a", "prompt": "x", "entry_point": "f"}) + "\n{not json\n")
    with pytest.raises(BadInput) as err:
        er.load_tasks(bad)
    assert err.value.line == 2 and err.value.path == str(bad)
    bad.write_text(json.dumps({"task_id": "a", "prompt": "x"}) + "\n")
    with pytest.raises(BadInput, match="entry_point"):
        er.load_tasks(bad)
