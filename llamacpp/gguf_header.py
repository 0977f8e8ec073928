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
the file, the byte offset and the field, in bounded time and memory. These limits are the only
ones: the download check (``hub_download``) reads a shard's ``split.*`` keys with
:func:`read_metadata`, the same parser stopping early. The bounded reads are ``gguf_cursor``'s; the
joining of shards is ``gguf_shards``'.
"""
from __future__ import annotations

import os
import stat
import struct
from collections.abc import Collection
from pathlib import Path
from typing import Any, BinaryIO, Callable, Sequence, TypeVar

from gguf.constants import GGML_QUANT_SIZES, GGUF_DEFAULT_ALIGNMENT, GGUF_MAGIC, GGMLQuantizationType, GGUFValueType

from onboard.llamacpp.gguf_cursor import MAX_HEADER_BYTES, Cursor, GGUFFormatError
from onboard.llamacpp.gguf_model import GGUFHeader, SkippedArray, TensorInfo
from onboard.llamacpp.gguf_shards import ShardHeader, combine_shards, split_shard_paths

__all__ = [
    "GGUFFormatError",
    "ShardHeader",
    "read_header",
    "read_shard_header",
    "read_metadata",
    "combine_shards",
    "split_shard_paths",
    "DEFAULT_MAX_ARRAY_ITEMS",
    "MAX_HEADER_BYTES",
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
_INT64_MAX = (1 << 63) - 1
T = TypeVar("T")

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


class _HeaderParser:
    """Parses one GGUF header; ``endian`` is detected from the version field."""

    def __init__(self, cur: Cursor, max_array_items: int) -> None:
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

    def preamble(self, *, max_tensors: int = MAX_TENSORS) -> tuple[int, int, int]:
        """Magic, version and the two counts (checked against the caps and the bytes left)."""
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
        return version, n_tensors, n_kv

    def metadata(self, n_kv: int, want: Collection[str] | None = None) -> dict[str, Any]:
        """The metadata entries; with ``want``, only those keys, stopping once all are found."""
        metadata: dict[str, Any] = {}
        for k in range(n_kv):
            key = self.string(f"metadata #{k} key", MAX_NAME_BYTES)
            vtype = self.value_type(f"metadata '{key}'")
            value = self.value(vtype, f"metadata '{key}'")
            if want is None or key in want:
                metadata[key] = value
                if want is not None and len(metadata) == len(want):
                    break
        return metadata

    def parse(self) -> ShardHeader:
        cur = self.cur
        version, n_tensors, n_kv = self.preamble()
        metadata = self.metadata(n_kv)

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
    cur = Cursor(stream, source, size, chunk)
    try:
        return _HeaderParser(cur, max_array_items).parse()
    except GGUFFormatError:
        raise
    except (OSError, ValueError) as err:  # I/O failure mid-header: still name the file and offset
        raise cur.error(f"could not read the header: {err}", "header") from err


def read_metadata(path: str | Path, keys: Collection[str]) -> dict[str, Any]:
    """Only ``keys`` of a local GGUF's metadata (those present), reading no further than the last.

    The same parser and limits as :func:`read_header`; arrays are skipped, not kept, so memory stays
    bounded whatever the vocabulary. A malformed header raises :class:`GGUFFormatError`."""
    def parse(f: BinaryIO, size: int) -> dict[str, Any]:
        cur = Cursor(f, str(path), size, 1 << 16)
        parser = _HeaderParser(cur, max_array_items=0)
        try:
            _, _, n_kv = parser.preamble()
            return parser.metadata(n_kv, set(keys))
        except GGUFFormatError:
            raise
        except (OSError, ValueError) as err:
            raise cur.error(f"could not read the header: {err}", "header") from err

    return _open_local(Path(path), parse)


def _open_local(path: Path, parse: Callable[[BinaryIO, int], T]) -> T:
    """``parse(file, size)`` on a local file, refusing what is not a regular file with a clear error."""
    try:
        mode = os.stat(path).st_mode
    except OSError:
        mode = None  # the open below names what is wrong
    if mode is not None and not stat.S_ISREG(mode) and not stat.S_ISDIR(mode):  # a FIFO would block forever
        raise GGUFFormatError("is a FIFO, socket or device, not a GGUF file", path=str(path),
                              fix="give the path of the .gguf file itself")
    try:
        with open(path, "rb") as f:
            return parse(f, os.fstat(f.fileno()).st_size)
    except FileNotFoundError:
        raise GGUFFormatError("file not found", path=str(path), fix="check the path (and that every shard is downloaded)") from None
    except IsADirectoryError:
        raise GGUFFormatError("is a directory, not a GGUF file", path=str(path)) from None
    except PermissionError:
        raise GGUFFormatError("permission denied", path=str(path)) from None


def _read_local(path: Path, max_array_items: int) -> ShardHeader:
    return _open_local(path, lambda f, size: read_shard_header(f, source=str(path), size=size,
                                                              max_array_items=max_array_items))


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
