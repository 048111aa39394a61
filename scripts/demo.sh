#!/usr/bin/env bash
# Set everything up, then run the main job on the bundled sample study area (scripts/run_sample.py):
# samplestudyarea, then the shipped model subsidencelab:subsidencepipeline (prepare -> PCA ->
# error removal -> well buffers -> AM-LSTM), the filter baseline and validation; GeoPackages, PNG
# figures and report.html go to the folder given as $1 (default: ./sample_output).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
out="${1:-$here/sample_output}"
py="$(bash "$here/scripts/setup.sh")"
export QT_QPA_PLATFORM=offscreen
exec "$py" "$here/scripts/run_sample.py" --out "$out"
