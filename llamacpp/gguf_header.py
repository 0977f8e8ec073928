"""Read the header of a GGUF model (metadata + tensor table), never its tensor data.

Why a reader of our own: gguf's ``GGUFReader`` memory-maps the whole file and builds numpy views
of every tensor, which needs the complete file (a header-only or partial download fails) and
cannot read from an HTTP range stream. This reader walks the header sequentially through a small
buffer over any seekable binary stream, so the same code reads a local file, every shard of a
split model, and (``remote_gguf``) a file on the hub by range requests.

gguf's constants are the source of truth: ``GGUF_MAGIC``, ``GGUFValueType``,
``GGMLQuantizationType`` and ``GGML_QUANT_SIZES`` (block size and bytes per block), so every
type gguf knows (BF16, K-quants, IQ*, MXFP4, ...) works and an unknown one is a clear error.

Hostile or damaged files: every length and count is checked against the bytes that remain in
the file (and against absolute caps) BEFORE anything is allocated or looped over, so a bad
magic, truncation, absurd count or huge string length ends in :class:`GGUFFormatError` naming
the file, the byte offset and the field, in bounded time and memory.
"""
from __future__ import annotations

import os
import re
import stat
import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO, Sequence

from gguf.constants import GGML_QUANT_SIZES, GGUF_DEFAULT_ALIGNMENT, GGUF_MAGIC, GGMLQuantizationType, GGUFValueType

from llamacpp.errors import BadInput
from llamacpp.gguf_model import GGUFHeader, SkippedArray, TensorInfo

__all__ = [
    "GGUFFormatError",
    "ShardHeader",
    "read_header",
    "read_shard_header",
    "combine_shards",
    "split_shard_paths",
    "DEFAULT_MAX_ARRAY_ITEMS",
]

# Arrays longer than this (tokenizer tokens, scores, merges, token types) are skipped and kept
# as SkippedArray(type, length): per-layer arrays (<= 512 layers) stay, vocabularies do not.
DEFAULT_MAX_ARRAY_ITEMS = 4096
# Caps on what a real GGUF ever holds; beyond them the file is corrupt, not just big.
MAX_KV = 1 << 16                 # metadata entries
MAX_TENSORS = 1 << 20            # tensor infos
MAX_ARRAY_LEN = 1 << 26          # items of one metadata array (vocabularies are ~2^18)
MAX_STRING_BYTES = 16 << 20      # one metadata string (chat templates are ~10-50 KiB)
MAX_NAME_BYTES = 1 << 16         # a metadata key or a tensor name
MAX_DIMS = 4                     # GGML_MAX_DIMS
GGML_MAX_NAME = 64               # llama.cpp refuses tensor names of 64 bytes or more
MAX_ARRAY_DEPTH = 3              # arrays of arrays
MAX_HEADER_BYTES = 1 << 30       # metadata + tensor table (real ones are < 50 MiB)
_INT64_MAX = (1 << 63) - 1

_SCALARS: dict[GGUFValueType, tuple[str, int]] = {
    GGUFValueType.UINT8: ("B", 1),
    GGUFValueType.INT8: ("b", 1),
    GGUFValueType.UINT16: ("H", 2),
    GGUFValueType.INT16: ("h", 2),
    GGUFValueType.UINT32: ("I", 4),
    GGUFValueType.INT32: ("i", 4),
    GGUFValueType.FLOAT32: ("f", 4),
    GGUFValueType.BOOL: ("?", 1),
    GGUFValueType.UINT64: ("Q", 8),
    GGUFValueType.INT64: ("q", 8),
    GGUFValueType.FLOAT64: ("d", 8),
}
_SPLIT_NAME = re.compile(r"^(?P<prefix>.*)-(?P<no>\d{5})-of-(?P<count>\d{5})\.gguf$")


class GGUFFormatError(BadInput):
    """The file is not a readable GGUF: the message names the file, the byte offset and the field."""


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


