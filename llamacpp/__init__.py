"""llama.cpp domain knowledge: GGUF headers, hardware, memory model, placement, server
command lines, log analysis, sampler extraction and hub access.

This package imports nothing from ``workflow``, ``phases`` or ``store`` so that it can be
used and tested on its own.
"""
