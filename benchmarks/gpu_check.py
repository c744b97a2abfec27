"""GPU check (issue #38): the sampler timed where Colab users run it, CUDA in float16.

    python -m benchmarks.gpu_check [--out DIR] [--models sd15 sdxl] [--deadline-s 240]
    python -m benchmarks.gpu_check --reduced    # the same code on tiny models and canvases (CI, CPU)

For each model (random weights: they cost what trained ones cost) it measures

- ``compose`` at N = 1, 2, 4, 8 regions: seconds per step (median after the first), UNet rows per
  step, the UNet call's share of a step, and the run's peak memory against the estimate
  ``mdwidgets.sampling.budget`` makes before a run (CUDA: allocator peak; CPU: peak RSS growth);
- ``compose_many``: four seeds together vs one after another, and the default bootstrap
  comparison, as ``benchmarks.compare_cells`` runs them;
- the plain algorithm (``mdwidgets/sampling/reference.py``) vs ``compose`` at N = 4, as
  ``benchmarks.bench_sampler`` runs them (same noise; the largest latent difference);
- region methods: none exist in this version; the report says so.

Full form: an SD 1.5-architecture pipeline at 512x512, then (if ``--deadline-s`` leaves time) an
SDXL-architecture one at 1024x1024. ``--reduced``: the tiny SD and SDXL pipelines at 128x128 and
2 steps. Writes ``DIR/gpu_check.json`` (everything, with the test results that
``scripts/gpu_check.sh`` passes in ``--junit``) and ``DIR/gpu_check.txt`` (a short table).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
import traceback
import xml.etree.ElementTree as ET
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch

from benchmarks import compare_cells
from benchmarks.bench_sampler import (
    UNetTimer,
    bench_model,
    layout_with,
    machine,
    median_step,
    sd15_pipeline,
    synchronize,
)
from benchmarks.procmem import reset_rss_peak, rss_peak_mb
from mdwidgets import compose
from mdwidgets.pipelines.loading import parse_dtype, place_pipeline
from mdwidgets.sampling.budget import estimate_bytes

REGIONS = (1, 2, 4, 8)
MB = 2**20


@dataclass(frozen=True)
class Case:
    """One model to time: how to build it, at which canvas, steps and guidance."""

    label: str
    build: Callable[[], object]
    size: int
    steps: int
    guidance: float
    repeats: int  # best of, for the compose_many timings


def sdxl_pipeline():
    """SDXL architecture (UNet 2.6 B, CLIP-L and OpenCLIP-bigG text encoders, VAE), random weights."""
    from diffusers import AutoencoderKL, EulerDiscreteScheduler, StableDiffusionXLPipeline, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTextModelWithProjection

    from benchmarks.bench_sampler import PROMPTS
    from mdwidgets.pipelines.tiny import SD_SCHEDULER_CONFIG, word_tokenizer

    torch.manual_seed(0)
    tokenizer = word_tokenizer(" ".join(PROMPTS + ["background"]).split())
    ids = dict(vocab_size=len(tokenizer), max_position_embeddings=77, bos_token_id=tokenizer.bos_token_id,
               eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id)
    text_encoder = CLIPTextModel(CLIPTextConfig(hidden_size=768, intermediate_size=3072, num_attention_heads=12,
                                                num_hidden_layers=12, **ids))
    text_encoder_2 = CLIPTextModelWithProjection(CLIPTextConfig(
        hidden_size=1280, intermediate_size=5120, num_attention_heads=20, num_hidden_layers=32,
        projection_dim=1280, hidden_act="gelu", **ids))
    unet = UNet2DConditionModel(
        sample_size=128, cross_attention_dim=2048, block_out_channels=(320, 640, 1280), layers_per_block=2,
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "UpBlock2D"),
        transformer_layers_per_block=(1, 2, 10), attention_head_dim=(5, 10, 20), use_linear_projection=True,
        addition_embed_type="text_time", addition_time_embed_dim=256, projection_class_embeddings_input_dim=2816,
    )
    vae = AutoencoderKL(
        block_out_channels=(128, 256, 512, 512), latent_channels=4, layers_per_block=2,
        down_block_types=("DownEncoderBlock2D",) * 4, up_block_types=("UpDecoderBlock2D",) * 4,
        sample_size=1024, scaling_factor=0.13025,
    )
    for module in (unet, vae, text_encoder, text_encoder_2):
        module.eval().requires_grad_(False)
    pipe = StableDiffusionXLPipeline(vae=vae, text_encoder=text_encoder, text_encoder_2=text_encoder_2,
                                     tokenizer=tokenizer, tokenizer_2=tokenizer, unet=unet,
                                     scheduler=EulerDiscreteScheduler.from_config(SD_SCHEDULER_CONFIG))
    pipe.set_progress_bar_config(disable=True)
    pipe.mdwidgets_model_name = "sdxl-architecture (random weights)"
    return pipe


def _tiny_sd():
    from mdwidgets.pipelines.tiny import tiny_random_pipeline

    return tiny_random_pipeline()


def _tiny_sdxl():
    from mdwidgets.pipelines.tiny import tiny_random_sdxl_pipeline

    return tiny_random_sdxl_pipeline()


FULL = {"sd15": Case("SD 1.5 architecture (random weights)", sd15_pipeline, 512, 10, 7.5, 2),
        "sdxl": Case("SDXL architecture (random weights)", sdxl_pipeline, 1024, 6, 5.0, 1)}
# The same measurements on the tiny pipelines: what CI runs (tests/test_gpu_check.py), in seconds.
REDUCED = {"sd15": Case("tiny SD (reduced form)", _tiny_sd, 128, 2, 7.5, 1),
           "sdxl": Case("tiny SDXL (reduced form)", _tiny_sdxl, 128, 2, 5.0, 1)}
FAMILIES = {"sd15": "sd", "sdxl": "sdxl"}


def build(name: str, case: Case, device: torch.device, dtype: torch.dtype):
    """The case's pipeline on ``device`` in ``dtype`` (VAE float32, as load_pipeline places a model).

    Built under the device, so a GPU initialises the random weights (seconds, not a minute on the CPU)."""
    with torch.device(device):
        pipe = case.build()
    # Its tables were made under the device too; a scheduler keeps them on the CPU, as a loaded one does.
    pipe.scheduler = type(pipe.scheduler).from_config(pipe.scheduler.config)
    pipe.mdwidgets_family = FAMILIES[name]
    return place_pipeline(pipe, device, dtype)


def peak_memory_mb(device: torch.device, run: Callable[[], object]) -> tuple[object, float | None]:
    """``run()`` and the memory it took at its peak beyond what was held before: the CUDA allocator's
    peak, or on the CPU the growth of peak RSS (``None`` where it cannot be reset)."""
    if device.type == "cuda":
        synchronize(device)
        torch.cuda.reset_peak_memory_stats(device)
        base = torch.cuda.memory_allocated(device)
        out = run()
        synchronize(device)
        return out, (torch.cuda.max_memory_allocated(device) - base) / MB
    if not reset_rss_peak():
        return run(), None
    base = rss_peak_mb()
    out = run()
    return out, rss_peak_mb() - base


def time_compose(pipe, case: Case, n: int) -> dict:
    """s/step, rows/step, UNet share and peak memory vs the budget estimate of ``n`` regions."""
    layout = layout_with(n, case.size)
    kwargs = dict(num_inference_steps=case.steps, seed=0, bootstrap_steps=0, guidance_scale=case.guidance,
                  output_type="latent")  # latents: the UNet's memory, which the estimate's "unet" part is of
    compose(pipe, layout, **{**kwargs, "num_inference_steps": 1})  # warm-up: kernels, cuDNN plans, prompts
    timer = UNetTimer(pipe.unet)
    try:
        result, peak = peak_memory_mb(pipe.unet.device, lambda: compose(pipe, layout, **kwargs))
    finally:
        timer.close()
    rows = max(timer.rows)
    estimate = estimate_bytes(pipe, layout, rows=rows, max_batch=None, device=pipe.unet.device)["unet"] / MB
    step = median_step(result)
    return {"step_s": step, "rows_per_step": rows, "rows_per_s": rows / step,
            "unet_s": statistics.median(timer.seconds[1:] or timer.seconds),
            "peak_mb": peak, "estimate_mb": estimate,
            "peak_over_estimate": None if peak is None else peak / estimate}


def junit_summary(path: str | os.PathLike | None) -> dict | None:
    """The pytest run's counts and failed tests, from its JUnit XML (``None``: no test run)."""
    if path is None or not Path(path).exists():
        return None
    root = ET.parse(path).getroot()
    suite = root if root.tag == "testsuite" else root.find("testsuite")
    counts = {k: int(suite.get(k, 0)) for k in ("tests", "failures", "errors", "skipped")}
    failed = [f"{case.get('classname')}::{case.get('name')}" for case in suite.iter("testcase")
              if case.find("failure") is not None or case.find("error") is not None]
    return {**counts, "seconds": float(suite.get("time", 0)), "failed": failed}