class _Cursor:
    """Sequential reads over a seekable stream through one bounded buffer.

    Every read states how many bytes it needs; that number is checked against what remains in
    the file (when the size is known) and against the caller's cap before any allocation.
    """

    def __init__(self, stream: BinaryIO, source: str, size: int | None, chunk: int) -> None:
        self.stream = stream
        self.source = source
        self.size = size
        self.chunk = chunk
        self.base = stream.tell()  # absolute offset of buf[0]
        self.start = self.base
        self.buf = b""
        self.i = 0

    @property
    def pos(self) -> int:
        return self.base + self.i

    def remaining(self) -> int | None:
        return None if self.size is None else self.size - self.pos

    def error(self, message: str, what: str, at: int | None = None, fix: str | None = None) -> GGUFFormatError:
        at = self.pos if at is None else at
        return GGUFFormatError(f"byte {at}: {message}", path=self.source, field=what,
                               fix=fix or "re-download the file (a truncated or damaged download is the usual cause)")

    def need(self, n: int, what: str) -> None:
        """Fail cleanly when ``n`` more bytes cannot exist in this file or this header."""
        rem = self.remaining()
        if rem is not None and n > rem:
            raise self.error(f"truncated: {what} needs {n} bytes but only {rem} remain "
                             f"(file is {self.size} bytes)", what)
        if self.pos + n - self.start > MAX_HEADER_BYTES:
            raise self.error(f"header would exceed {MAX_HEADER_BYTES} bytes at {what}: "
                             "a count or length is corrupt", what)

    def read(self, n: int, what: str) -> bytes:
        self.need(n, what)
        avail = len(self.buf) - self.i
        if n <= avail:
            out = self.buf[self.i:self.i + n]
            self.i += n
            return out
        head = self.buf[self.i:]
        want = max(n - avail, self.chunk)
        parts, got = [head], 0
        while got < want:  # a raw stream may return short reads before its end
            piece = self.stream.read(want - got)
            if not piece:
                break
            parts.append(piece)
            got += len(piece)
        data = b"".join(parts)
        if len(data) < n:
            at = self.pos
            self.base, self.buf, self.i = self.pos + len(data), b"", 0
            raise self.error(f"truncated: {what} needs {n} bytes, the file ends after {len(data)}", what, at)
        self.base, self.buf, self.i = self.pos, data, n
        return data[:n]

    def skip(self, n: int, what: str) -> None:
        self.need(n, what)
        avail = len(self.buf) - self.i
        if n <= avail:
            self.i += n
            return
        target = self.pos + n
        self.stream.seek(target)
        self.base, self.buf, self.i = target, b"", 0
        if self.size is None:  # no size known: make sure the bytes exist by reading one back
            self.stream.seek(target - 1)
            if len(self.stream.read(1)) != 1:
                raise self.error(f"truncated: {what} needs {n} bytes past the end of the file", what)


