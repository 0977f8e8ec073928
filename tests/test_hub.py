"""Quant listing, download and completeness check, through the REAL huggingface_hub client.

The hub is ``tests/hub_server.py``: a real HTTP server on 127.0.0.1 answering in the hub's
documented shapes (HF_ENDPOINT points at it). Repository file lists are modeled on real GGUF
repositories (file names as those repositories publish them, sizes realistic and rounded); files
declared by size only are never downloaded. Downloads use real GGUF files written by gguf's
GGUFWriter (``tests/gguf_factory.py``).
"""
from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from onboard.llamacpp.errors import BadInput, ExternalFailure
from onboard.llamacpp.hub import (Quant, QuantFile, check_files_present, default_target_dir, download_command,
                          download_quant, find_quant, group_files, list_quants, list_repo_files, local_quants,
                          model_dir_name, quant_name, read_split_keys)
from tests.gguf_factory import write_split_model, write_tiny_model
from tests.hub_server import hub_factory  # noqa: F401  (pytest fixture)

GB = 1_000_000_000

# Modeled on unsloth/Qwen3-30B-A3B-GGUF: flat files, UD (Unsloth Dynamic) quants, BF16 split in a folder.
QWEN3_30B = {
    ".gitattributes": b"*.gguf filter=lfs diff=lfs merge=lfs -text\n",
    "README.md": b"---\nbase_model: Qwen/Qwen3-30B-A3B\nlicense: apache-2.0\n---\n# Qwen3-30B-A3B GGUF\n",
    "Qwen3-30B-A3B-UD-IQ1_S.gguf": 6_980_000_000,
    "Qwen3-30B-A3B-Q2_K_L.gguf": 11_840_000_000,
    "Qwen3-30B-A3B-UD-Q2_K_XL.gguf": 11_810_000_000,
    "Qwen3-30B-A3B-IQ4_XS.gguf": 16_390_000_000,
    "Qwen3-30B-A3B-Q4_K_S.gguf": 17_460_000_000,
    "Qwen3-30B-A3B-UD-Q4_K_XL.gguf": 17_720_000_000,
    "Qwen3-30B-A3B-Q4_K_M.gguf": 18_560_000_000,
    "Qwen3-30B-A3B-Q5_K_M.gguf": 21_730_000_000,
    "Qwen3-30B-A3B-Q6_K.gguf": 25_090_000_000,
    "Qwen3-30B-A3B-Q8_0.gguf": 32_480_000_000,
    "Qwen3-30B-A3B-UD-Q8_K_XL.gguf": 35_990_000_000,
    "BF16/Qwen3-30B-A3B-BF16-00001-of-00002.gguf": 49_800_000_000,
    "BF16/Qwen3-30B-A3B-BF16-00002-of-00002.gguf": 11_270_000_000,
}
# Modeled on unsloth/gemma-3-27b-it-GGUF: a vision model with multimodal projectors next to the quants.
GEMMA3_27B = {
    "README.md": b"# gemma-3-27b-it GGUF\n",
    "gemma-3-27b-it-Q4_K_M.gguf": 16_550_000_000,
    "gemma-3-27b-it-UD-Q4_K_XL.gguf": 16_800_000_000,
    "gemma-3-27b-it-Q8_0.gguf": 28_710_000_000,
    "mmproj-F16.gguf": 857_000_000,
    "mmproj-BF16.gguf": 857_000_000,
    "mmproj-F32.gguf": 1_690_000_000,
}
# Modeled on bartowski/Llama-3.3-70B-Instruct-GGUF: big quants split inside per-quant folders, lower-case f16.
LLAMA33_70B = {
    "Llama-3.3-70B-Instruct.imatrix": 36_000_000,
    "Llama-3.3-70B-Instruct-IQ2_XXS.gguf": 19_100_000_000,
    "Llama-3.3-70B-Instruct-Q4_K_M.gguf": 42_520_000_000,
    "Llama-3.3-70B-Instruct-Q8_0/Llama-3.3-70B-Instruct-Q8_0-00001-of-00002.gguf": 39_990_000_000,
    "Llama-3.3-70B-Instruct-Q8_0/Llama-3.3-70B-Instruct-Q8_0-00002-of-00002.gguf": 34_990_000_000,
    **{f"Llama-3.3-70B-Instruct-f16/Llama-3.3-70B-Instruct-f16-0000{i}-of-00004.gguf": 39_000_000_000 - i
       for i in range(1, 5)},
}


