#!/usr/bin/env bash
# Set up, then render the example composition with the built-in model to outputs/shapes.png.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
mkdir -p outputs
.venv/bin/python -m mdwidgets render mdwidgets/examples/shapes.json -o outputs/shapes.png --overwrite --seed 0 "$@"
