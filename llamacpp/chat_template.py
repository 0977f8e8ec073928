"""Is a GGUF a chat model, a chat model whose template is missing, or a base model; and did an
answer come back clean?

Why this matters: llama-server falls back to ChatML when a GGUF has no ``tokenizer.chat_template``.
A base model (or a chat model whose template was lost in conversion) asked through
``/v1/chat/completions`` then writes template text (``<|im_start|>user<|im_end|>`` ...) or its own
turns until the token limit, and every benchmark answer is garbage. Whether the file is a chat
model is read from the file itself: its template, ``general.finetune`` (and name, basename, tags),
its end-of-sequence token and the chat tokens among its special tokens. A card that calls the model
"instruct" while the file is a base model is reported, because the file is what llama-server runs.

A chat model without a template gets the template of its family (the turn tokens its vocabulary
holds) as a file in the repository, passed with ``--jinja --chat-template-file`` (the build's
``--chat-template NAME`` is taken as template text by some builds, so the file is what is used).
"""
from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Mapping

__all__ = [
    "ChatVerdict", "TEMPLATES", "TEMPLATE_TOKENS", "classify", "special_tokens", "card_claim",
    "judge_answer", "completion_stops", "family_of", "CHAT_PROMPT", "COMPLETION_PROMPT", "template_flags",
]

KINDS = ("chat", "chat-no-template", "base")

# Turn templates of the families whose turn tokens a vocabulary shows; the text is what the
# families' own templates render for plain messages (system, user, assistant).
TEMPLATES: dict[str, str] = {
    "gemma": (
        "{{ bos_token }}{% if messages[0]['role'] == 'system' %}"
        "{% set first_user_prefix = messages[0]['content'] + '\\n\\n' %}{% set loop_messages = messages[1:] %}"
        "{% else %}{% set first_user_prefix = '' %}{% set loop_messages = messages %}{% endif %}"
        "{% for message in loop_messages %}"
        "{% if message['role'] == 'assistant' %}{% set role = 'model' %}{% else %}{% set role = message['role'] %}"
        "{% endif %}<start_of_turn>{{ role }}\n"
        "{{ (first_user_prefix if loop.first else '') + (message['content'] | trim) }}<end_of_turn>\n"
        "{% endfor %}{% if add_generation_prompt %}<start_of_turn>model\n{% endif %}"
    ),
    "chatml": (
        "{% for message in messages %}<|im_start|>{{ message['role'] }}\n{{ message['content'] }}<|im_end|>\n"
        "{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
    ),
    "llama3": (
        "{{ bos_token }}{% for message in messages %}<|start_header_id|>{{ message['role'] }}<|end_header_id|>\n\n"
        "{{ message['content'] | trim }}<|eot_id|>{% endfor %}"
        "{% if add_generation_prompt %}<|start_header_id|>assistant<|end_header_id|>\n\n{% endif %}"
    ),
}
# the special tokens that identify a family's turns (all must be special tokens of the vocabulary)
FAMILY_TOKENS: dict[str, tuple[str, ...]] = {
    "gemma": ("<start_of_turn>", "<end_of_turn>"),
    "chatml": ("<|im_start|>", "<|im_end|>"),
    "llama3": ("<|start_header_id|>", "<|end_header_id|>", "<|eot_id|>"),
}
# end-of-sequence tokens that end a turn rather than a text: a model trained to stop there is a chat model
TURN_END_TOKENS = frozenset({"<end_of_turn>", "<|im_end|>", "<|eot_id|>", "<|end|>", "<|eom_id|>", "<|end_of_turn|>"})
# text that never belongs in an answer: a template written out by a model asked with the wrong template
TEMPLATE_TOKENS = ("<|im_start|>", "<|im_end|>", "<start_of_turn>", "<end_of_turn>", "<|start_header_id|>",
                   "<|end_header_id|>", "<|eot_id|>", "<|endoftext|>", "<|user|>", "<|assistant|>", "<|end|>")
_CHAT_WORDS = frozenset({"instruct", "instruction", "it", "chat", "sft", "rlhf", "dpo", "conversational"})
_WORD_SPLIT = re.compile(r"[\s\-_/.,:;()\[\]]+")
_CARD_PHRASE = re.compile(r"\b(instruction[- ]tuned|instruct(?:ion)?[- ]model|chat model)\b", re.I)
_ROLE_LINE = re.compile(r"(?im)^\s*(?:user|assistant|model|system)\s*:?\s*$")
_CONTROL, _USER_DEFINED = 3, 4  # gguf TokenType

