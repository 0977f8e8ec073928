"""Plain data read from a GGUF header: metadata key/values and the tensor table.

Shared by the header reader (``gguf_header``), the model summary and the planner, so that
each can be written and tested against the same shapes. No tensor data is ever held here.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class TensorInfo:
    """One entry of a GGUF tensor table.

    ``shape`` is in GGUF (ggml) order: ``shape[0]`` is the row length (ne0).
    ``n_bytes`` is the exact ggml size for ``ggml_type`` (block types round per row).
    ``offset`` is relative to the start of the data section of ``shard`` (0-based shard index).
    """

    name: str
    ggml_type: int  # gguf.GGMLQuantizationType value
    shape: tuple[int, ...]
    n_bytes: int
    offset: int
    shard: int = 0

    @property
    def n_elements(self) -> int:
        n = 1
        for d in self.shape:
            n *= d
        return n


@dataclass
class GGUFHeader:
    """Everything in a GGUF file (or all shards of a split model) except the tensor data.

    ``metadata`` maps keys to Python values (str, int, float, bool, list); arrays that were
    skipped to bound memory (tokenizer tokens, scores, merges) hold ``SkippedArray``.
    ``complete`` is False for a header-only or partial file (tensor data missing).
    """

    metadata: dict[str, Any]
    tensors: list[TensorInfo]
    source: str
    version: int = 3
    alignment: int = 32
    data_offsets: list[int] = field(default_factory=list)  # per shard: where tensor data starts
    file_sizes: list[int | None] = field(default_factory=list)  # per shard, when known
    complete: bool = True
    warnings: list[str] = field(default_factory=list)

    @property
    def architecture(self) -> str | None:
        return self.metadata.get("general.architecture")

    def arch_key(self, suffix: str, default: Any = None) -> Any:
        """``<arch>.<suffix>`` from the metadata, e.g. ``arch_key("block_count")``."""
        arch = self.architecture
        if arch is None:
            return default
        return self.metadata.get(f"{arch}.{suffix}", default)


@dataclass(frozen=True)
class SkippedArray:
    """Stands in for a large metadata array that was not loaded (only its type and length)."""

    item_type: int
    length: int
