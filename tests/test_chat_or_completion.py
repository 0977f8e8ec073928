"""Chat model, chat model without a template, or base model: told from the GGUF itself (real files
written by gguf's own writer), and answers judged clean or template garbage (the real answers of
the Gemma 3 270M base model asked through the ChatML fallback are the garbage cases)."""
from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest
from gguf import TokenType

from onboard.llamacpp import chat_template as ct
from onboard.llamacpp.errors import BadInput
from onboard.llamacpp.evalplus_run import ClientConfig, client_mode
from onboard.llamacpp.gguf_header import read_header
from onboard.phases.contract import PhaseContext
from onboard.phases.evaluation import chat_verdict
from tests import gguf_factory


def write_model(path: Path, *, template: bool = False, finetune: str | None = None,
                chat_tokens: tuple[str, ...] = (), eos: str | None = None, name: str = "Tiny",
                broken_template: bool = False) -> Path:
    """A tiny llama GGUF with or without ``tokenizer.chat_template`` (``broken_template``: one that
    does not parse); ``chat_tokens`` become control tokens of the vocabulary (in place of padding
    tokens) and ``eos`` names the end token."""
    spec = gguf_factory.model_spec("llama", n_vocab=272, name=name)
    md = spec.metadata
    if not template:
        md.pop("tokenizer.chat_template")
    elif broken_template:
        md["tokenizer.chat_template"] = "{% for message in messages %}{{ message['content'] }"
    if finetune:
        md["general.finetune"] = finetune
    tokens = list(md["tokenizer.ggml.tokens"])
    types = list(md["tokenizer.ggml.token_type"].value)
    for offset, text in enumerate(chat_tokens):
        i = len(tokens) - 1 - offset
        tokens[i], types[i] = text, int(TokenType.CONTROL)
    md["tokenizer.ggml.tokens"] = tokens
    md["tokenizer.ggml.token_type"] = gguf_factory.Typed(types, md["tokenizer.ggml.token_type"].vtype,
                                                         md["tokenizer.ggml.token_type"].sub_type)
    if eos:
        md["tokenizer.ggml.eos_token_id"] = tokens.index(eos)
    gguf_factory._write(spec, path, seed=0)
    return path


def verdict(path: Path, card=None, name: str = "tiny") -> ct.ChatVerdict:
    return chat_verdict(read_header(path), card, name)


def test_a_gguf_without_template_and_without_instruct_metadata_is_a_base_model(tmp_path):
    v = verdict(write_model(tmp_path / "m.gguf"))
    assert v.kind == "base" and v.eos == "</s>" and not v.card_disagrees
    assert "no tokenizer.chat_template" in v.why and "end of a text" in v.why
    assert client_mode(v.kind) == "completion"


def test_an_instruct_finetune_without_template_is_a_chat_model_missing_its_template(tmp_path):
    v = verdict(write_model(tmp_path / "m.gguf", finetune="Instruct"))
    assert v.kind == "chat-no-template" and "general.finetune = 'Instruct'" in v.why
    assert v.family is None  # no family's turn tokens: no template can be derived
    assert client_mode(v.kind) == "chat"


def test_an_end_of_turn_eos_makes_it_a_chat_model_and_the_turn_tokens_name_the_template(tmp_path):
    v = verdict(write_model(tmp_path / "m.gguf", chat_tokens=("<|im_start|>", "<|im_end|>"), eos="<|im_end|>"))
    assert v.kind == "chat-no-template" and v.family == "chatml" and v.eos == "<|im_end|>"
    assert "<|im_end|> (the end of a turn)" in v.why


def test_chat_tokens_in_a_base_models_vocabulary_do_not_make_it_a_chat_model(tmp_path):
    # Gemma 3's base model has <start_of_turn>/<end_of_turn> as control tokens, and <eos> as its end
    v = verdict(write_model(tmp_path / "m.gguf", chat_tokens=("<start_of_turn>", "<end_of_turn>")))
    assert v.kind == "base" and v.family == "gemma"
    assert "<start_of_turn>, <end_of_turn>, as the base models of chat families do" in v.why


