#!/usr/bin/env bash
# Set everything up, then run the whole test suite (ruff included, as a test).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
py="$(bash "$here/scripts/setup.sh")"
cd "$here"
export QT_QPA_PLATFORM=offscreen
exec "$py" -m pytest "$@"