class Deadline:
    """What is left of the time budget; sections that would start after it are skipped and say so."""

    def __init__(self, seconds: float) -> None:
        self.until = time.perf_counter() + seconds

    def passed(self) -> bool:
        return time.perf_counter() > self.until


def attempt(deadline: Deadline, run: Callable[..., dict], *args) -> dict:
    """``run(*args)``'s result, or why there is none: the deadline passed, or the error it raised (its
    traceback printed). The other sections still run: one GPU run reports all it can."""
    if deadline.passed():
        return {"skipped": "out of time"}
    try:
        return run(*args)
    except Exception as exc:  # noqa: BLE001 - any failure is a finding to report, not a reason to stop
        traceback.print_exc()
        return {"error": f"{type(exc).__name__}: {exc}"}


def errors(report) -> list[str]:
    """Every error recorded anywhere in the report."""
    if isinstance(report, dict):
        return [report["error"]] if "error" in report else [e for v in report.values() for e in errors(v)]
    return []


def bench_case(name: str, case: Case, device: torch.device, dtype: torch.dtype, deadline: Deadline) -> dict:
    """All sections for one model; each section after the deadline is recorded as skipped."""
    started = time.perf_counter()
    pipe = build(name, case, device, dtype)
    entry: dict = {"model": case.label, "canvas": case.size, "steps": case.steps, "guidance": case.guidance,
                   "build_s": time.perf_counter() - started, "compose": {}}
    for n in REGIONS:
        entry["compose"][str(n)] = attempt(deadline, time_compose, pipe, case, n)
        print(f"  {name} N={n}: {entry['compose'][str(n)]}", flush=True)
    sections = {  # benchmarks.compare_cells and bench_sampler measure these; reused as they are
        "compose_many": lambda: compare_cells.bench(pipe, case.size, case.steps, case.repeats),
        "reference": lambda: bench_model(case.label, pipe, case.size, [4], case.steps)["regions"][4],
    }
    for section, run in sections.items():
        entry[section] = attempt(deadline, run)
    entry["seconds"] = time.perf_counter() - started
    return entry


