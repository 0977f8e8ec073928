#!/usr/bin/env bash
# benchmarks/evalplus/benchmark.sh [--profile bench-ID]... [--quick N] [--dataset FILE] [--list]
# EvalPlus over every [bench-*] profile of this repository's models.conf (found by itself), then
# results/REPORT.md and its chart. Needs the bench extra: pip install -e .[bench] (or scripts/install-bench.sh).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
if [[ -n "${PYTHON:-}" ]]; then
    python="$PYTHON"
elif [[ -x "$root/.venv/bin/python" ]]; then
    python="$root/.venv/bin/python"
else
    python=python3
fi
exec "$python" "$here/run.py" --root "$root" "$@"
