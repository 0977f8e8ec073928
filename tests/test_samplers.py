"""Sampler extraction on real model cards (tests/fixtures/cards, each naming its source).

Every expected value below was written by hand from reading the card text, never produced by
running the extractor: a key the card does not give is None, a range is None.
"""
from __future__ import annotations

import json
from pathlib import Path

import gguf
import pytest
from hypothesis import given, settings, strategies as st

from onboard.llamacpp.gguf_header import read_header
from onboard.llamacpp.samplers import GGUF_KEYS, KEYS, VALID_RANGE, extract_samplers, to_llama_args
from tests.samplers_gguf import write_sampling_gguf

CARDS = Path(__file__).parent / "fixtures" / "cards"
GENCONF = Path(__file__).parent / "fixtures" / "generation_configs"


def card(name: str) -> str:
    return (CARDS / name).read_text(encoding="utf-8")


def genconf(name: str) -> dict:
    return json.loads((GENCONF / name).read_text(encoding="utf-8"))


def vals(temperature=None, top_p=None, top_k=None, min_p=None, repeat_penalty=None, presence_penalty=None) -> dict:
    return {"temperature": temperature, "top_p": top_p, "top_k": top_k, "min_p": min_p,
            "repeat_penalty": repeat_penalty, "presence_penalty": presence_penalty}


# card file -> (recommended, modes, thinking_model, system prompt start or None, source of temperature)
EXPECTED = {
    # "For thinking mode ... Temperature=0.6, TopP=0.95, TopK=20, MinP=0"; non-thinking 0.7/0.8/20/0;
    # presence_penalty "between 0 and 2" is a range; thinking is the default ("By default, Qwen3 has
    # thinking capabilities enabled")
    "qwen3-4b.md": (vals(0.6, 0.95, 20, 0.0), {"thinking": vals(0.6, 0.95, 20, 0.0),
                                               "non_thinking": vals(0.7, 0.8, 20, 0.0)},
                    True, None, "card: Best Practices"),
    # "Use Temperature=0.6 and TopP=0.95"; "TopK between 20 and 40" is a range
    "qwq-32b.md": (vals(0.6, 0.95), {}, True, None, "card: Usage Guidelines"),
    # "within the range of 0.5-0.7 (0.6 is recommended)"; "Avoid adding a system prompt"
    "deepseek-r1.md": (vals(0.6), {}, True, None, "card: Usage Recommendations"),
    # "temperature=0.7, top_p=0.8, top_k=20, repetition_penalty=1.05"; "supports only non-thinking mode"
    "qwen3-coder-30b-a3b.md": (vals(0.7, 0.8, 20, repeat_penalty=1.05), {}, False, None, "card: Best Practices"),
    # "- `top_p`: 0.95 / - `temperature`: 0.7"; reasoning with <think>; RL system prompt recommended
    "magistral-small-2506.md": (vals(0.7, 0.95), {}, True, "A user will ask you to solve a task.",
                                "card: Sampling parameters"),
    # "We recommend sampling with `temperature=1.0` and `top_p=1.0`."; configurable reasoning effort
    "gpt-oss.md": (vals(1.0, 1.0), {}, True, None, "card: Recommended Sampling Parameters"),
    # body: temperature=0.8, top_k=50, top_p=0.95 (front matter widget temperature: 0 is not advice)
    "phi-4-reasoning.md": (vals(0.8, 0.95, 50), {}, True, "You are Phi, a language model trained by Microsoft",
                           "card: Usage"),
    # "relatively low temperature, such as `temperature=0.15`"; "Make sure to add a system prompt"
    "mistral-small-24b-2501.md": (vals(0.15), {}, False, "You are Mistral Small 3, a Large Language Model",
                                  "card: vLLM"),
    # no sampler values at all (--speculative-eagle-topk 1 is not top_k); hybrid reasoning model
    "glm-4.5.md": (vals(), {}, True, None, None),
    # llama.cpp command: --temp 0.6 --top-k 20 --top-p 0.95 --min-p 0; "--presence-penalty up to 2.0"
    "qwen3-llamacpp-guide.md": (vals(0.6, 0.95, 20, 0.0), {}, True, None, "card: llama-cli"),
    # no sampler advice (get_current_temperature / "the temperature in Paris" are not settings)
    "llama-3.1-8b-instruct.md": (vals(), {}, False, None, None),
    # "We suggest using Temperature=0.6, TopP=0.95, TopK=20, and MinP=0"; thinking only
    "qwen3-30b-a3b-thinking-2507.md": (vals(0.6, 0.95, 20, 0.0), {}, True, None, "card: Best Practices"),
    # "For general evaluations ... sampling temperature of 1.0"; "For code-related evaluation tasks ...
    # recommended to set: - top_p = 0.95 - top_k = 40" (a task mode: recommended keeps the general values)
    "glm-4.6.md": (vals(1.0), {"coding": vals(1.0, 0.95, 40)}, True, None, "card: Recommended Evaluation Parameters"),
    # "Temperature of 1.0 / Top_K of 64 / Min_P of 0.00 / Top_P of 0.95 / Repetition Penalty of 1.0"
    "gemma-3-unsloth-guide.md": (vals(1.0, 0.95, 64, 0.0, 1.0), {}, False, None,
                                 "card: Recommended Inference Settings"),
}