class _HeaderParser:
    """Parses one GGUF header; ``endian`` is detected from the version field."""

    def __init__(self, cur: _Cursor, max_array_items: int) -> None:
        self.cur = cur
        self.max_array_items = max_array_items
        self.endian = "<"

    def scalar(self, vtype: GGUFValueType, what: str) -> Any:
        fmt, size = _SCALARS[vtype]
        return struct.unpack(self.endian + fmt, self.cur.read(size, what))[0]

    def u32(self, what: str) -> int:
        return self.scalar(GGUFValueType.UINT32, what)

    def u64(self, what: str) -> int:
        return self.scalar(GGUFValueType.UINT64, what)

    def string(self, what: str, cap: int) -> str:
        at = self.cur.pos
        n = self.u64(what + " length")
        if n > cap:
            raise self.cur.error(f"string length {n} is absurd (limit {cap})", what, at)
        return self.cur.read(n, what).decode("utf-8", errors="replace")

    def value_type(self, what: str) -> GGUFValueType:
        at = self.cur.pos
        raw = self.u32(what + " type")
        try:
            return GGUFValueType(raw)
        except ValueError:
            raise self.cur.error(f"unknown value type {raw} (gguf knows "
                                 f"{', '.join(t.name for t in GGUFValueType)})", what, at) from None

    def value(self, vtype: GGUFValueType, what: str, depth: int = 0) -> Any:
        if vtype == GGUFValueType.STRING:
            return self.string(what, MAX_STRING_BYTES)
        if vtype != GGUFValueType.ARRAY:
            return self.scalar(vtype, what)
        if depth >= MAX_ARRAY_DEPTH:
            raise self.cur.error(f"arrays nested deeper than {MAX_ARRAY_DEPTH}", what)
        item_type = self.value_type(what + " item")
        at = self.cur.pos
        n = self.u64(what + " length")
        min_item = _SCALARS[item_type][1] if item_type in _SCALARS else (8 if item_type == GGUFValueType.STRING else 12)
        if n > MAX_ARRAY_LEN:
            raise self.cur.error(f"array length {n} is absurd (limit {MAX_ARRAY_LEN})", what, at)
        self.cur.need(n * min_item, f"{what} ({n} items)")
        if n > self.max_array_items:
            self.skip_items(item_type, n, what, depth)
            return SkippedArray(int(item_type), n)
        if item_type in _SCALARS:
            fmt, size = _SCALARS[item_type]
            raw = self.cur.read(n * size, what)
            return list(struct.unpack(f"{self.endian}{n}{fmt}", raw))
        return [self.value(item_type, f"{what}[{i}]", depth + 1) for i in range(n)]

    def skip_items(self, item_type: GGUFValueType, n: int, what: str, depth: int) -> None:
        if item_type in _SCALARS:
            self.cur.skip(n * _SCALARS[item_type][1], what)
            return
        if item_type == GGUFValueType.STRING:
            # vocabularies are 10^5 strings: walk the lengths inside the buffer in one tight loop,
            # and take the careful path (read + skip with checks) only across buffer boundaries
            cur = self.cur
            unpack = struct.Struct(self.endian + "Q").unpack_from
            i = 0
            while i < n:
                buf, pos, end = cur.buf, cur.i, len(cur.buf)
                while i < n and pos + 8 <= end:
                    length = unpack(buf, pos)[0]
                    if length > MAX_STRING_BYTES or pos + 8 + length > end:
                        break
                    pos += 8 + length
                    i += 1
                cur.i = pos
                cur.need(0, what)  # the header-size cap
                if i < n:
                    at = cur.pos
                    length = unpack(cur.read(8, f"{what}[{i}] length"))[0]
                    if length > MAX_STRING_BYTES:
                        raise cur.error(f"string length {length} is absurd", f"{what}[{i}]", at)
                    cur.skip(length, f"{what}[{i}]")
                    i += 1
            return
        for i in range(n):  # nested arrays: read (bounded by depth) and drop
            self.value(item_type, f"{what}[{i}]", depth + 1)

    def parse(self, *, max_tensors: int = MAX_TENSORS) -> ShardHeader:
        cur = self.cur
        magic_raw = cur.read(4, "magic") if (cur.remaining() is None or cur.remaining() >= 4) else None
        if magic_raw is None:
            raise cur.error(f"file too short to be GGUF ({cur.size} bytes)", "magic")
        if struct.unpack("<I", magic_raw)[0] != GGUF_MAGIC:
            shown = magic_raw.decode("latin-1").encode("unicode_escape").decode("ascii")
            raise cur.error(f"invalid magic characters '{shown}', expected 'GGUF': not a GGUF file", "magic", 0,
                            fix="give a .gguf model file (not a safetensors file, an HTML page or a pointer file)")
        at = cur.pos
        version = self.u32("version")
        if version & 0xFFFF == 0 and struct.unpack(">I", struct.pack("<I", version))[0] in (2, 3):
            self.endian = ">"  # big-endian GGUF (s390x conversions)
            version = struct.unpack(">I", struct.pack("<I", version))[0]
        if version not in (2, 3):
            raise cur.error(f"unsupported GGUF version {version} (2 and 3 are readable; "
                            "version 1 files must be re-converted)", "version", at)
        at = cur.pos
        n_tensors = self.u64("tensor count")
        n_kv = self.u64("metadata count")
        if n_tensors > max_tensors:
            raise cur.error(f"tensor count {n_tensors} is absurd (limit {max_tensors})", "tensor count", at)
        if n_kv > MAX_KV:
            raise cur.error(f"metadata count {n_kv} is absurd (limit {MAX_KV})", "metadata count", at + 8)
        # smallest possible entries: kv = key len 8 + 1 byte key + type 4 + 1 byte value;
        # tensor info = name len 8 + n_dims 4 + one dim 8 + type 4 + offset 8
        cur.need(n_kv * 14 + n_tensors * 32, f"{n_kv} metadata entries and {n_tensors} tensor infos")

        metadata: dict[str, Any] = {}
        for k in range(n_kv):
            key = self.string(f"metadata #{k} key", MAX_NAME_BYTES)
            vtype = self.value_type(f"metadata '{key}'")
            metadata[key] = self.value(vtype, f"metadata '{key}'")

        alignment = GGUF_DEFAULT_ALIGNMENT
        if "general.alignment" in metadata:
            alignment = metadata["general.alignment"]
            if not isinstance(alignment, int) or isinstance(alignment, bool) or alignment <= 0 \
                    or alignment & (alignment - 1):
                raise cur.error(f"general.alignment must be a power of two, got {alignment!r}",
                                "metadata 'general.alignment'")

        tensors: list[TensorInfo] = []
        seen: set[str] = set()
        expected_offset = 0  # llama.cpp requires the tensors packed in order, each padded to the alignment
        for k in range(n_tensors):
            at = cur.pos
            name = self.string(f"tensor #{k} name", MAX_NAME_BYTES)
            what = f"tensor '{name}'"
            if len(name.encode("utf-8", errors="replace")) >= GGML_MAX_NAME:
                raise cur.error(f"tensor name is {len(name)} characters; llama.cpp accepts at most "
                                f"{GGML_MAX_NAME - 1} bytes", f"tensor #{k} name", at)
            at = cur.pos
            n_dims = self.u32(what + " n_dims")
            if n_dims > MAX_DIMS:
                raise cur.error(f"n_dims {n_dims} out of range 0..{MAX_DIMS}", what + " n_dims", at)
            shape = tuple(self.u64(f"{what} dim {d}") for d in range(n_dims))
            n_elements = 1
            for d in shape:
                n_elements *= d
            if any(d > _INT64_MAX for d in shape) or n_elements > _INT64_MAX:
                raise cur.error(f"shape {list(shape)} overflows int64", what + " shape", at)
            at = cur.pos
            raw_type = self.u32(what + " type")
            try:
                ggml_type = GGMLQuantizationType(raw_type)
                block, type_size = GGML_QUANT_SIZES[ggml_type]
            except (ValueError, KeyError):
                raise cur.error(f"unknown tensor type {raw_type} (not a ggml type this gguf "
                                "package knows; a newer llama.cpp may; upgrade gguf)", what + " type", at) from None
            row = shape[0] if shape else 1
            if row % block:
                raise cur.error(f"row length {row} is not a multiple of the {ggml_type.name} "
                                f"block size {block}", what + " shape", at)
            n_bytes = (n_elements // row if row else 0) * (row // block) * type_size
            at = cur.pos
            offset = self.u64(what + " offset")
            if offset % alignment:
                raise cur.error(f"data offset {offset} is not a multiple of the alignment {alignment}",
                                what + " offset", at)
            if offset != expected_offset:
                raise cur.error(f"data offset {offset}, expected {expected_offset}: llama.cpp needs the tensors "
                                "packed in order, each padded to the alignment", what + " offset", at)
            expected_offset += -(-n_bytes // alignment) * alignment
            if expected_offset > _INT64_MAX:
                raise cur.error(f"data offset {offset} + size {n_bytes} overflows", what + " offset", at)
            if name in seen:
                raise cur.error(f"duplicate tensor name '{name}'", what, at)
            seen.add(name)
            tensors.append(TensorInfo(name, int(ggml_type), shape, n_bytes, offset))

        data_offset = -(-cur.pos // alignment) * alignment
        return ShardHeader(cur.source, version, metadata, tensors, alignment, data_offset, cur.size)


def read_shard_header(
    stream: BinaryIO,
    *,
    source: str,
    size: int | None = None,
    max_array_items: int = DEFAULT_MAX_ARRAY_ITEMS,
    chunk: int = 1 << 20,
) -> ShardHeader:
    """Parse one GGUF header from a seekable binary stream positioned at the file's start.

    ``size`` is the file's total size when known (local files, the hub's listing): lengths are
    checked against it before allocating. ``chunk`` is how much is read per underlying read;
    a remote stream chooses it to bound the number of requests. Reads only the header bytes.
    """
    cur = _Cursor(stream, source, size, chunk)
    try:
        return _HeaderParser(cur, max_array_items).parse()
    except GGUFFormatError:
        raise
    except (OSError, ValueError) as err:  # I/O failure mid-header: still name the file and offset
        raise cur.error(f"could not read the header: {err}", "header") from err


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


def _read_local(path: Path, max_array_items: int) -> ShardHeader:
    try:
        mode = os.stat(path).st_mode
    except OSError:
        mode = None  # the open below names what is wrong
    if mode is not None and not stat.S_ISREG(mode) and not stat.S_ISDIR(mode):  # a FIFO would block forever
        raise GGUFFormatError("is a FIFO, socket or device, not a GGUF file", path=str(path),
                              fix="give the path of the .gguf file itself")
    try:
        with open(path, "rb") as f:
            size = os.fstat(f.fileno()).st_size
            return read_shard_header(f, source=str(path), size=size, max_array_items=max_array_items)
    except FileNotFoundError:
        raise GGUFFormatError("file not found", path=str(path), fix="check the path (and that every shard is downloaded)") from None
    except IsADirectoryError:
        raise GGUFFormatError("is a directory, not a GGUF file", path=str(path)) from None
    except PermissionError:
        raise GGUFFormatError("permission denied", path=str(path)) from None


def read_header(
    path_or_paths: str | Path | Sequence[str | Path],
    *,
    max_array_items: int = DEFAULT_MAX_ARRAY_ITEMS,
) -> GGUFHeader:
    """Read a local GGUF header; a shard path (``-00001-of-00003.gguf``) reads every shard.

    A sequence of paths is taken as the shards in order. A header-only or partial file gives
    ``complete=False`` and a warning; a malformed one raises :class:`GGUFFormatError`.
    """
    if isinstance(path_or_paths, (str, Path)):
        first = Path(path_or_paths)
        paths = split_shard_paths(first) or [first]
    else:
        paths = [Path(p) for p in path_or_paths]
        if not paths:
            raise GGUFFormatError("no GGUF file given")
    missing = [str(p) for p in paths if not p.exists()]
    if missing and len(paths) > 1:
        raise GGUFFormatError(
            f"{len(missing)} of {len(paths)} shards missing: {', '.join(Path(m).name for m in missing)}",
            path=str(paths[0]), fix="download every shard of the split model into the same folder")
    shards = [_read_local(p, max_array_items) for p in paths]
    return combine_shards(shards, source=str(paths[0]))


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
