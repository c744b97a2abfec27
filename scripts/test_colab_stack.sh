#!/usr/bin/env bash
# The non-browser tests on Colab's stack, as its published package list of 2026-08 names it:
# Python 3.13, torch 2.11, diffusers 0.39, transformers 5.15, ipywidgets 7.7.1 (no ipycanvas).
# Those are installed first, then mdwidgets the way the notebooks' Colab cell does; the job fails
# if that changes torch, diffusers or transformers (the README's Install section says it does not)
# and prints what became of ipywidgets (replaced by 8.x: the Studio needs it).
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=.venv-colab
COLAB="torch==2.11.0 diffusers==0.39.0 transformers==5.15.0 ipywidgets==7.7.1"
if [ -z "${PYTHON:-}" ]; then
  PYTHON=""
  for candidate in python3.13 "$(pyenv root 2>/dev/null || echo /nonexistent)"/versions/3.13*/bin/python3.13; do
    if "$candidate" -c "" 2>/dev/null; then PYTHON="$candidate"; break; fi
  done
  [ -n "$PYTHON" ] || { echo "colab job: no Python 3.13 here (PYTHON=... chooses one); skipped"; exit 0; }
fi
rm -rf "$VENV"  # afresh each run, as on Colab
"$PYTHON" -m venv "$VENV"
"$VENV/bin/python" -m pip install --quiet --upgrade pip
# shellcheck disable=SC2086
"$VENV/bin/python" -m pip install --quiet $COLAB pytest hypothesis nbclient nbformat ipykernel packaging
KEPT='^(torch|diffusers|transformers)=='
before=$("$VENV/bin/python" -m pip freeze | grep -iE "$KEPT" | sort)
widgets_before=$("$VENV/bin/python" -m pip freeze | grep -iE '^ipywidgets==')
"$VENV/bin/python" -m pip install --quiet -e .  # what the Colab cell does (editable: the tree under test)
after=$("$VENV/bin/python" -m pip freeze | grep -iE "$KEPT" | sort)
if [ "$before" != "$after" ]; then
  echo "colab job: installing mdwidgets changed Colab's packages:"; diff <(echo "$before") <(echo "$after"); exit 1
fi
echo "colab job: $("$VENV/bin/python" --version); installing mdwidgets left these as they were:"
echo "$after"
echo "and changed: $widgets_before -> $("$VENV/bin/python" -m pip freeze | grep -iE '^ipywidgets==')"
"$VENV/bin/python" -m pip freeze --exclude-editable | grep -iE '^(ipycanvas|numpy|pillow|tokenizers|safetensors)=='
"$VENV/bin/python" -m pytest --ignore=tests/e2e -p no:cacheprovider "$@"