def test_at_least_twelve_real_cards_each_naming_its_source() -> None:
    files = sorted(CARDS.glob("*.md"))
    assert len(files) >= 12
    assert {f.name for f in files} == set(EXPECTED)
    for f in files:
        assert f.read_text(encoding="utf-8").startswith("<!-- Source:"), f.name


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_real_card_values_key_by_key(name: str) -> None:
    recommended, modes, thinking, prompt_start, temp_source = EXPECTED[name]
    advice = extract_samplers(card(name))
    got = advice.to_json()
    for key in KEYS:
        assert got["recommended"][key] == recommended[key], f"{name}: {key}"
        if recommended[key] is not None:
            assert type(got["recommended"][key]) is (int if key == "top_k" else float), f"{name}: {key} type"
    assert set(got["modes"]) == set(modes), name
    for mode, mode_vals in modes.items():
        for key in KEYS:
            assert got["modes"][mode][key] == mode_vals[key], f"{name}: {mode}.{key}"
    assert got["thinking_model"] is thinking, name
    if prompt_start is None:
        assert got["system_prompt"] is None, name
    else:
        assert got["system_prompt"].startswith(prompt_start), name
    # a source for every value found, none for a null
    assert set(got["sources"]) == {k for k in KEYS if recommended[k] is not None}, name
    if temp_source is not None:
        assert got["sources"]["temperature"].split(" (")[0] == temp_source, name


def test_contract_keys_exactly_and_json_serialisable() -> None:
    got = extract_samplers(card("qwen3-4b.md")).to_json()
    assert list(got) == ["recommended", "modes", "sources", "system_prompt", "thinking_model", "notes"]
    assert list(got["recommended"]) == list(KEYS)
    for mode in got["modes"].values():
        assert list(mode) == list(KEYS)
    assert json.loads(json.dumps(got)) == got


def test_ranges_are_recorded_not_invented() -> None:
    qwen = extract_samplers(card("qwen3-4b.md"))
    assert qwen.recommended["presence_penalty"] is None
    assert any("presence_penalty" in n and "0 to 2" in n for n in qwen.notes)
    qwq = extract_samplers(card("qwq-32b.md"))
    assert qwq.recommended["top_k"] is None
    assert any("top_k" in n and "20 to 40" in n for n in qwq.notes)
    # DeepSeek names one value in its range: that one is taken, and the range is still recorded
    r1 = extract_samplers(card("deepseek-r1.md"))
    assert any("0.5 to 0.7" in n and "0.6" in n for n in r1.notes)
    guide = extract_samplers(card("qwen3-llamacpp-guide.md"))
    assert guide.recommended["presence_penalty"] is None
    assert any("presence_penalty" in n and "up to 2.0" in n for n in guide.notes)


def test_card_internal_conflict_keeps_the_recommendation_and_names_the_other() -> None:
    # the guide recommends Min_P 0.00 but its own command line passes --min-p 0.01
    advice = extract_samplers(card("gemma-3-unsloth-guide.md"))
    assert advice.recommended["min_p"] == 0.0
    assert "0.01" in advice.sources["min_p"]
    assert any("min_p" in n and "0.01" in n for n in advice.notes)


def test_system_prompts_copied_exactly_from_the_cards() -> None:
    magistral = extract_samplers(card("magistral-small-2506.md")).system_prompt
    assert magistral.startswith("A user will ask you to solve a task. You should first draft your thinking process")
    assert magistral.endswith("Don't mention that this is a summary.\n\nProblem:")
    assert "[SYSTEM_PROMPT]" not in magistral and "system_prompt" not in magistral
    phi = extract_samplers(card("phi-4-reasoning.md")).system_prompt
    assert phi.endswith("Now, try to solve the following question through the above guidelines:")
    assert "<|im_" not in phi
    mistral = extract_samplers(card("mistral-small-24b-2501.md")).system_prompt
    assert mistral.endswith('"When is the next flight to Tokyo" => "Where do you travel from?")')
    assert '"""' not in mistral and '\\"' not in mistral
    r1 = extract_samplers(card("deepseek-r1.md"))
    assert r1.system_prompt is None
    assert any("system prompt" in n and "against" in n for n in r1.notes)