CHAT_PROMPT = "What is the capital of France? Answer in one word."
COMPLETION_PROMPT = "def add(a, b):\n    return"
# EvalPlus 0.3.1, evalplus/provider/utility.py: EOS, and extra_eos_for_direct_completion(dataset)
_EVALPLUS_EOS = ("<|endoftext|>", "<|endofmask|>", "</s>", "\nif __name__", "\ndef main(", "\nprint(")
_EVALPLUS_EXTRA = {"humaneval": ("\ndef ", "\nclass ", "\nimport ", "\nfrom ", "\nassert "),
                   "mbpp": ('\n"""', "\nassert")}


@dataclass
class ChatVerdict:
    """What the file says about chat. ``family`` names the template the fix uses (None: no known
    family's turn tokens are special tokens of the vocabulary)."""

    kind: str                       # "chat", "chat-no-template" or "base"
    why: str
    card_disagrees: bool = False
    card_says: str | None = None    # the card's words that call it a chat/instruct model
    family: str | None = None
    eos: str | None = None          # the end-of-sequence token's text, when the vocabulary was read
    evidence: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    def line(self) -> str:
        """One line for evaluate's report."""
        label = {"chat": "chat model", "chat-no-template": "chat model WITHOUT a usable chat template",
                 "base": "base model (completion only)"}[self.kind]
        return f"{label}: {self.why}"


def special_tokens(path: str | Path) -> dict[int, str] | None:
    """Control and user-defined tokens of a local GGUF (id -> text); None when the file is not local
    or holds no vocabulary. Reads the whole vocabulary (about a second for 262,144 tokens)."""
    from onboard.llamacpp.gguf_header import MAX_ARRAY_LEN, read_header

    path = Path(path)
    if not path.is_file():
        return None
    md = read_header(path, max_array_items=MAX_ARRAY_LEN).metadata
    tokens, types = md.get("tokenizer.ggml.tokens"), md.get("tokenizer.ggml.token_type")
    if not isinstance(tokens, list) or not isinstance(types, list):
        return None
    return {i: t for i, (t, ty) in enumerate(zip(tokens, types)) if ty in (_CONTROL, _USER_DEFINED)
            and isinstance(t, str)}


def _chat_words(text: str, *, prose: bool = False) -> list[str]:
    """The words of a name that mark a chat finetune; in prose (a card's title) "it" is a pronoun."""
    return [w for w in _WORD_SPLIT.split(text.lower()) if w in _CHAT_WORDS and not (prose and w == "it")]


def finetune_hints(metadata: Mapping[str, Any]) -> list[str]:
    """``general.finetune`` / name / basename / tags entries that call the file a chat finetune."""
    hints = []
    for key in ("general.finetune", "general.name", "general.basename"):
        value = metadata.get(key)
        if isinstance(value, str) and _chat_words(value):
            hints.append(f"{key} = {value!r}")
    tags = metadata.get("general.tags")
    if isinstance(tags, list):
        hits = [t for t in tags if isinstance(t, str) and _chat_words(t)]
        if hits:
            hints.append(f"general.tags has {', '.join(hits)}")
    return hints


def card_claim(card: Any, name: str | None = None) -> str | None:
    """Where the candidate card (or its name) calls the model instruct/chat, in words; None if nowhere."""
    if name and _chat_words(name):
        return f"the candidate's name {name!r}"
    if card is None:
        return None
    places = [("title", getattr(card, "title", None)), ("base_model", getattr(card, "base_model", None)),
              ("gguf repository", getattr(card, "repo_id", None))]
    for label, value in places:
        for text in (value if isinstance(value, list) else [value]):
            if isinstance(text, str) and _chat_words(text, prose=label == "title"):
                return f"the card's {label} {text!r}"
    body = getattr(card, "body", None)
    if isinstance(body, str):
        m = _CARD_PHRASE.search(body)
        if m:
            return f"the card's text ({m.group(0)!r})"
    return None


def family_of(specials: Mapping[int, str] | None) -> str | None:
    """The template family whose turn tokens are all special tokens of the vocabulary, else None."""
    present = set(specials.values()) if specials is not None else set()
    return next((f for f, toks in FAMILY_TOKENS.items() if all(t in present for t in toks)), None)