# ---- names -------------------------------------------------------------------------------------
@pytest.mark.parametrize("path, expected", [
    ("Qwen3-30B-A3B-Q4_K_M.gguf", "Q4_K_M"),
    ("Qwen3-30B-A3B-Q4_K_S.gguf", "Q4_K_S"),
    ("Qwen3-30B-A3B-UD-Q4_K_XL.gguf", "UD-Q4_K_XL"),
    ("Qwen3-30B-A3B-UD-IQ2_XXS.gguf", "UD-IQ2_XXS"),
    ("Qwen3-30B-A3B-IQ4_XS.gguf", "IQ4_XS"),
    ("Qwen3-30B-A3B-Q2_K_L.gguf", "Q2_K_L"),
    ("BF16/Qwen3-30B-A3B-BF16-00001-of-00002.gguf", "BF16"),
    ("DeepSeek-R1-0528-UD-IQ1_S-00001-of-00004.gguf", "UD-IQ1_S"),
    ("gpt-oss-20b-MXFP4.gguf", "MXFP4"),
    ("gemma-3-270m-it-Q4_K_M.gguf", "Q4_K_M"),
    ("Llama-3.3-70B-Instruct-f16/Llama-3.3-70B-Instruct-f16-00001-of-00004.gguf", "F16"),
    ("qwen2.5-0.5b-instruct-q8_0.gguf", "Q8_0"),
    ("IQ4_XS/model-00001-of-00002.gguf", "IQ4_XS"),  # only the folder names it
    ("Q6_K/Model-Q6_K.gguf", "Q6_K"),
    ("model.gguf", None),
])
def test_quant_names_come_from_file_names_longest_token_first(path: str, expected: str | None) -> None:
    assert quant_name(path) == expected


def test_model_dir_name_drops_the_gguf_suffix() -> None:
    assert model_dir_name("unsloth/Qwen3-30B-A3B-GGUF") == "Qwen3-30B-A3B"
    assert model_dir_name("bartowski/Llama-3.3-70B-Instruct-GGUF") == "Llama-3.3-70B-Instruct"
    assert model_dir_name("someone/plain-model") == "plain-model"
    assert default_target_dir("unsloth/Qwen3-30B-A3B-GGUF", "UD-Q4_K_XL") == Path("models/Qwen3-30B-A3B/UD-Q4_K_XL")


# ---- listing from the local hub -------------------------------------------------------------------
def test_listing_groups_shards_and_ud_quants_with_sizes(hub_factory) -> None:
    hub = hub_factory({"unsloth/Qwen3-30B-A3B-GGUF": QWEN3_30B})
    quants = list_quants("unsloth/Qwen3-30B-A3B-GGUF")

    names = [q.name for q in quants]
    assert sorted(names) == sorted(["UD-IQ1_S", "Q2_K_L", "UD-Q2_K_XL", "IQ4_XS", "Q4_K_S", "UD-Q4_K_XL", "Q4_K_M",
                                    "Q5_K_M", "Q6_K", "Q8_0", "UD-Q8_K_XL", "BF16"])
    totals = [q.total_bytes for q in quants]
    assert totals == sorted(totals), "smallest first, for the fit table"
    bf16 = find_quant(quants, "bf16")
    assert [f.path_in_repo for f in bf16.files] == ["BF16/Qwen3-30B-A3B-BF16-00001-of-00002.gguf",
                                                    "BF16/Qwen3-30B-A3B-BF16-00002-of-00002.gguf"]
    assert bf16.split_count == 2 and bf16.total_bytes == 49_800_000_000 + 11_270_000_000
    assert bf16.first_file.endswith("00001-of-00002.gguf")
    assert find_quant(quants, "UD-Q4_K_XL").total_bytes == 17_720_000_000
    # the sha256 the hub lists travels with each file
    assert all(f.sha256 and len(f.sha256) == 64 for q in quants for f in q.files)
    # listing is one tree request: nothing is downloaded
    assert [r.path for r in hub.api_requests()] == ["/api/models/unsloth/Qwen3-30B-A3B-GGUF/tree/main"]
    assert not hub.bytes_served and not [r for r in hub.requests if r.file is not None]


