#!/usr/bin/env bash
# Reproduce the built-in model (builtin:shapes) from nothing: bash scripts/train_builtin.sh RUN [--device cuda]
#
# The stages of docs/model_card.md ("Reproduce"), each a `python -m training.train` run in its
# own folder under RUN. Run it again after an interruption: finished stages (their export exists) are
# skipped and the interrupted one continues from its last checkpoint (--resume). The result is
# RUN/final, a diffusers folder; copy it over mdwidgets/models/shapes to ship it.
# About 3 h on a 2-core CPU (the table in the model card); extra arguments (--device cuda) go to every stage.
set -euo pipefail
cd "$(dirname "$0")/.."
RUN=${1:?usage: bash scripts/train_builtin.sh RUN_FOLDER [--device cuda]}
shift
PY=${PYTHON:-.venv/bin/python}
train() { "$PY" -m training.train --resume "$@"; }

stage() {  # stage NAME INIT [train args...]: fine-tune INIT into RUN/NAME, export RUN/NAME/export
  local name=$1 init=$2; shift 2
  [ -d "$RUN/$name/export" ] && return
  mkdir -p "$RUN/$name"
  # fine-tunes 2-4 reuse fine-tune 1's 12 000 cached scenes
  [ -f "$RUN/ft1/latents.pt" ] && [ ! -f "$RUN/$name/latents.pt" ] && cp "$RUN/ft1/latents.pt" "$RUN/$name/"
  train --out "$RUN/$name" --stage unet --init-from "$init" "$@"
  train --out "$RUN/$name" --stage export --export "$RUN/$name/export"
}

[ -d "$RUN/base/export" ] || train --out "$RUN/base" --stage all --export "$RUN/base/export" "$@"
stage ft1 "$RUN/base/export" --unet-steps 1500 --unet-lr 3e-4 --min-object-px 24 --scenes 12000 --seed 1 "$@"
stage ft2 "$RUN/ft1/export" --unet-steps 1000 --unet-lr 2e-4 --min-object-px 24 --scenes 12000 --seed 2 \
  --p-single 0.3 "$@"
stage ft3 "$RUN/ft2/export" --unet-steps 1000 --unet-lr 2e-4 --min-object-px 24 --scenes 12000 --seed 3 \
  --p-single 0.3 --p-states 0.25 "$@"
stage ft4 "$RUN/ft3/export" --unet-steps 1000 --unet-lr 2e-4 --min-object-px 24 --scenes 12000 --seed 4 \
  --p-single 0.3 --p-states 0.25 "$@"
rm -rf "$RUN/final" && cp -r "$RUN/ft4/export" "$RUN/final"
echo "built-in model: $RUN/final (cp -r $RUN/final/. mdwidgets/models/shapes/ to ship it)"
