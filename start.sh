#!/usr/bin/env bash
# ./start.sh <profile-id> [--dry-run] [--port N]
# Start llama-server with a profile of this repository's models.conf. The command line comes from
# `onboard serve`, the same builder the test phase measured; --dry-run prints it.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
if [[ $# -lt 1 || "$1" == -* ]]; then
    echo "usage: ./start.sh <profile-id> [--dry-run] [--port N]" >&2
    exit 2
fi
if command -v onboard >/dev/null 2>&1; then
    onboard=onboard
elif [[ -x "$here/.venv/bin/onboard" ]]; then
    onboard="$here/.venv/bin/onboard"
else
    echo "start.sh: 'onboard' not found on PATH or in $here/.venv (pip install -e .)" >&2
    exit 9
fi
exec "$onboard" --root "$here" serve "$@"
