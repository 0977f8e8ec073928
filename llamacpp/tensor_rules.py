"""The tensor-name patterns llama.cpp's placement options stand for (common/common.h, build 11434).

``--cpu-moe`` / ``--n-cpu-moe N`` append ``-ot`` rules matching the expert FFN tensors, and
``--n-cpu-ffn N`` the dense FFN tensors, of the first N blocks. The planner (to predict them) and the
preset export (to write them out in a profile's own rule order) both need exactly these strings.
"""
from __future__ import annotations

FFN_EXPS_REGEX = r"\.ffn_(up|down|gate|gate_up)_(ch|)exps"  # LLM_FFN_EXPS_REGEX
FFN_DENSE_REGEX = r"\.ffn_(up|down|gate)\."  # the dense FFN of one block (--n-cpu-ffn)