def run_check(models: list[str], *, reduced: bool, device: torch.device, dtype: torch.dtype,
              deadline_s: float) -> dict:
    """The report: machine, settings and each model's measurements (see the module docstring)."""
    cases = REDUCED if reduced else FULL
    deadline = Deadline(deadline_s)
    report = {"machine": {**machine(), "device": device_name(device)}, "device": str(device),
              "dtype": str(dtype).removeprefix("torch."), "reduced": reduced, "regions": list(REGIONS),
              "region_methods": {"note": "no region methods in this version of mdwidgets"}, "models": {}}
    started = time.perf_counter()
    for name in models:
        print(f"{cases[name].label} at {cases[name].size}x{cases[name].size}, {dtype} on {device}:", flush=True)
        report["models"][name] = attempt(deadline, bench_case, name, cases[name], device, dtype, deadline)
        if device.type == "cuda":
            torch.cuda.empty_cache()  # the next model starts from an empty allocator
    report["seconds"] = time.perf_counter() - started
    return report


def device_name(device: torch.device) -> str:
    return torch.cuda.get_device_name(device) if device.type == "cuda" else machine()["cpu"]


def _number(value, digits: int = 3) -> str:
    return "-" if value is None else f"{value:.{digits}g}"


def table(report: dict) -> str:
    """A short text table of the report."""
    lines = [f"GPU check on {report['machine']['device']} ({report['device']}, {report['dtype']}, torch "
             f"{report['machine']['torch']}){' - reduced form' if report['reduced'] else ''}"]
    tests = report.get("tests")
    if tests:
        cut = " (cut short by GPU_CHECK_TEST_SECONDS)" if tests.get("exit_status") == 124 else ""
        lines.append(f"tests: {tests['tests']} run, {tests['failures']} failed, {tests['errors']} errors, "
                     f"{tests['skipped']} skipped in {tests['seconds']:.0f} s{cut}")
    for name, entry in report["models"].items():
        if "compose" not in entry:  # skipped, or failed to build
            lines.append(f"{name}: {entry.get('skipped') or entry.get('error')}")
            continue
        lines += [f"{entry['model']} at {entry['canvas']}x{entry['canvas']}, {entry['steps']} steps:",
                  "  N | s/step | rows/step | rows/s | UNet share | peak MB | estimate MB | peak/estimate"]
        for n, row in entry["compose"].items():
            if "step_s" not in row:
                lines.append(f"  {n} | {row.get('skipped') or row.get('error')}")
                continue
            lines.append(f"  {n} | {row['step_s']:.4f} | {row['rows_per_step']} | {row['rows_per_s']:.1f} | "
                         f"{row['unet_s'] / row['step_s']:.0%} | {_number(row['peak_mb'], 4)} | "
                         f"{row['estimate_mb']:.4g} | {_number(row['peak_over_estimate'], 2)}")
        lines += _comparison_lines(entry)
    return "\n".join(lines) + "\n"


