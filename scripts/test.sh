#!/usr/bin/env bash
# Set up (scripts/setup.sh) and run the whole test suite, real llama-server tests included.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export LLAMA_SERVER="${LLAMA_SERVER:-${ONBOARD_CACHE:-$HOME/.cache/onboard}/llama.cpp/bin/llama-server}"
exec .venv/bin/python -m pytest -q -p no:cacheprovider "$@"