def test_listing_follows_the_hubs_pagination(hub_factory) -> None:
    hub = hub_factory({"unsloth/Qwen3-30B-A3B-GGUF": QWEN3_30B}, page_size=4)
    quants = list_quants("unsloth/Qwen3-30B-A3B-GGUF")
    assert len(quants) == 12 and len(find_quant(quants, "BF16").files) == 2
    assert len(hub.api_requests()) == 4  # 16 entries (15 files + the BF16 folder) in pages of 4


def test_mmproj_files_are_listed_apart_from_quants(hub_factory) -> None:
    hub_factory({"unsloth/gemma-3-27b-it-GGUF": GEMMA3_27B})
    listing = list_repo_files("unsloth/gemma-3-27b-it-GGUF")
    assert [q.name for q in listing.quants] == ["Q4_K_M", "UD-Q4_K_XL", "Q8_0"]
    assert sorted(q.name for q in listing.mmproj) == ["mmproj-BF16", "mmproj-F16", "mmproj-F32"]
    assert [f.path_in_repo for f in listing.other_files] == ["README.md"]


def test_per_quant_folders_and_lowercase_names(hub_factory) -> None:
    hub_factory({"bartowski/Llama-3.3-70B-Instruct-GGUF": LLAMA33_70B})
    quants = list_quants("bartowski/Llama-3.3-70B-Instruct-GGUF")
    assert [q.name for q in quants] == ["IQ2_XXS", "Q4_K_M", "Q8_0", "F16"]
    f16 = find_quant(quants, "F16")
    assert f16.split_count == 4 and len(f16.files) == 4 and not f16.warnings
    assert f16.include_patterns() == ["Llama-3.3-70B-Instruct-f16/Llama-3.3-70B-Instruct-f16-*-of-00004.gguf"]


def test_a_shard_missing_from_the_listing_is_reported() -> None:
    files = [QuantFile("M-Q8_0-00001-of-00003.gguf", 10), QuantFile("M-Q8_0-00003-of-00003.gguf", 10)]
    quants, _, _ = group_files(files)
    assert quants[0].split_count == 3
    assert quants[0].warnings == ["1 of 3 shards not in the listing: 00002-of-00003"]
    assert check_files_present(quants[0], Path("/nonexistent"))[-1] == \
        "missing shard 00002-of-00003 (not in the listing either)"


def test_unknown_quant_names_what_there_is(hub_factory) -> None:
    hub_factory({"unsloth/gemma-3-27b-it-GGUF": GEMMA3_27B})
    with pytest.raises(BadInput) as err:
        find_quant(list_quants("unsloth/gemma-3-27b-it-GGUF"), "Q3_K_M")
    assert "available: Q4_K_M, UD-Q4_K_XL, Q8_0" in str(err.value)


def test_unknown_repo_says_check_the_repo_id(hub_factory) -> None:
    hub_factory({"unsloth/gemma-3-27b-it-GGUF": GEMMA3_27B})
    with pytest.raises(ExternalFailure) as err:
        list_quants("unsloth/gemma-3-72b-it-GGUF")
    assert "repository not found" in str(err.value) and "check the repo id" in str(err.value)


def test_repo_without_gguf_files_is_explained(hub_factory) -> None:
    hub_factory({"Qwen/Qwen3-30B-A3B": {"model-00001-of-00016.safetensors": 4 * GB, "config.json": b"{}"}})
    with pytest.raises(ExternalFailure) as err:
        list_quants("Qwen/Qwen3-30B-A3B")
    assert "no GGUF model files" in str(err.value) and "-GGUF" in str(err.value)


@pytest.mark.slow  # huggingface_hub retries with backoff (about 24 s) before it gives up
def test_unreachable_hub_is_an_external_failure(hub_factory, tmp_path) -> None:
    hub = hub_factory({"a/b-GGUF": {"b-Q8_0.gguf": b"GGUF"}})
    quant = find_quant(list_quants("a/b-GGUF"), "Q8_0")
    hub.stop()  # nothing listens on the endpoint any more
    with pytest.raises(ExternalFailure) as err:
        download_quant("a/b-GGUF", quant, tmp_path, progress=False)
    assert "cannot reach the hub" in str(err.value) and "run the download again" in str(err.value)