def classify(metadata: Mapping[str, Any], specials: Mapping[int, str] | None = None, *,
             card_says: str | None = None) -> ChatVerdict:
    """Chat, chat without template, or base, from the GGUF's metadata (and its special tokens when
    read: ``specials`` id -> text). ``card_says``: the card's words calling it a chat model."""
    template = metadata.get("tokenizer.chat_template")
    hints = finetune_hints(metadata)
    eos_id = metadata.get("tokenizer.ggml.eos_token_id")
    eot_id = metadata.get("tokenizer.ggml.eot_token_id")
    eos = specials.get(eos_id) if specials is not None and isinstance(eos_id, int) else None
    eot = specials.get(eot_id) if specials is not None and isinstance(eot_id, int) else None
    present = set(specials.values()) if specials is not None else set()
    family = family_of(specials)
    chat_tokens = [t for toks in FAMILY_TOKENS.values() for t in toks if t in present]
    evidence = list(hints)
    turn_end = [t for t in (eos, eot) if t in TURN_END_TOKENS]
    if turn_end:
        evidence.append(f"its end token is {turn_end[0]} (the end of a turn)")
    if isinstance(template, str) and template.strip():
        verdict = ChatVerdict("chat", f"the GGUF has a chat template ({len(template)} characters)", family=family,
                              eos=eos, evidence=evidence)
    elif hints or turn_end:
        tokens = f"; its vocabulary has {', '.join(FAMILY_TOKENS[family])}" if family else ""
        verdict = ChatVerdict("chat-no-template", f"{'; '.join(evidence)}, but the GGUF has no "
                              f"tokenizer.chat_template (llama-server would fall back to ChatML){tokens}",
                              family=family, eos=eos, evidence=evidence)
    else:
        parts = ["no tokenizer.chat_template", "no chat or instruct finetune in general.finetune, name or tags"]
        if eos:
            parts.append(f"its end token is {eos} (the end of a text, not of a turn)")
        elif specials is None:
            parts.append("vocabulary not read (remote header)")
        if chat_tokens:
            parts.append(f"its vocabulary has {', '.join(chat_tokens)}, as the base models of chat families do")
        verdict = ChatVerdict("base", "; ".join(parts), family=family, eos=eos, evidence=evidence)
    verdict.card_says = card_says
    verdict.card_disagrees = bool(card_says) and verdict.kind == "base"
    return verdict


def template_flags(relpath: str) -> list[str]:
    """The EXTRA_ARGS that make llama-server use a template file (``--jinja`` first: the build reads a
    non-builtin template only when jinja is set before the flag)."""
    return ["--jinja", "--chat-template-file", relpath]


def completion_stops(dataset: str) -> tuple[str, ...]:
    """The stop sequences EvalPlus uses for a base model's direct completion of ``dataset``."""
    return _EVALPLUS_EOS + _EVALPLUS_EXTRA.get(dataset, _EVALPLUS_EXTRA["humaneval"])


def judge_answer(text: str, *, stopped: bool, limit: int, mode: str, prompt: str = "") -> list[str]:
    """What is wrong with one answer (empty list: it answers cleanly).

    Fails: template tokens in the text; an empty answer; in completion mode no stop before the
    limit; in chat mode no stop before the limit while the answer writes turns itself (role lines,
    the question again): what a model does when it is asked through a template it does not know.
    A chat answer that runs to the limit without that is not template garbage and is not failed here.
    """
    problems = []
    found = [t for t in TEMPLATE_TOKENS if t in text]
    if found:
        problems.append(f"template tokens in the answer: {', '.join(found)}")
    if not text.strip():
        problems.append("the answer is empty")
    if not stopped:
        if mode == "completion":
            problems.append(f"no stop within {limit} tokens")
        else:
            turns = _turn_writing(text, prompt)
            if turns:
                problems.append(f"no stop within {limit} tokens and the answer {turns}")
    return problems


def _turn_writing(text: str, prompt: str) -> str | None:
    if len(_ROLE_LINE.findall(text)) >= 2:
        return "writes conversation turns itself"
    for sentence in re.split(r"(?<=[.?!])\s+", prompt):
        if len(sentence) >= 10 and text.count(sentence) >= 2:
            return f"repeats the question ({sentence!r})"
    lines = [ln.strip() for ln in text.splitlines() if len(ln.strip()) >= 8]
    repeated = next((ln for ln in lines if lines.count(ln) >= 3), None)
    if repeated:
        return f"repeats itself ({repeated[:40]!r})"
    return None


def preview(text: str, n: int = 120) -> str:
    """An answer as one short line for reports."""
    flat = text.replace("\n", "\\n")
    return flat if len(flat) <= n else flat[:n] + "..."
