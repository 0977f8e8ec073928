"""Malformed headers from a generator: random truncations, byte flips, absurd counts and lengths,
insertions and deletions applied to REAL GGUF headers (written by gguf's GGUFWriter).

Whatever the damage, the reader either returns a header or raises GGUFFormatError (never another
exception, never a traceback for the person), reads no more bytes than the file has, and its
peak Python memory (tracemalloc) stays under a fixed bound that does not depend on the
lengths and counts written in the file.

Examples: ``ONBOARD_FUZZ_EXAMPLES`` (default 10,000, about a minute; set it lower while iterating).
Every run counts its cases, their outcomes and the largest peak in the reliability figures.
"""
from __future__ import annotations

import io
import os
import struct
import tracemalloc
from pathlib import Path

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from onboard.llamacpp.gguf_header import GGUFFormatError, combine_shards, read_shard_header
from tests import reliability
from tests.gguf_factory import model_spec, write_header_only, write_split_model, write_tiny_model

N_EXAMPLES = int(os.environ.get("ONBOARD_FUZZ_EXAMPLES", "10000"))
FIGURES = "fuzzed GGUF headers (zero tracebacks)"
PEAK_LIMIT = 8 << 20  # bytes of Python allocations while parsing one (<= ~40 KB) damaged header
INTERESTING_U64 = [0, 1, 2, 3, 4, 31, 32, 255, 256, 4096, 65535, 2**31 - 1, 2**31, 2**32 - 1, 2**32,
                   2**40, 2**62, 2**63 - 1, 2**63, 2**64 - 1]


def _seed_files(d: Path) -> list[bytes]:
    """Real headers (plus the first bytes of tensor data) of several shapes."""
    files = [
        write_tiny_model(d / "llama.gguf", "llama", n_vocab=200),
        write_tiny_model(d / "mla.gguf", "deepseek2", n_vocab=200, n_layer=2),
        write_split_model(d / "split.gguf", "llama", n_shards=2, n_vocab=200)[1],
    ]
    spec = model_spec("gemma3", n_vocab=200, swa_pattern="array", tensor_types={"*ffn*": "Q4_K"})
    files.append(write_header_only(d / "ho.gguf", spec.tensors, spec.metadata))
    seeds = []
    for f in files:
        data = f.read_bytes()
        shard = read_shard_header(io.BytesIO(data), source=str(f), size=len(data))
        seeds.append(data[: shard.data_offset + 256])
    return seeds


SEED_DIR: list[bytes] = []


@pytest.fixture(scope="module", autouse=True)
def seeds(tmp_path_factory: pytest.TempPathFactory) -> None:
    SEED_DIR.extend(_seed_files(tmp_path_factory.mktemp("fuzz-seeds")))


# positions spread over the whole header (hypothesis favours small numbers: take them modulo the size)
position = st.integers(0, 1 << 30)
mutation = st.one_of(
    st.tuples(st.just("truncate"), position),
    st.tuples(st.just("flip"), position, st.binary(min_size=1, max_size=4)),
    st.tuples(st.just("u64"), position, st.sampled_from(INTERESTING_U64)),
    st.tuples(st.just("u32"), position, st.sampled_from([0, 1, 4, 5, 8, 9, 12, 13, 30, 39, 41, 99,
                                                                 2**31, 2**32 - 1])),
    st.tuples(st.just("insert"), position, st.binary(min_size=1, max_size=16)),
    st.tuples(st.just("delete"), position, st.integers(1, 64)),
)


def _apply(data: bytes, m: tuple) -> bytes:
    kind, where = m[0], m[1]
    at = where % (len(data) + 1)
    if kind == "truncate":
        return data[:at]
    if kind == "flip":
        return data[:at] + m[2] + data[at + len(m[2]):]
    if kind == "u64":
        return data[:at] + struct.pack("<Q", m[2]) + data[at + 8:]
    if kind == "u32":
        return data[:at] + struct.pack("<I", m[2]) + data[at + 4:]
    if kind == "insert":
        return data[:at] + m[2] + data[at:]
    return data[:at] + data[at + m[2]:]


class _CountingStream(io.BytesIO):
    def __init__(self, data: bytes) -> None:
        super().__init__(data)
        self.bytes_read = 0

    def read(self, n: int | None = -1) -> bytes:
        out = super().read(n)
        self.bytes_read += len(out)
        return out


@settings(max_examples=N_EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow],
          derandomize=os.environ.get("ONBOARD_FUZZ_RANDOM") is None)
@given(seed=st.integers(0, 3), mutations=st.lists(mutation, min_size=1, max_size=4),
       known_size=st.booleans(), max_items=st.sampled_from([8, 4096]))
def test_damaged_headers_fail_cleanly(seed: int, mutations: list, known_size: bool, max_items: int) -> None:
    data = SEED_DIR[seed]
    for m in mutations:
        data = _apply(data, m)
    stream = _CountingStream(data)
    tracemalloc.start()
    try:
        try:
            shard = read_shard_header(stream, source="fuzz.gguf", size=len(data) if known_size else None,
                                      max_array_items=max_items, chunk=4096)
            combine_shards([shard], source="fuzz.gguf")
            event("parsed")
            outcome = "parsed as a valid header"
        except GGUFFormatError as err:
            assert "fuzz.gguf" in str(err)
            event(f"GGUFFormatError at {err.field.split(' ')[0] if err.field else None}")
            outcome = "refused with GGUFFormatError naming the file"
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < PEAK_LIMIT, f"peak {peak} bytes"
    assert stream.bytes_read <= len(data)
    reliability.count(FIGURES, outcome)
    reliability.peak(FIGURES, "peak Python memory while parsing, bytes", peak)

