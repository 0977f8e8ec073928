"""The shards of a split GGUF model: their names (``<prefix>-0000k-of-0000N.gguf``), each shard's
header, and joining them into one :class:`GGUFHeader` after checking the ``split.*`` keys agree.

Why apart from the parser: the same joining serves local files (``gguf_header.read_header``) and files
on the hub (``remote_gguf``), whose shards are read one by one by different means.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

from onboard.llamacpp.gguf_cursor import GGUFFormatError
from onboard.llamacpp.gguf_model import GGUFHeader, TensorInfo

_SPLIT_NAME = re.compile(r"^(?P<prefix>.*)-(?P<no>\d{5})-of-(?P<count>\d{5})\.gguf$")


@dataclass
class ShardHeader:
    """The header of one file (one shard). Tensor offsets are relative to ``data_offset``."""

    source: str
    version: int
    metadata: dict[str, Any]
    tensors: list[TensorInfo]
    alignment: int
    data_offset: int
    file_size: int | None
    warnings: list[str] = field(default_factory=list)

    @property
    def data_end(self) -> int:
        """Where the last tensor's data ends (absolute offset): the size a complete file needs."""
        return self.data_offset + max((t.offset + t.n_bytes for t in self.tensors), default=0)

    @property
    def complete(self) -> bool:
        return self.file_size is not None and self.file_size >= self.data_end


def split_shard_paths(path: str | Path) -> list[Path] | None:
    """All shard paths of a split model when ``path`` is named ``<prefix>-0000k-of-0000N.gguf``."""
    p = Path(path)
    m = _SPLIT_NAME.match(p.name)
    if not m:
        return None
    count = int(m["count"])
    if count < 1 or int(m["no"]) < 1 or int(m["no"]) > count:
        return None
    return [p.with_name(f"{m['prefix']}-{i:05d}-of-{count:05d}.gguf") for i in range(1, count + 1)]


def _split_key(shard: ShardHeader, key: str) -> int | None:
    v = shard.metadata.get(key)
    return v if isinstance(v, int) and not isinstance(v, bool) else None


def combine_shards(shards: Sequence[ShardHeader], *, source: str) -> GGUFHeader:
    """Join the shards of one model into a GGUFHeader, validating the split.* keys."""
    if not shards:
        raise GGUFFormatError("no shards", path=source)
    first = shards[0]
    count = _split_key(first, "split.count")
    warnings: list[str] = []
    if len(shards) > 1 or (count is not None and count > 1):
        if count != len(shards):
            raise GGUFFormatError(
                f"split.count is {count} but {len(shards)} shard file(s) were found",
                path=first.source, field="split.count",
                fix="name the first shard (<name>-00001-of-0000N.gguf) with all shards next to it")
        total = _split_key(first, "split.tensors.count")
        for i, shard in enumerate(shards):
            no, cnt = _split_key(shard, "split.no"), _split_key(shard, "split.count")
            if no != i:
                raise GGUFFormatError(f"split.no is {no}, expected {i} (shard {i + 1} of {len(shards)})",
                                      path=shard.source, field="split.no")
            if cnt != count:
                raise GGUFFormatError(f"split.count is {cnt}, the first shard says {count}",
                                      path=shard.source, field="split.count")
            if _split_key(shard, "split.tensors.count") != total:
                raise GGUFFormatError("split.tensors.count differs from the first shard's",
                                      path=shard.source, field="split.tensors.count")
        n = sum(len(s.tensors) for s in shards)
        if total != n:
            raise GGUFFormatError(f"split.tensors.count is {total} but the shards hold {n} tensors",
                                  path=first.source, field="split.tensors.count")
    tensors: list[TensorInfo] = []
    names: set[str] = set()
    for i, shard in enumerate(shards):
        for t in shard.tensors:
            if t.name in names:
                raise GGUFFormatError(f"tensor '{t.name}' appears in more than one shard", path=shard.source)
            names.add(t.name)
            tensors.append(TensorInfo(t.name, t.ggml_type, t.shape, t.n_bytes, t.offset, i))
        if not shard.complete:
            have = "unknown" if shard.file_size is None else f"{shard.file_size}"
            warnings.append(f"{shard.source}: header only or partial file: {have} bytes present, "
                            f"{shard.data_end} needed for all tensor data")
        warnings.extend(shard.warnings)
    if any(s.alignment != first.alignment for s in shards):
        warnings.append("shards use different general.alignment values; the first shard's is reported")
    if "general.architecture" not in first.metadata:
        warnings.append(f"{first.source}: no general.architecture in the metadata")
    return GGUFHeader(
        metadata=dict(first.metadata),
        tensors=tensors,
        source=source,
        version=first.version,
        alignment=first.alignment,
        data_offsets=[s.data_offset for s in shards],
        file_sizes=[s.file_size for s in shards],
        complete=all(s.complete for s in shards),
        warnings=warnings,
    )