def test_special_needs_become_notes() -> None:
    assert any("--jinja" in n for n in extract_samplers(card("qwen3-llamacpp-guide.md")).notes)
    assert any("harmony" in n for n in extract_samplers(card("gpt-oss.md")).notes)
    assert any("<think>" in n for n in extract_samplers(card("qwq-32b.md")).notes)
    phi = extract_samplers(card("phi-4-reasoning.md")).notes
    assert any("front matter" in n and "temperature: 0" in n for n in phi)


def test_generation_config_fills_what_the_card_lacks() -> None:
    advice = extract_samplers(card("llama-3.1-8b-instruct.md"),
                              generation_config=genconf("llama-3.1-8b-instruct.json"))
    assert advice.recommended == vals(0.6, 0.9)
    assert advice.sources == {"temperature": "generation_config.json", "top_p": "generation_config.json"}


def test_generation_config_agreeing_with_the_card_is_no_conflict() -> None:
    advice = extract_samplers(card("qwen3-4b.md"), generation_config=genconf("qwen3-4b.json"))
    assert advice.recommended == vals(0.6, 0.95, 20, 0.0)
    assert advice.sources["temperature"] == "card: Best Practices"


def test_card_beats_generation_config_and_the_conflict_is_listed() -> None:
    # Qwen2.5-7B-Instruct's real config (0.7/0.8/20, repetition_penalty 1.05) against the Qwen3 card
    advice = extract_samplers(card("qwen3-4b.md"), generation_config=genconf("qwen2.5-7b-instruct.json"))
    assert advice.recommended == vals(0.6, 0.95, 20, 0.0, repeat_penalty=1.05)
    assert advice.sources["temperature"] == "card: Best Practices (differs: generation_config.json = 0.7)"
    assert advice.sources["top_k"] == "card: Best Practices"
    assert advice.sources["repeat_penalty"] == "generation_config.json"


def test_generation_config_without_sampler_keys_adds_nothing() -> None:
    advice = extract_samplers(card("glm-4.5.md"), generation_config=genconf("gemma-2-9b-it.json"))
    assert advice.recommended == vals()
    assert advice.sources == {}


def test_real_gguf_is_the_last_source(tmp_path: Path) -> None:
    path = write_sampling_gguf(tmp_path / "m.gguf", temp=1.0, top_p=0.9, min_p=0.05, penalty_repeat=1.1,
                               top_k=40, mirostat=2)
    metadata = read_header(path).metadata
    advice = extract_samplers(card("llama-3.1-8b-instruct.md"), gguf_metadata=metadata,
                              generation_config=genconf("llama-3.1-8b-instruct.json"))
    # generation_config.json gives temperature 0.6 and top_p 0.9; the GGUF the rest
    assert advice.recommended == vals(0.6, 0.9, 40, 0.05, 1.1)
    assert advice.sources["temperature"] == "generation_config.json (differs: gguf general.sampling.temp = 1)"
    assert advice.sources["top_p"] == "generation_config.json"
    assert advice.sources["min_p"] == "gguf general.sampling.min_p"
    assert advice.sources["repeat_penalty"] == "gguf general.sampling.penalty_repeat"
    assert any("general.sampling.mirostat" in n for n in advice.notes)


def test_card_beats_gguf(tmp_path: Path) -> None:
    path = write_sampling_gguf(tmp_path / "m.gguf", temp=0.8, top_k=40)
    advice = extract_samplers(card("qwen3-coder-30b-a3b.md"), gguf_metadata=read_header(path).metadata)
    assert advice.recommended["temperature"] == 0.7
    assert advice.recommended["top_k"] == 20
    assert advice.sources["temperature"] == "card: Best Practices (differs: gguf general.sampling.temp = 0.8)"
    assert advice.sources["top_k"] == "card: Best Practices (differs: gguf general.sampling.top_k = 40)"


def test_gguf_float32_values_come_back_as_written(tmp_path: Path) -> None:
    path = write_sampling_gguf(tmp_path / "m.gguf", temp=0.6, top_p=0.95, min_p=0.05)
    advice = extract_samplers("", gguf_metadata=read_header(path).metadata)
    assert advice.recommended == vals(0.6, 0.95, min_p=0.05)


