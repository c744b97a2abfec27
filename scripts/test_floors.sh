#!/usr/bin/env bash
# Run the non-browser tests on the oldest versions pyproject.toml allows (scripts/floors.py pins
# each `name>=FLOOR` as `name==FLOOR`) on the oldest supported Python (3.10 where one is found,
# else python3; PYTHON=... chooses), in a venv of their own: .venv-floor.
# PyPI's Linux torch wheels are CUDA builds: the first run downloads ~3 GB (pip caches them).
# Extras that cannot work on the floors are left out with the reason printed (scripts/floors.py).
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=.venv-floor
if [ -z "${PYTHON:-}" ]; then
  PYTHON=python3
  for candidate in python3.10 "$(pyenv root 2>/dev/null || echo /nonexistent)"/versions/3.10*/bin/python3.10; do
    if "$candidate" -c "" 2>/dev/null; then PYTHON="$candidate"; break; fi
  done
fi
rm -rf "$VENV"  # made afresh each run: exactly the floors, nothing left from an earlier set
"$PYTHON" -m venv "$VENV"
"$VENV/bin/python" -m pip install --quiet --upgrade pip "setuptools>=77" "tomli; python_version < '3.11'"
"$VENV/bin/python" scripts/floors.py > "$VENV/floors.txt"
"$VENV/bin/python" -m pip install --quiet -r "$VENV/floors.txt"
"$VENV/bin/python" -m pip install --quiet --no-deps --no-build-isolation -e .  # editable: always the tree under test
echo "floor job: $("$VENV/bin/python" --version), with:"
"$VENV/bin/python" -m pip freeze --exclude-editable | grep -iE \
  '^(torch|diffusers|transformers|tokenizers|safetensors|huggingface.hub|accelerate|numpy|pillow|matplotlib|ipywidgets|ipycanvas|psutil|tqdm|peft)=='
"$VENV/bin/python" -m pytest --ignore=tests/e2e -p no:cacheprovider "$@"
