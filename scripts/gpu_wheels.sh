#!/usr/bin/env bash
# Download the wheels that scripts/gpu_check.sh installs on the GPU machine, into .gpu-wheels/
# (git-ignored; carry it there). That machine has Python 3.12 with torch, transformers,
# accelerate, peft, pillow, matplotlib, safetensors, tqdm (and numpy) but no way to download; it
# lacks diffusers, ipywidgets, ipycanvas, the test tools and their small dependencies. Versions
# are read from requirements-dev.txt so they stay the ones CI tests. Needs PyPI (run it here).
#
#     bash scripts/gpu_wheels.sh [FOLDER]      # default .gpu-wheels; prints the folder's size
set -euo pipefail
cd "$(dirname "$0")/.."
DEST="${1:-.gpu-wheels}"
PIP="${PIP:-.venv/bin/python -m pip}"
# What gpu_check.sh needs: the runtime packages that machine lacks, the test tools the non-browser
# suite imports (notebooks: nbclient/ipykernel; the wheel test: setuptools), and psutil (budget).
WANTED="diffusers ipywidgets ipycanvas psutil pytest hypothesis nbclient nbformat ipykernel packaging"
# Already on that machine and large; left out to stay far below the 64 MiB the device tool carries
# (numpy alone is 16 MiB). The small ones it has (safetensors, tqdm) stay in: diffusers may need a
# newer one (0.42 needs safetensors >= 0.8) and pip installs them only where the installed one is too old.
PRESENT='^(torch|transformers|tokenizers|accelerate|peft|pillow|matplotlib|numpy)-'

pins=()
for name in $WANTED; do
  pin=$(grep -iE "^${name}==" requirements-dev.txt) || { echo "no pin for $name in requirements-dev.txt" >&2; exit 1; }
  pins+=("$pin")
done
pins+=("setuptools>=77")  # pyproject's build backend (tests/test_packaging.py builds the wheel)
mkdir -p "$DEST"
# shellcheck disable=SC2086
$PIP download --quiet --dest "$DEST" --python-version 3.12 --implementation cp --abi cp312 \
  --only-binary=:all: --platform manylinux2014_x86_64 --platform manylinux_2_17_x86_64 \
  --platform manylinux_2_28_x86_64 --platform linux_x86_64 "${pins[@]}"
find "$DEST" -maxdepth 1 -name '*.whl' -printf '%f\n' | grep -iE "$PRESENT" | while read -r wheel; do
  rm -f "$DEST/$wheel"
done
printf '%s\n' "${pins[@]}" > "$DEST/requirements.txt"  # what gpu_check.sh installs from the folder
echo "$(find "$DEST" -name '*.whl' | wc -l) wheels in $DEST: $(du -sh "$DEST" | cut -f1)"
