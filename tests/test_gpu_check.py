"""The GPU check (issue #38): the tests' device/dtype switch, and scripts/gpu_check.sh in its reduced
CPU form (the same code as on the GPU: tiny models, 128x128, 2 steps)."""

import json
import os
import subprocess
import sys

import pytest
import torch

from benchmarks.gpu_check import REGIONS, Deadline, attempt, errors, run_check, table
from mdwidgets import Layout, compose
from mdwidgets.pipelines.tiny import tiny_random_pipeline
from tests.devices import (
    DEVICE_VARIABLE,
    DTYPE_VARIABLE,
    TOLERANCE,
    chosen_device_and_dtype,
    load_test_pipeline,
    on_test_device,
    tolerance,
)


def test_tiny_pipe_is_on_the_chosen_device_and_dtype(tiny_pipe):
    """Under scripts/gpu_check.sh this is CUDA in float16; by default the CPU in float32."""
    device, dtype = chosen_device_and_dtype()
    assert tiny_pipe.unet.device.type == device.type
    assert tiny_pipe.unet.dtype == tiny_pipe.text_encoder.dtype == dtype
    assert tiny_pipe.vae.dtype == torch.float32  # decoding stays in float32, as load_pipeline places it


def test_the_switch_is_read_from_the_environment(monkeypatch):
    monkeypatch.setenv(DEVICE_VARIABLE, "cpu")
    monkeypatch.setenv(DTYPE_VARIABLE, "bfloat16")
    assert chosen_device_and_dtype() == (torch.device("cpu"), torch.bfloat16)
    built = on_test_device(tiny_random_pipeline())
    with pytest.warns(UserWarning, match="random weights"):
        loaded = load_test_pipeline("builtin:tiny-random")
    for pipe in (built, loaded):
        assert (pipe.unet.device.type, pipe.unet.dtype, pipe.text_encoder.dtype) == ("cpu",) + (torch.bfloat16,) * 2
        assert pipe.vae.dtype == torch.float32
    assert tolerance() == tolerance(built) == TOLERANCE[torch.bfloat16] > TOLERANCE[torch.float32]
    result = compose(built, Layout(64, 64, "a red circle"), num_inference_steps=1, seed=0, output_type="latent")
    assert result.settings["dtype"] == "bfloat16" and torch.isfinite(result.latents).all()
    monkeypatch.delenv(DEVICE_VARIABLE)
    monkeypatch.setenv(DTYPE_VARIABLE, "float8")
    with pytest.raises(ValueError, match="float8"):
        chosen_device_and_dtype()
    assert chosen_device_and_dtype({}) == (torch.device("cpu"), torch.float32)  # the default


def test_sections_after_the_deadline_are_skipped_and_failures_are_recorded():
    report = run_check(["sd15", "sdxl"], reduced=True, device=torch.device("cpu"), dtype=torch.float32,
                       deadline_s=0)
    assert report["models"] == {"sd15": {"skipped": "out of time"}, "sdxl": {"skipped": "out of time"}}
    assert "sd15: out of time" in table(report) and errors(report) == []
    failed = attempt(Deadline(60), lambda: 1 / 0)
    assert failed == {"error": "ZeroDivisionError: division by zero"}
    assert errors({"models": {"sd15": {"compose": {"1": failed}}}}) == ["ZeroDivisionError: division by zero"]


def test_the_reduced_gpu_check_runs_on_the_cpu(root, tmp_path):
    """The script end to end: one test under the switch (bfloat16, passed through to the fixture),
    then every timing section on both models, into one JSON and a table."""
    if chosen_device_and_dtype()[0].type != "cpu":
        pytest.skip("the reduced form is the CPU's; on a GPU the script itself runs this suite")
    env = {**os.environ, "OUT": str(tmp_path), "PYTHON": sys.executable, DTYPE_VARIABLE: "bfloat16",
           "GPU_CHECK_TESTS": "tests/test_gpu_check.py::test_tiny_pipe_is_on_the_chosen_device_and_dtype",
           "GPU_CHECK_BENCH_SECONDS": "600"}
    env.pop(DEVICE_VARIABLE, None)
    done = subprocess.run(["bash", str(root / "scripts" / "gpu_check.sh"), "--reduced"], cwd=root, env=env,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    report = json.loads((tmp_path / "gpu_check.json").read_text())
    assert report["reduced"] and (report["device"], report["dtype"]) == ("cpu", "float32")
    assert report["tests"] | {"seconds": 0} == {"tests": 1, "failures": 0, "errors": 0, "skipped": 0,
                                                "seconds": 0, "failed": [], "exit_status": 0}
    assert set(report["models"]) == {"sd15", "sdxl"}
    for entry in report["models"].values():
        check_model_entry(entry)
    text = (tmp_path / "gpu_check.txt").read_text()
    assert "tests: 1 run, 0 failed" in text and "plain algorithm vs compose, N=4" in text
    assert (tmp_path / "pytest.txt").exists()


def check_model_entry(entry):
    assert list(entry["compose"]) == [str(n) for n in REGIONS]
    for n, row in entry["compose"].items():
        assert row["rows_per_step"] == int(n) + 2  # N prompts, the background, one shared unconditional row
        assert row["step_s"] > 0 and 0 < row["unet_s"] <= row["step_s"] and row["estimate_mb"] > 0
        assert row["peak_mb"] is None or row["peak_mb"] >= 0
    for what in ("four_seeds", "bootstrap_comparison"):
        many = entry["compose_many"][what]
        assert many["one_after_another_s"] > 0 and many["together_s"] > 0
        assert many["max_rel_diff"] <= 1e-5  # batching changes float rounding only
    reference = entry["reference"]
    assert reference["mdwidgets_step_s"] > 0 and reference["reference_step_s"] > 0
    assert reference["max_abs_diff"] <= 1e-5 * max(1.0, reference["latent_scale"])