def test_gguf_chat_template_with_think_marks_a_thinking_model(tmp_path: Path) -> None:
    template = "{%- if enable_thinking %}<think>\n{%- endif %}{{ messages[0]['content'] }}"
    path = write_sampling_gguf(tmp_path / "m.gguf", chat_template=template)
    assert extract_samplers(card("llama-3.1-8b-instruct.md"), gguf_metadata=read_header(path).metadata).thinking_model
    assert not extract_samplers(card("llama-3.1-8b-instruct.md")).thinking_model


def test_gguf_key_names_are_ggufs_own() -> None:
    general = gguf.Keys.General
    assert set(GGUF_KEYS) == {general.SAMPLING_TEMP, general.SAMPLING_TOP_P, general.SAMPLING_TOP_K,
                              general.SAMPLING_MIN_P, general.SAMPLING_PENALTY_REPEAT}


def test_to_llama_args_only_non_null_values() -> None:
    assert to_llama_args(extract_samplers(card("qwen3-4b.md"))) == [
        "--temp", "0.6", "--top-p", "0.95", "--top-k", "20", "--min-p", "0"]
    assert to_llama_args(extract_samplers(card("qwen3-coder-30b-a3b.md"))) == [
        "--temp", "0.7", "--top-p", "0.8", "--top-k", "20", "--repeat-penalty", "1.05"]
    assert to_llama_args(extract_samplers(card("glm-4.5.md"))) == []


# --- shapes the real cards above do not show (small snippets in the idioms cards use) ---------

def test_shape_markdown_table_with_a_column_per_mode() -> None:
    text = ("## Recommended settings\n\n| Setting | Thinking mode | Non-thinking mode |\n|---|---|---|\n"
            "| Temperature | 0.6 | 0.7 |\n| Top P | 0.95 | 0.8 |\n| top_k | 20 | 20 |\n")
    advice = extract_samplers(text)
    assert advice.modes["thinking"] == vals(0.6, 0.95, 20)
    assert advice.modes["non_thinking"] == vals(0.7, 0.8, 20)


def test_shape_hard_wrapped_prose_keeps_each_mode() -> None:
    text = ("For thinking mode, we recommend\nTemperature=0.6 and TopP=0.95. For non-thinking mode use\n"
            "Temperature=0.7.\n")
    advice = extract_samplers(text)
    assert advice.modes == {"thinking": vals(0.6, 0.95), "non_thinking": vals(0.7)}
    assert advice.recommended == vals(0.6, 0.95)


def test_shape_yaml_and_json_snippets() -> None:
    text = ("```yaml\nsampling:\n  temperature: 0.3\n  top_p: 0.9\n  repeat_penalty: 1.1\n```\n"
            "```json\n{\"min_p\": 0.05, \"presence_penalty\": 1.5}\n```\n")
    assert extract_samplers(text).recommended == vals(0.3, 0.9, None, 0.05, 1.1, 1.5)


# --- garbage never crashes and never invents ----------------------------------------------------

@pytest.mark.parametrize("text", ["", "   \n\n", "\x00\xff\ufffd" * 50, "temperature", "temperature = hot",
                                  "top_k=3.5 top_p=7 temperature=99 min_p=-1", "---\n---\n",
                                  "| temperature |\n|---|\n| |\n", "```\nunclosed fence temperature=",
                                  "We recommend a system prompt."])
def test_garbage_gives_empty_advice(text: str) -> None:
    got = extract_samplers(text).to_json()
    assert got["recommended"] == vals()
    assert got["modes"] == {} and got["sources"] == {} and got["system_prompt"] is None


def test_garbage_generation_config_and_gguf_values_are_ignored_with_notes() -> None:
    advice = extract_samplers("", generation_config={"temperature": "hot", "top_k": 3.5, "top_p": True,
                                                     "repetition_penalty": None},
                              gguf_metadata={"general.sampling.temp": "x", "general.sampling.top_k": -5})
    assert advice.recommended == vals()
    assert len([n for n in advice.notes if "not a usable value" in n]) == 6


@settings(max_examples=150, deadline=None)
@given(st.text(alphabet=st.sampled_from(list("temperaturTopPK_-=:|` 0123456789.\n#mnodeig")), max_size=400))
def test_any_text_gives_values_only_in_their_valid_range(text: str) -> None:
    advice = extract_samplers(text)
    for key, value in advice.recommended.items():
        if value is not None:
            lo, hi = VALID_RANGE[key]
            assert lo <= value <= hi
            assert key in advice.sources
    for mode in advice.modes.values():
        assert set(mode) == set(KEYS)
