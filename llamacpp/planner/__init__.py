"""The placement planner: predict what llama.cpp allocates on every device for a GGUF model,
and choose the fastest placement that fits a rig.

Public entry points: :func:`make_plan` (``plan.py``), :class:`PlanRequest`, :class:`Plan`.
Each module models one of llama.cpp's rules and cites the llama.cpp file/function it follows;
none contains llama.cpp code. Version-dependent rules are keyed on the llama.cpp build number
(``versions.py``).
"""
from __future__ import annotations

from .plan import Plan, PlanRequest, make_plan

__all__ = ["Plan", "PlanRequest", "make_plan"]
