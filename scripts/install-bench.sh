#!/usr/bin/env bash
# Install the benchmark extra (EvalPlus + matplotlib) into a Python environment, minimally.
#
# Why not `pip install evalplus`: its full dependency set (vllm/transformers/openai/anthropic/google
# clients, ~79 packages, ~830 MB) is for generating with EvalPlus's own backends. onboard generates with
# its own client and only runs EvalPlus's `sanitize` and `evaluate`, which import the packages below
# (`datasets` is imported by evalplus.data at import time). Checked with evalplus 0.3.1.
#
# Usage: bash scripts/install-bench.sh      (PYTHON = the Python to install into, default .venv/bin/python)
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-.venv/bin/python}"
"$PYTHON" -m pip install --quiet --no-deps "evalplus==0.3.1"
"$PYTHON" -m pip install --quiet \
    "appdirs>=1.4" "datasets>=2.14" "fire>=0.5" "numpy>=1.24" "psutil>=5.9" "rich>=13" "tempdir>=0.7" \
    "termcolor>=2" "tqdm>=4.60" "tree-sitter>=0.22" "tree-sitter-python>=0.21" "wget>=3.2" \
    "matplotlib>=3.7" "pillow>=10"
"$PYTHON" -c "import evalplus.evaluate, evalplus.sanitize, matplotlib; print('bench extra: evalplus', __import__('importlib.metadata').metadata.version('evalplus'))"