def _comparison_lines(entry: dict) -> list[str]:
    lines = []
    many = entry["compose_many"]
    for what in ("four_seeds", "bootstrap_comparison"):
        if what in many:
            row = many[what]
            lines.append(f"  compose_many, {what.replace('_', ' ')}: one after another "
                         f"{row['one_after_another_s']:.3f} s, together {row['together_s']:.3f} s -> "
                         f"{row['speedup']:.2f}x")
    ref = entry["reference"]
    if "speedup" in ref:
        lines.append(f"  plain algorithm vs compose, N=4: {ref['reference_step_s']:.4f} vs "
                     f"{ref['mdwidgets_step_s']:.4f} s/step -> {ref['speedup']:.2f}x; max |diff| "
                     f"{ref['max_abs_diff']:.2e} (latents up to {ref['latent_scale']:.1f})")
    return lines


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--reduced", action="store_true", help="tiny models, 128x128, 2 steps (CI)")
    parser.add_argument("--models", nargs="+", default=["sd15", "sdxl"], choices=["sd15", "sdxl"])
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--dtype", default=None, help="default: float16 on CUDA, float32 elsewhere")
    parser.add_argument("--deadline-s", type=float, default=240.0,
                        help="start no section after this many seconds (the SDXL model is the first to go)")
    parser.add_argument("--junit", default=None, help="the test run's JUnit XML, summarised into the report")
    parser.add_argument("--tests-exit", type=int, default=None, help="the test run's exit status (124: cut short)")
    parser.add_argument("--out", default=os.environ.get("OUT") or "outputs/gpu_check")
    args = parser.parse_args(argv)
    device = torch.device(args.device)
    dtype = parse_dtype(args.dtype) or (torch.float16 if device.type == "cuda" else torch.float32)
    if args.reduced and device.type == "cpu":
        # The reduced form shows the code runs and what it reports; its timings mean nothing. One thread:
        # on this busy 2-core machine it took 4 min (69 s of CPU) on two threads, 40 s (8 s of CPU) on one.
        torch.set_num_threads(1)
    report = run_check(args.models, reduced=args.reduced, device=device, dtype=dtype, deadline_s=args.deadline_s)
    report["tests"] = junit_summary(args.junit)
    if report["tests"] is not None:
        report["tests"]["exit_status"] = args.tests_exit
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "gpu_check.json").write_text(json.dumps(report, indent=2))
    (out / "gpu_check.txt").write_text(table(report))
    print(table(report), end="")
    print(f"wrote {out / 'gpu_check.json'} and {out / 'gpu_check.txt'}")
    if errors(report):
        sys.exit(f"gpu check: {len(errors(report))} section(s) failed: {errors(report)}")
    return report


if __name__ == "__main__":
    main()