def test_a_gguf_with_a_template_is_a_chat_model(tmp_path):
    v = verdict(write_model(tmp_path / "m.gguf", template=True))
    assert v.kind == "chat" and "chat template" in v.why


def test_the_card_calling_a_base_file_instruct_is_reported(tmp_path):
    card = SimpleNamespace(title="Gemma 3 270M (instruction tuned): the small one", base_model="google/x",
                           repo_id="owner/x-GGUF", body="")
    v = verdict(write_model(tmp_path / "m.gguf"), card=card)
    assert v.kind == "base" and v.card_disagrees and "instruction" in v.card_says
    by_name = verdict(write_model(tmp_path / "n.gguf"), name="qwen2.5-0.5b-instruct")
    assert by_name.card_disagrees and "qwen2.5-0.5b-instruct" in by_name.card_says
    # a chat model the card calls instruct: nothing disagrees
    assert not verdict(write_model(tmp_path / "c.gguf", template=True), card=card).card_disagrees


def test_the_verdict_line_says_completion_only_for_a_base_model(tmp_path):
    assert verdict(write_model(tmp_path / "m.gguf")).line().startswith("base model (completion only)")


# -- answers ---------------------------------------------------------------------------------------
GEMMA_CHATML = "<|im_start|>user<|im_end|>\n" * 12  # what Gemma 3 270M base answered through ChatML
GEMMA_TURNS = "What is 2+2? mendatang\n" * 4 + "What is 2"  # the same asked through Gemma's own template


def test_template_tokens_in_an_answer_fail_it():
    problems = ct.judge_answer(GEMMA_CHATML, stopped=False, limit=64, mode="chat", prompt="What is 2+2?")
    assert any("<|im_start|>" in p and "<|im_end|>" in p for p in problems)


def test_an_answer_repeating_the_question_until_the_limit_fails():
    problems = ct.judge_answer(GEMMA_TURNS, stopped=False, limit=40, mode="chat", prompt="What is 2+2?")
    assert problems == ["no stop within 40 tokens and the answer repeats the question ('What is 2+2?')"]
    turns = "user\nhello\nassistant\nhi\nuser\nhow\n"
    assert "writes conversation turns" in ct.judge_answer(turns, stopped=False, limit=64, mode="chat")[0]


def test_a_clean_chat_answer_and_a_clean_completion_pass():
    assert ct.judge_answer("Paris.", stopped=True, limit=64, mode="chat", prompt=ct.CHAT_PROMPT) == []
    assert ct.judge_answer(" a + b\n", stopped=True, limit=64, mode="completion") == []
    # a chat answer that runs on without template text is not template garbage
    assert ct.judge_answer("Paris is the capital, a city on the Seine", stopped=False, limit=8, mode="chat") == []


def test_a_completion_must_stop_and_must_not_be_empty():
    assert ct.judge_answer(" a + b + c + d", stopped=False, limit=8, mode="completion") == ["no stop within 8 tokens"]
    assert "the answer is empty" in ct.judge_answer("", stopped=True, limit=8, mode="completion")


def test_completion_stops_are_evalplus_own():
    utility = pytest.importorskip("evalplus.provider.utility")
    for dataset in ("humaneval", "mbpp"):
        assert list(ct.completion_stops(dataset)) == utility.EOS + utility.extra_eos_for_direct_completion(dataset)


def test_the_client_refuses_an_unknown_mode():
    assert ClientConfig(mode="completion").mode == "completion"
    with pytest.raises(BadInput):
        ClientConfig(mode="instruct")


def test_template_flags_put_jinja_before_the_file():
    assert ct.template_flags("models/X/chat_template.jinja") == ["--jinja", "--chat-template-file",
                                                                 "models/X/chat_template.jinja"]


