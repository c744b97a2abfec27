"""Panorama benchmark: mdwidgets' windowed sampler vs diffusers' StableDiffusionPanoramaPipeline.

    python -m benchmarks.panorama [--width 1024] [--height 512] [--steps 3] [--out benchmarks/results/panorama.json]

Same model, prompt, initial latents and windows (diffusers fixes 64 latent cells, stride 8): prints
seconds per denoising step for diffusers at its default ``view_batch_size=1`` and at every other
batch size that divides the views, for mdwidgets with all views in one UNet call and with
``max_batch`` caps, and the max abs difference of the final latents against diffusers. The model
is the built-in one (64-cell windows = 512 px, twice its native size; the cost per row is what
counts here). Numbers depend on the machine; compare ratios from one run.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import time
import warnings
from pathlib import Path

import torch

from mdwidgets import Layout, compose, load_pipeline
from mdwidgets.sampling.schedulers import make_scheduler
from mdwidgets.sampling.windows import window_grid

PROMPT = "a blue background"


def panorama_pipeline(pipe, scheduler: str | None = None):
    """diffusers' (deprecated) StableDiffusionPanoramaPipeline on ``pipe``'s components, with a fresh
    scheduler (``None``: a copy of the pipeline's, or a name from ``mdwidgets.SCHEDULERS``)."""
    components = {**pipe.components, "scheduler": make_scheduler(scheduler, pipe.scheduler)}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # deprecated in diffusers; it is the yardstick here
        from diffusers import StableDiffusionPanoramaPipeline

        panorama = StableDiffusionPanoramaPipeline(**components, requires_safety_checker=False)
    panorama.set_progress_bar_config(disable=True)
    return panorama


def diffusers_step_seconds(panorama, latents, height, width, steps, view_batch_size):
    stamps = []

    def on_step(pipe, step, timestep, kwargs):
        stamps.append(time.perf_counter())
        return kwargs

    stamps.append(time.perf_counter())
    out = panorama(PROMPT, height=height, width=width, num_inference_steps=steps, guidance_scale=7.5,
                   latents=latents.clone(), view_batch_size=view_batch_size, output_type="latent",
                   callback_on_step_end=on_step).images
    # The first interval includes prompt encoding; per-step time comes from the later ones.
    return statistics.median(b - a for a, b in zip(stamps[1:], stamps[2:])), out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--width", type=int, default=1024)
    parser.add_argument("--height", type=int, default=512)
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--out", default="benchmarks/results/panorama.json")
    args = parser.parse_args()

    pipe = load_pipeline()
    panorama = panorama_pipeline(pipe)
    grid = (args.height // 8, args.width // 8)
    views = len(window_grid(*grid, 64, 8))
    latents = torch.randn((1, 4, *grid), generator=torch.Generator().manual_seed(0))
    layout = Layout(args.width, args.height, PROMPT)
    print(f"{args.width}x{args.height} px, {views} windows of 64x64 latent cells (stride 8), "
          f"{2 * views} UNet rows per step, {args.steps} DDIM steps, torch threads {torch.get_num_threads()}")

    rows, reference = [], None
    for batch in sorted({1, *[b for b in (2, 3, 4, 6, 8, 9, 12, 16) if views % b == 0 and b <= views]}):
        seconds, latents_out = diffusers_step_seconds(panorama, latents, args.height, args.width, args.steps, batch)
        if reference is None:
            reference = latents_out
        rows.append({"sampler": "diffusers", "batch": f"view_batch_size={batch}", "unet_rows_per_call": 2 * batch,
                     "seconds_per_step": seconds, "max_abs_diff": float((latents_out - reference).abs().max())})
    for cap in (None, 2, 8):
        result = compose(pipe, layout, num_inference_steps=args.steps, guidance_scale=7.5, latents=latents,
                         window=64, stride=8, max_batch=cap, output_type="latent")
        rows.append({"sampler": "mdwidgets", "batch": f"max_batch={cap}", "unet_rows_per_call": cap or 2 * views,
                     "seconds_per_step": statistics.median(result.timings["steps"][1:] or result.timings["steps"]),
                     "max_abs_diff": float((result.latents - reference).abs().max())})

    default = rows[0]["seconds_per_step"]
    best = min(r["seconds_per_step"] for r in rows if r["sampler"] == "diffusers")
    print(f"{'sampler':<10} {'batch':<20} {'rows/call':>9} {'s/step':>8} {'vs default':>10} {'vs best':>8} "
          f"{'max|diff|':>10}")
    for r in rows:
        r["speedup_vs_diffusers_default"] = default / r["seconds_per_step"]
        r["speedup_vs_diffusers_best"] = best / r["seconds_per_step"]
        print(f"{r['sampler']:<10} {r['batch']:<20} {r['unet_rows_per_call']:>9} {r['seconds_per_step']:>8.3f} "
              f"{r['speedup_vs_diffusers_default']:>9.2f}x {r['speedup_vs_diffusers_best']:>7.2f}x "
              f"{r['max_abs_diff']:>10.2e}")
    report = {"machine": platform.platform(), "processor": platform.processor(), "torch": torch.__version__,
              "threads": torch.get_num_threads(), "width": args.width, "height": args.height, "steps": args.steps,
              "windows": views, "rows": rows}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(report, indent=1))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
