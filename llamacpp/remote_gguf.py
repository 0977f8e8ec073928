"""Read the GGUF header of a file on the Hugging Face hub by HTTP range requests.

Why: the evaluate phase must know a model (architecture, tensor table, sizes) before anything
is downloaded; a GGUF header is at most a few MiB at the start of a file of many GiB. This
module fetches only those bytes, through huggingface_hub's own URL building
(``hf_hub_url``), metadata request (``get_hf_file_metadata``: size, commit, CDN location,
auth and the hub's typed errors) and HTTP session (``get_session``), then hands a seekable
stream to the same parser as local files (``gguf_header.read_shard_header``).

Requests per file: one HEAD, then ranged GETs of growing blocks (``first_block``, doubling up
to ``MAX_BLOCK``) only as far as the parser reads: a tiny file or a later shard of a split model
needs one GET, a first shard with a 150k-token vocabulary three or four. Memory holds one block;
bytes fetched exceed the header by less than one block (at most 4 MiB), never the tensor data.
Hub and network failures, at the HEAD or in the middle of the header, go through the one adapter
(``hub_errors``): exit 8 with the repository, the file and what to do.
"""
from __future__ import annotations

import io
from dataclasses import dataclass, field
from typing import Any

from onboard.llamacpp.errors import ExternalFailure
from onboard.llamacpp.gguf_header import DEFAULT_MAX_ARRAY_ITEMS, combine_shards, read_shard_header, split_shard_paths
from onboard.llamacpp.gguf_model import GGUFHeader
from onboard.llamacpp.hub_errors import hub_errors

__all__ = ["read_remote_header", "RemoteStats", "HubRangeStream"]

FIRST_BLOCK = 512 << 10
MAX_BLOCK = 4 << 20  # caps the overshoot of the last block


@dataclass
class RemoteStats:
    """What reading cost: requests made and body bytes received (for the benchmark and tests)."""

    head_requests: int = 0
    get_requests: int = 0
    bytes_fetched: int = 0
    per_file: dict[str, int] = field(default_factory=dict)

    @property
    def requests(self) -> int:
        return self.head_requests + self.get_requests


class HubRangeStream(io.RawIOBase):
    """A read-only, seekable view of one remote file, filled by ranged GETs of growing blocks."""

    def __init__(self, url: str, size: int, headers: dict[str, str], stats: RemoteStats, label: str,
                 *, first_block: int = FIRST_BLOCK, max_block: int = MAX_BLOCK, repo_id: str | None = None,
                 filename: str | None = None, revision: str = "main") -> None:
        super().__init__()
        self.url, self.size, self.headers, self.stats, self.label = url, size, headers, stats, label
        # whose file this is, for the message of a failed request (the label when not given)
        self.repo_id, self.filename, self.revision = repo_id or label, filename, revision
        self.block = first_block
        self.max_block = max_block
        self.pos = 0
        self.buf_start = 0
        self.buf = b""

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self.pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self.pos, io.SEEK_END: self.size}[whence]
        self.pos = max(0, base + offset)
        return self.pos

    def read(self, n: int = -1) -> bytes:
        if n is None or n < 0:
            n = self.size - self.pos
        n = min(n, max(self.size - self.pos, 0))
        if n == 0:
            return b""
        head = b""
        buf_end = self.buf_start + len(self.buf)
        if self.buf_start <= self.pos < buf_end:  # serve what the last block holds, fetch only the rest
            head = self.buf[self.pos - self.buf_start:self.pos - self.buf_start + n]
            self.pos += len(head)
            n -= len(head)
            if n == 0:
                return head
        self._fetch(self.pos, max(n, self.block))
        self.block = min(self.block * 2, self.max_block)
        tail = self.buf[:n]
        self.pos += len(tail)
        return head + tail

    def readinto(self, b: Any) -> int:
        data = self.read(len(b))
        b[:len(data)] = data
        return len(data)

    def _fetch(self, start: int, length: int) -> None:
        # a failed request becomes ExternalFailure here, inside the parser's read: it must not be
        # mistaken for a damaged file (huggingface_hub's HTTP errors are OSErrors)
        with hub_errors(self.repo_id, self.filename, revision=self.revision):
            self._get(start, length)

    def _get(self, start: int, length: int) -> None:
        from huggingface_hub.utils import get_session, hf_raise_for_status

        end = min(start + length, self.size) - 1
        headers = dict(self.headers, Range=f"bytes={start}-{end}")
        want = end - start + 1
        chunks: list[bytes] = []
        got = 0
        self.stats.get_requests += 1
        with get_session().stream("GET", self.url, headers=headers) as response:
            if response.status_code >= 400:
                response.read()  # error bodies are small; hf_raise_for_status reads them
                hf_raise_for_status(response)
            if response.status_code == 200 and start > 0:
                raise ExternalFailure(f"{self.label}: the server ignored the Range request (HTTP 200 for "
                                      f"bytes {start}-{end}); refusing to download the whole file")
            for chunk in response.iter_bytes():
                chunks.append(chunk)
                got += len(chunk)
                if got >= want:  # a server ignoring Range at offset 0: stop after what we need
                    break
        data = b"".join(chunks)[:want]
        self.stats.bytes_fetched += len(data)
        self.stats.per_file[self.label] = self.stats.per_file.get(self.label, 0) + len(data)
        self.buf_start, self.buf = start, data


def read_remote_header(
    repo_id: str,
    filename: str,
    *,
    revision: str = "main",
    token: str | bool | None = None,
    max_array_items: int = DEFAULT_MAX_ARRAY_ITEMS,
    first_block: int = FIRST_BLOCK,
    stats: RemoteStats | None = None,
) -> GGUFHeader:
    """Header of ``repo_id``/``filename`` read with range requests; every shard of a split model.

    ``filename`` may be any shard (``...-00002-of-00003.gguf``): all shards are read. The
    returned header's ``source`` is ``hf://<repo_id>@<revision>/<filename>`` and ``file_sizes``
    are the hub's sizes. Hub or network failures raise ``ExternalFailure`` (exit 8); a file
    that is not a valid GGUF raises ``GGUFFormatError`` (exit 6). Pass ``stats`` to count.
    """
    from huggingface_hub import get_hf_file_metadata, hf_hub_url
    from huggingface_hub.utils import build_hf_headers

    stats = stats if stats is not None else RemoteStats()
    shard_names = [str(p).replace("\\", "/") for p in (split_shard_paths(filename) or [filename])]
    # split_shard_paths keeps the folder part (a quant in a sub-folder of the repo)
    shards = []
    for name in shard_names:
        label = f"hf://{repo_id}@{revision}/{name}"
        with hub_errors(repo_id, name, revision=revision):
            url = hf_hub_url(repo_id, name, revision=revision)
            stats.head_requests += 1
            meta = get_hf_file_metadata(url, token=token)
            if meta.size is None:
                raise ExternalFailure(f"{label}: the hub did not report the file size")
            headers = build_hf_headers(token=token)
            headers["Accept-Encoding"] = "identity"
            stream = HubRangeStream(meta.location, meta.size, headers, stats, label, first_block=first_block,
                                    repo_id=repo_id, filename=name, revision=revision)
            shards.append(read_shard_header(stream, source=label, size=meta.size,
                                            max_array_items=max_array_items, chunk=first_block))
    return combine_shards(shards, source=f"hf://{repo_id}@{revision}/{shard_names[0]}")