# ---- download ----------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def tiny_repo(tmp_path_factory) -> dict[str, Path]:
    """A repository of real GGUF files: a single-file Q8_0 and a 3-shard F16 in a folder."""
    d = tmp_path_factory.mktemp("tiny-repo")
    single = write_tiny_model(d / "Tiny-Llama-Q8_0.gguf", "llama")
    (d / "F16").mkdir()
    shards = write_split_model(d / "F16" / "Tiny-Llama-F16.gguf", "llama", n_shards=3)
    files = {"Tiny-Llama-Q8_0.gguf": single, "README.md": d / "README.md"}
    (d / "README.md").write_text("# Tiny Llama\n")
    for s in shards:
        files[f"F16/{s.name}"] = s
    return files


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_download_command_is_exact_per_quant() -> None:
    single = Quant("Q4_K_M", [QuantFile("Qwen3-30B-A3B-Q4_K_M.gguf", 1)])
    assert download_command("unsloth/Qwen3-30B-A3B-GGUF", single, "models/Qwen3-30B-A3B/Q4_K_M") == [
        "hf", "download", "unsloth/Qwen3-30B-A3B-GGUF", "--include", "Qwen3-30B-A3B-Q4_K_M.gguf",
        "--local-dir", "models/Qwen3-30B-A3B/Q4_K_M/"]
    quants, _, _ = group_files([QuantFile(p, s) for p, s in QWEN3_30B.items() if isinstance(s, int)])
    bf16 = find_quant(quants, "BF16")
    assert download_command("unsloth/Qwen3-30B-A3B-GGUF", bf16, Path("models/Qwen3-30B-A3B/BF16"),
                            revision="v2") == [
        "hf", "download", "unsloth/Qwen3-30B-A3B-GGUF", "--include", "BF16/Qwen3-30B-A3B-BF16-*-of-00002.gguf",
        "--revision", "v2", "--local-dir", "models/Qwen3-30B-A3B/BF16/"]


