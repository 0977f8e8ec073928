"""A real GGUF carrying ``general.sampling.*`` keys, written with gguf's own GGUFWriter (its typed
``add_sampling_*`` methods, exactly as convert_hf_to_gguf.py writes them from generation_config)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
from gguf import GGUFWriter


def write_sampling_gguf(path: Path, *, temp: float | None = None, top_p: float | None = None,
                        top_k: int | None = None, min_p: float | None = None,
                        penalty_repeat: float | None = None, mirostat: int | None = None,
                        chat_template: str | None = None) -> Path:
    writer = GGUFWriter(path, "llama")
    writer.add_name("sampler test")
    if temp is not None:
        writer.add_sampling_temp(temp)
    if top_p is not None:
        writer.add_sampling_top_p(top_p)
    if top_k is not None:
        writer.add_sampling_top_k(top_k)
    if min_p is not None:
        writer.add_sampling_min_p(min_p)
    if penalty_repeat is not None:
        writer.add_sampling_penalty_repeat(penalty_repeat)
    if mirostat is not None:
        writer.add_sampling_mirostat(mirostat)
    if chat_template is not None:
        writer.add_chat_template(chat_template)
    writer.add_tensor("token_embd.weight", np.zeros((4, 8), dtype=np.float32))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path
