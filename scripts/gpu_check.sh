#!/usr/bin/env bash
# GPU check (issue #38): the non-browser test suite with its pipelines on CUDA in float16, then the
# sampler timed there (benchmarks/gpu_check.py). One command, at most ~8 minutes on one H100:
#
#     bash scripts/gpu_check.sh              # on the GPU machine, with .gpu-wheels/ carried there
#     bash scripts/gpu_check.sh --reduced    # no GPU: the same steps on the CPU, tiny models
#
# The GPU machine has Python 3.12 with torch and transformers but no diffusers, ipywidgets,
# ipycanvas or test tools, and cannot download: they are installed from .gpu-wheels/ (made here by
# bash scripts/gpu_wheels.sh) when missing; where all are installed (CI) nothing is installed.
# Writes to $OUT when set (the device tool brings back what is there), else outputs/gpu_check/:
# pytest.txt (the test log), pytest.xml (JUnit), gpu_check.json (everything, the test counts
# included) and gpu_check.txt (a short table). Exits non-zero when a test or the benchmark failed.
#
# Knobs (environment): PYTHON; GPU_CHECK_TESTS (pytest arguments, default the non-browser suite);
# GPU_CHECK_TEST_SECONDS (the suite is interrupted after this, default 240; what ran is reported);
# GPU_CHECK_BENCH_SECONDS (no benchmark section starts after this, default 150);
# MDWIDGETS_TEST_DEVICE / MDWIDGETS_TEST_DTYPE (default cuda / float16, with --reduced cpu / float32).
set -uo pipefail
cd "$(dirname "$0")/.."
REDUCED=()
if [ "${1:-}" = "--reduced" ]; then
  REDUCED=(--reduced)
  export MDWIDGETS_TEST_DEVICE="${MDWIDGETS_TEST_DEVICE:-cpu}" MDWIDGETS_TEST_DTYPE="${MDWIDGETS_TEST_DTYPE:-float32}"
else
  export MDWIDGETS_TEST_DEVICE="${MDWIDGETS_TEST_DEVICE:-cuda}" MDWIDGETS_TEST_DTYPE="${MDWIDGETS_TEST_DTYPE:-float16}"
fi
if [ -z "${PYTHON:-}" ]; then
  if [ -x .venv/bin/python ]; then PYTHON=.venv/bin/python; else PYTHON=python3; fi
fi
OUT_DIR="${OUT:-outputs/gpu_check}"
mkdir -p "$OUT_DIR"

if ! "$PYTHON" -c "import diffusers, ipywidgets, ipycanvas, psutil, pytest, hypothesis, nbclient" 2>/dev/null; then
  if [ ! -f .gpu-wheels/requirements.txt ]; then
    echo "gpu check: diffusers or the test tools are missing and there is no .gpu-wheels/ to install them from;" >&2
    echo "run 'bash scripts/gpu_wheels.sh' where PyPI is reachable and carry .gpu-wheels here" >&2
    exit 2
  fi
  # PIP_BREAK_SYSTEM_PACKAGES: a distribution's Python refuses pip otherwise (PEP 668); no index: offline.
  PIP_BREAK_SYSTEM_PACKAGES=1 "$PYTHON" -m pip install --quiet --no-index --find-links .gpu-wheels \
    -r .gpu-wheels/requirements.txt || exit 2
fi
"$PYTHON" -c "import torch; print('gpu check: torch', torch.__version__, '| cuda', torch.cuda.is_available(),
  '|', torch.cuda.get_device_name() if torch.cuda.is_available() else 'no GPU')"

echo "gpu check: tests on $MDWIDGETS_TEST_DEVICE in $MDWIDGETS_TEST_DTYPE (log: $OUT_DIR/pytest.txt)"
# shellcheck disable=SC2086  # GPU_CHECK_TESTS is a list of pytest arguments
timeout --signal=INT --kill-after=30 "${GPU_CHECK_TEST_SECONDS:-240}" \
  "$PYTHON" -m pytest ${GPU_CHECK_TESTS:---ignore=tests/e2e tests} -p no:cacheprovider -q \
  --junitxml="$OUT_DIR/pytest.xml" > "$OUT_DIR/pytest.txt" 2>&1
tests_status=$?
tail -n 30 "$OUT_DIR/pytest.txt"

echo "gpu check: timings"
"$PYTHON" -m benchmarks.gpu_check "${REDUCED[@]}" --out "$OUT_DIR" --junit "$OUT_DIR/pytest.xml" \
  --tests-exit "$tests_status" --deadline-s "${GPU_CHECK_BENCH_SECONDS:-150}"
bench_status=$?
echo "gpu check: tests exit $tests_status, benchmark exit $bench_status; results in $OUT_DIR"
[ "$tests_status" = 0 ] && [ "$bench_status" = 0 ]
