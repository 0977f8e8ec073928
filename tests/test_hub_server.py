"""The local hub itself: the shapes huggingface_hub reads, Range answers and the hub's error headers.

Other tests (hub listing and downloads, remote GGUF headers, the workflow) rely on these answers;
here they are checked through the real huggingface_hub client and, for raw HTTP, urllib.
"""
from __future__ import annotations

import hashlib
import urllib.error
import urllib.request

import pytest
from huggingface_hub import HfApi, get_hf_file_metadata, hf_hub_url
from huggingface_hub.errors import RemoteEntryNotFoundError, RepositoryNotFoundError, RevisionNotFoundError
from huggingface_hub.hf_api import RepoFile, RepoFolder

from tests.hub_server import hub_factory  # noqa: F401  (pytest fixture)

DATA = bytes(range(256)) * 8  # 2048 bytes
FILES = {"README.md": b"# hi\n", "Q4_K_M/M-Q4_K_M-00001-of-00002.gguf": DATA, "Q4_K_M/M-Q4_K_M-00002-of-00002.gguf": 5 * 10**9}


def _get(url: str, rng: str | None = None) -> tuple[int, dict[str, str], bytes]:
    req = urllib.request.Request(url, headers={"Range": rng} if rng else {})
    try:
        with urllib.request.urlopen(req) as resp:
            return resp.status, dict(resp.headers), resp.read()
    except urllib.error.HTTPError as err:
        return err.code, dict(err.headers), err.read()


def test_model_info_with_and_without_file_metadata(hub_factory) -> None:
    hub_factory({"me/M-GGUF": FILES})
    api = HfApi()
    plain = api.model_info("me/M-GGUF")
    assert sorted(s.rfilename for s in plain.siblings) == sorted(FILES) and plain.siblings[0].size is None
    full = {s.rfilename: s for s in api.model_info("me/M-GGUF", files_metadata=True).siblings}
    assert full["Q4_K_M/M-Q4_K_M-00001-of-00002.gguf"].size == 2048
    assert full["Q4_K_M/M-Q4_K_M-00001-of-00002.gguf"].lfs.sha256 == hashlib.sha256(DATA).hexdigest()
    assert full["README.md"].lfs is None and full["README.md"].size == 5
    assert api.model_info("me/M-GGUF", revision=plain.sha).sha == plain.sha


def test_tree_and_paths_info(hub_factory) -> None:
    hub_factory({"me/M-GGUF": FILES})
    api = HfApi()
    top = list(api.list_repo_tree("me/M-GGUF"))
    assert [(type(e).__name__, e.path) for e in top] == [("RepoFolder", "Q4_K_M"), ("RepoFile", "README.md")]
    sub = list(api.list_repo_tree("me/M-GGUF", path_in_repo="Q4_K_M", expand=True))
    assert [e.size for e in sub] == [2048, 5 * 10**9] and all(e.last_commit is not None for e in sub)
    info = api.get_paths_info("me/M-GGUF", ["README.md", "Q4_K_M", "absent.txt"])
    assert [(isinstance(e, RepoFile), isinstance(e, RepoFolder), e.path) for e in info] == [
        (True, False, "README.md"), (False, True, "Q4_K_M")]


def test_resolve_headers_and_ranges(hub_factory) -> None:
    hub = hub_factory({"me/M-GGUF": FILES})
    url = hf_hub_url("me/M-GGUF", "Q4_K_M/M-Q4_K_M-00001-of-00002.gguf")
    meta = get_hf_file_metadata(url)
    assert (meta.size, meta.etag) == (2048, hashlib.sha256(DATA).hexdigest())
    assert meta.commit_hash == HfApi().model_info("me/M-GGUF").sha

    status, headers, body = _get(url, "bytes=10-19")
    assert (status, headers["Content-Range"], body) == (206, "bytes 10-19/2048", DATA[10:20])
    assert _get(url, "bytes=2040-")[2] == DATA[2040:]
    assert _get(url, "bytes=-8")[2] == DATA[-8:]
    assert _get(url, "bytes=0-99999")[1]["Content-Range"] == "bytes 0-2047/2048"
    status, headers, _ = _get(url, "bytes=4096-")
    assert status == 416 and headers["Content-Range"] == "bytes */2048"
    big = hf_hub_url("me/M-GGUF", "Q4_K_M/M-Q4_K_M-00002-of-00002.gguf")
    status, headers, body = _get(big, "bytes=4999999990-")
    assert status == 206 and len(body) == 10  # a size-only file serves pattern bytes, not 5 GB of memory
    served = hub.bytes_served[("me/M-GGUF", "Q4_K_M/M-Q4_K_M-00001-of-00002.gguf")]
    assert served == 10 + 8 + 8 + 2048


def test_errors_carry_the_hubs_codes(hub_factory) -> None:
    hub_factory({"me/M-GGUF": FILES})
    api = HfApi()
    with pytest.raises(RepositoryNotFoundError):
        api.model_info("me/absent")
    with pytest.raises(RevisionNotFoundError):
        api.model_info("me/M-GGUF", revision="v9")
    with pytest.raises(RemoteEntryNotFoundError):
        get_hf_file_metadata(hf_hub_url("me/M-GGUF", "nope.gguf"))