# -- docs --------------------------------------------------------------------------------------------
def test_client_settings_and_docs_say_completion_only_for_a_base_model(tmp_path):
    from onboard.phases import doc_facts
    from onboard.phases.samplers import render_client_block
    from onboard.store.models_conf import ModelsConf

    found = SimpleNamespace(recommended={"temp": 1.0}, sources={"temp": "card"}, modes={}, thinking_model=False,
                            system_prompt=None, notes=[])
    assert "Completion only" in render_client_block("m", found, chat={"kind": "base"})
    assert "Completion only" not in render_client_block("m", found, chat={"kind": "chat"})
    (tmp_path / "models" / "M" / "Q8_0").mkdir(parents=True)
    model = write_model(tmp_path / "models" / "M" / "Q8_0" / "m.gguf")
    (tmp_path / "models.conf").write_text("")
    conf = ModelsConf.load(tmp_path / "models.conf").with_section(
        "m", {"NAME": "M", "MODEL": str(model.relative_to(tmp_path)), "EXTRA_ARGS": ""}, [])
    (tmp_path / "models.conf").write_text(conf.text)
    base = doc_facts.model_facts(tmp_path, "m", {"chat": {"kind": "base"}})
    assert base["tools"] == "No" and base["notes"] == "completion only (base model)"
    chat = doc_facts.model_facts(tmp_path, "m", {"chat": {"kind": "chat"}})
    assert chat["notes"] is None


# -- the test phase's guard ----------------------------------------------------------------------------
def _ctx(tmp_path, run, chat_kind="chat"):
    """The test phase's context as the engine builds it: the person's quant, evaluate's repository and
    chat verdict, and the test's run (``run``) as stored."""
    return PhaseContext(name="m", root=tmp_path, options={"quant": "Q4_K_M"}, phase="test",
                        facts_by_phase={"evaluate": {"repo": "owner/M-GGUF", "chat": {"kind": chat_kind}},
                                        "test": {"run": run}})


def test_the_guard_fails_template_garbage_and_proposes_the_template_file(tmp_path):
    from onboard.phases.test import _answers_cleanly

    problems = ct.judge_answer(GEMMA_CHATML, stopped=False, limit=64, mode="chat", prompt=ct.CHAT_PROMPT)
    answer = {"mode": "chat", "answer": GEMMA_CHATML, "stopped": False, "max_tokens": 64, "tokens": 64,
              "problems": problems, "clean": False}
    result = _answers_cleanly(_ctx(tmp_path, {"launch_ok": True, "answer": answer}))
    assert not result.passed and "template tokens in the answer" in result.reason
    assert "--jinja --chat-template-file models/M/chat_template.jinja" in result.fix


def test_the_guard_passes_a_clean_completion_and_a_log_run_elsewhere(tmp_path):
    from onboard.phases.test import _answers_cleanly

    answer = {"mode": "completion", "answer": " a + b\n", "stopped": True, "max_tokens": 64, "tokens": 6,
              "problems": [], "clean": True}
    result = _answers_cleanly(_ctx(tmp_path, {"launch_ok": True, "answer": answer}, "base"))
    assert result.passed and "stopped after 6 tokens" in result.reason
    given_log = _ctx(tmp_path, {"log": "x.log"})
    assert _answers_cleanly(given_log).passed
    failed_launch = _ctx(tmp_path, {"launch_ok": True, "answer": None})
    assert not _answers_cleanly(failed_launch).passed


def test_a_card_title_saying_it_as_a_pronoun_is_no_claim():
    card = SimpleNamespace(title="Why it runs anywhere", base_model="google/gemma-3-270m", repo_id="o/gemma-3-270m-GGUF",
                           body="A pretrained model; the instruct version is another file.")
    assert ct.card_claim(card, "gemma-3-270m") is None
    card.body = "This is the instruction-tuned release."
    assert ct.card_claim(card, "gemma-3-270m") == "the card's text ('instruction-tuned')"


def test_a_template_the_server_refused_is_named_with_the_logs_words(tmp_path):
    from onboard.phases.test import _answers_cleanly, _template_error

    error = ("llama-server exited with status 1:\n  0.00.384.652 E common_chat_templates_init: error: parser: "
             "Parser Error: Expected }} (Got })\n  0.00.388.137 E srv  llama_server: exiting due to model loading error")
    assert _template_error({"error": error}) == "common_chat_templates_init: error: parser: Parser Error: Expected }} (Got })"
    result = _answers_cleanly(_ctx(tmp_path, {"launch_ok": False, "error": error}))
    assert not result.passed and "Parser Error" in result.reason and "chat_template.jinja" in result.fix
    assert _template_error({"error": "out of memory"}) is None