def test_printed_hf_download_command_fetches_exactly_the_quant(hub_factory, tiny_repo, tmp_path) -> None:
    """Run the printed argv with the real `hf` CLI against the local hub; check the result."""
    hf = shutil.which("hf", path=str(Path(sys.executable).parent))
    if hf is None:
        pytest.fail("the `hf` CLI of huggingface_hub is missing from the environment")
    hub = hub_factory({"me/Tiny-Llama-GGUF": tiny_repo})
    quant = find_quant(list_quants("me/Tiny-Llama-GGUF"), "F16")
    target = tmp_path / "models" / "Tiny-Llama" / "F16"
    argv = download_command("me/Tiny-Llama-GGUF", quant, target)
    proc = subprocess.run([hf, *argv[1:]], env=dict(os.environ), capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert check_files_present(quant, target) == []
    assert {path for (_, path) in hub.bytes_served} == {f.path_in_repo for f in quant.files}


def test_download_quant_then_check_files_present(hub_factory, tiny_repo, tmp_path) -> None:
    hub = hub_factory({"me/Tiny-Llama-GGUF": tiny_repo})
    quant = find_quant(list_quants("me/Tiny-Llama-GGUF"), "F16")
    target = tmp_path / "F16"
    assert len(check_files_present(quant, target)) == 3  # before: all three missing

    paths = download_quant("me/Tiny-Llama-GGUF", quant, target, progress=False)
    assert paths == [target / f.path_in_repo for f in quant.files]
    assert [_sha(p) for p in paths] == [_sha(tiny_repo[f.path_in_repo]) for f in quant.files]
    assert check_files_present(quant, target) == []
    assert local_quants(target)[0].name == "F16"

    hub.reset_counts()
    download_quant("me/Tiny-Llama-GGUF", quant, target, progress=False)  # again: nothing to transfer
    assert sum(hub.bytes_served.values()) == 0
    assert {r.method for r in hub.requests} == {"HEAD"}


def test_download_continues_a_partial_file_left_by_an_earlier_run(hub_factory, tiny_repo, tmp_path) -> None:
    hub = hub_factory({"me/Tiny-Llama-GGUF": tiny_repo})
    quant = find_quant(list_quants("me/Tiny-Llama-GGUF"), "Q8_0")
    source = tiny_repo["Tiny-Llama-Q8_0.gguf"]
    size = source.stat().st_size
    target = tmp_path / "Q8_0"
    target.mkdir()
    kept = size // 3
    (target / "Tiny-Llama-Q8_0.gguf").write_bytes(source.read_bytes()[:kept])  # a killed earlier run
    problems = check_files_present(quant, target)
    assert len(problems) == 1 and problems[0].startswith("partial: ") and f"{kept} of {size} bytes" in problems[0]

    download_quant("me/Tiny-Llama-GGUF", quant, target, progress=False)
    assert _sha(target / "Tiny-Llama-Q8_0.gguf") == _sha(source)
    assert hub.bytes_served[("me/Tiny-Llama-GGUF", "Tiny-Llama-Q8_0.gguf")] == size - kept
    gets = hub.file_requests("me/Tiny-Llama-GGUF", "Tiny-Llama-Q8_0.gguf", "GET")
    assert [(g.range, g.status) for g in gets] == [(f"bytes={kept}-", 206)]
    assert check_files_present(quant, target) == []


def test_a_stale_partial_file_is_replaced_not_trusted(hub_factory, tiny_repo, tmp_path) -> None:
    hub_factory({"me/Tiny-Llama-GGUF": tiny_repo})
    quant = find_quant(list_quants("me/Tiny-Llama-GGUF"), "Q8_0")
    source = tiny_repo["Tiny-Llama-Q8_0.gguf"]
    target = tmp_path / "Q8_0"
    target.mkdir()
    (target / "Tiny-Llama-Q8_0.gguf").write_bytes(b"GGUF" + b"\x07" * 1000)  # a different file's start
    download_quant("me/Tiny-Llama-GGUF", quant, target, progress=False)
    assert _sha(target / "Tiny-Llama-Q8_0.gguf") == _sha(source)  # sha256 mismatch -> fetched whole


def test_download_resumes_after_the_connection_drops(hub_factory, tmp_path) -> None:
    """huggingface_hub resumes with a Range request; it keeps whole 10 MiB chunks, so the file is 12 MB."""
    data = b"GGUF" + hashlib.sha256(b"x").digest() * (12 * 2**20 // 32)
    hub = hub_factory({"me/Big-GGUF": {"Big-Q8_0.gguf": data}})
    quant = find_quant(list_quants("me/Big-GGUF"), "Q8_0")
    hub.interrupt_once("me/Big-GGUF", "Big-Q8_0.gguf", after_bytes=11 * 2**20)
    download_quant("me/Big-GGUF", quant, tmp_path, progress=False)
    assert (tmp_path / "Big-Q8_0.gguf").read_bytes() == data
    gets = hub.file_requests("me/Big-GGUF", "Big-Q8_0.gguf", "GET")
    assert [(g.range, g.status) for g in gets] == [(None, 200), (f"bytes={10 * 2**20}-", 206)]
    assert hub.bytes_served[("me/Big-GGUF", "Big-Q8_0.gguf")] < 2 * len(data)


def test_gated_repo_download_says_accept_the_license(hub_factory, tiny_repo, tmp_path) -> None:
    hub_factory({"google/gated-GGUF": {"g-Q8_0.gguf": tiny_repo["Tiny-Llama-Q8_0.gguf"]}}, gated={"google/gated-GGUF"})
    quant = find_quant(list_quants("google/gated-GGUF"), "Q8_0")  # listing a gated repo is allowed
    with pytest.raises(ExternalFailure) as err:
        download_quant("google/gated-GGUF", quant, tmp_path, progress=False)
    assert "accept the license" in str(err.value) and "HF_TOKEN" in str(err.value)


def test_gated_repo_downloads_with_the_token_huggingface_hub_finds(hub_factory, tiny_repo, tmp_path) -> None:
    hub = hub_factory({"google/gated-GGUF": {"g-Q8_0.gguf": tiny_repo["Tiny-Llama-Q8_0.gguf"]}},
                      gated={"google/gated-GGUF"}, send_token=True)
    quant = find_quant(list_quants("google/gated-GGUF"), "Q8_0")
    download_quant("google/gated-GGUF", quant, tmp_path, progress=False)
    assert check_files_present(quant, tmp_path) == []
    assert all(hub.token not in p for p in check_files_present(quant, tmp_path / "elsewhere"))


# ---- completeness check on disk ---------------------------------------------------------------------
def _quant_of(directory: Path, name: str) -> Quant:
    return find_quant(local_quants(directory), name)


def test_check_names_missing_partial_and_corrupt_files(tiny_repo, tmp_path) -> None:
    for rel, src in tiny_repo.items():
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(src, tmp_path / rel)
    quant = _quant_of(tmp_path, "F16")
    assert check_files_present(quant, tmp_path) == []
    s1, s2, s3 = (tmp_path / f.path_in_repo for f in quant.files)

    s2.unlink()
    with open(s3, "r+b") as f:
        f.truncate(s3.stat().st_size - 100)
    data = bytearray(s1.read_bytes())
    data[:4] = b"GGUX"
    s1.write_bytes(bytes(data))
    problems = check_files_present(quant, tmp_path)
    assert problems == [
        f"corrupt: {s1} does not start with the GGUF magic (found b'GGUX')",
        f"missing: {s2} (expected {quant.files[1].size} bytes)",
        f"partial: {s3} has {quant.files[2].size - 100} of {quant.files[2].size} bytes "
        f"({100 * (quant.files[2].size - 100) / quant.files[2].size:.0f}%); run the download again, it continues",
    ]


def test_check_names_split_count_inconsistencies(tmp_path) -> None:
    (tmp_path / "src").mkdir()
    shards = write_split_model(tmp_path / "src" / "M-Q8_0.gguf", "llama", n_shards=3)
    # Someone renamed shards of a 3-way split as if it were a 2-way split.
    (tmp_path / "dst").mkdir()
    for i, s in enumerate(shards[:2], 1):
        shutil.copy(s, tmp_path / "dst" / f"M-Q8_0-0000{i}-of-00002.gguf")
    quant = _quant_of(tmp_path / "dst", "Q8_0")
    problems = check_files_present(quant, tmp_path / "dst")
    assert problems == [f"split mismatch: {tmp_path / 'dst' / f'M-Q8_0-0000{i}-of-00002.gguf'}: split.count is 3, "
                        "the name says 2" for i in (1, 2)]
    # shards 2 and 3 swapped by name: split.no tells
    (tmp_path / "swap").mkdir()
    for i, s in zip((1, 3, 2), shards):
        shutil.copy(s, tmp_path / "swap" / f"M-Q8_0-0000{i}-of-00003.gguf")
    assert check_files_present(_quant_of(tmp_path / "swap", "Q8_0"), tmp_path / "swap") == [
        f"split mismatch: {tmp_path / 'swap' / 'M-Q8_0-00002-of-00003.gguf'}: its metadata says shard 00003 (split.no 2), "
        "the name says 00002",
        f"split mismatch: {tmp_path / 'swap' / 'M-Q8_0-00003-of-00003.gguf'}: its metadata says shard 00002 (split.no 1), "
        "the name says 00003"]
    # the same reader, on the shards as gguf wrote them (split.no counts from 0)
    assert [read_split_keys(s)["split.no"] for s in shards] == [0, 1, 2]
    assert {read_split_keys(s)["split.count"] for s in shards} == {3}


def test_truncated_metadata_is_corrupt_not_a_traceback(tmp_path) -> None:
    shards = write_split_model(tmp_path / "M-Q8_0.gguf", "llama", n_shards=2)
    head = shards[0].read_bytes()[:200]  # cut inside the metadata
    shards[0].write_bytes(head)
    quant = Quant("Q8_0", [QuantFile(shards[0].name, 200), QuantFile(shards[1].name, shards[1].stat().st_size)],
                  split_count=2)
    problems = check_files_present(quant, tmp_path)
    # the header reader's own check: the counts at the start need more bytes than the file has
    assert len(problems) == 1 and problems[0].startswith(f"corrupt: {shards[0]}: metadata unreadable (byte 24: ")
    assert "truncated" in problems[0] and problems[0].endswith("(file is 200 bytes))")


def test_local_quants_reads_the_disk_offline(tiny_repo, tmp_path) -> None:
    for rel, src in tiny_repo.items():
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(src, tmp_path / rel)
    (tmp_path / ".cache").mkdir()
    (tmp_path / ".cache" / "stray-Q2_K.gguf").write_bytes(b"GGUF")
    quants = local_quants(tmp_path)
    assert sorted(q.name for q in quants) == ["F16", "Q8_0"]
    f16 = find_quant(quants, "F16")
    assert f16.split_count == 3
    assert f16.total_bytes == sum(tiny_repo[f.path_in_repo].stat().st_size for f in f16.files)
    assert local_quants(tmp_path / "absent") == []


@pytest.mark.parametrize(("n_kv", "key_len", "says"), [
    (1 << 17, 8, "metadata count 131072 is absurd (limit 65536)"),
    (1, 1 << 25, "string length 33554432 is absurd"),
])
def test_the_check_reads_split_keys_with_the_header_readers_limits(tmp_path, n_kv, key_len, says) -> None:
    """One GGUF walker: a shard's split.* keys are read by the header reader itself, so the strictest
    limits apply here too (a count or a length within what a looser walker allowed is still refused)."""
    import struct

    shard = tmp_path / "M-Q8_0-00001-of-00002.gguf"
    header = b"GGUF" + struct.pack("<IQQ", 3, 0, n_kv) + struct.pack("<Q", key_len)
    shard.write_bytes(header + b"\0" * (4096 - len(header)))
    quant = Quant("Q8_0", [QuantFile(shard.name, 4096)], split_count=2)
    problems = check_files_present(quant, tmp_path)
    assert problems[0].startswith(f"corrupt: {shard}: metadata unreadable (byte ") and says in problems[0]


def test_split_keys_stop_at_the_last_one_needed(tmp_path) -> None:
    shards = write_split_model(tmp_path / "M-Q8_0.gguf", "llama", n_shards=2)
    assert read_split_keys(shards[0]) == {"split.no": 0, "split.count": 2, "split.tensors.count":
                                          read_split_keys(shards[1])["split.tensors.count"]}
    # a damaged tensor table after the metadata does not matter to the split check: it is not read
    import io

    from onboard.llamacpp.gguf_header import GGUFFormatError, read_shard_header

    def whole(data: bytes):
        return read_shard_header(io.BytesIO(data), source="shard 2", size=len(data))

    data = bytearray(shards[1].read_bytes())
    first = whole(bytes(data)).tensors[0].name.encode()
    at = data.index(first, data.rindex(b"split.tensors.count")) + len(first)  # the tensor's n_dims
    data[at:at + 4] = (99).to_bytes(4, "little")
    shards[1].write_bytes(bytes(data))
    with pytest.raises(GGUFFormatError, match="n_dims 99"):
        whole(bytes(data))
    assert read_split_keys(shards[1])["split.count"] == 2


def test_download_progress_is_onboards_one_line_for_the_missing_bytes(hub_factory, tiny_repo, tmp_path,
                                                                       capsys, monkeypatch) -> None:
    """progress=True: onboard's progress line (llamacpp.progress) on stderr, counting what is fetched
    of what was missing (a continued partial file's bytes on disk are not counted as fetched), and no
    second bar from huggingface_hub."""
    monkeypatch.delenv("ONBOARD_QUIET", raising=False)
    hub_factory({"me/Tiny-Llama-GGUF": tiny_repo})
    quant = find_quant(list_quants("me/Tiny-Llama-GGUF"), "F16")
    target = tmp_path / "F16"
    first = tiny_repo[quant.files[0].path_in_repo].read_bytes()
    target.mkdir()
    (target / quant.files[0].path_in_repo).parent.mkdir(parents=True, exist_ok=True)
    (target / quant.files[0].path_in_repo).write_bytes(first[:len(first) // 2])  # a killed earlier run
    missing = quant.total_bytes - len(first) // 2
    capsys.readouterr()
    download_quant("me/Tiny-Llama-GGUF", quant, target, progress=True)
    assert check_files_present(quant, target) == []
    lines = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert lines and all(line.startswith("download: ") for line in lines), lines
    mib = missing / 2**20
    assert lines[-1].startswith(f"download: {mib:.1f}/{mib:.1f} MiB (100%), ") and "MiB/s" in lines[-1]

    capsys.readouterr()
    download_quant("me/Tiny-Llama-GGUF", quant, target, progress=True)  # all there: nothing to fetch, no line
    assert capsys.readouterr().err.strip() == ""
