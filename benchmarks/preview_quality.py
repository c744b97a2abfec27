"""Preview kinds per model: cost, and distance from the true decode of the same x0.

    python -m benchmarks.preview_quality [--steps 10] [--sd15] [--out benchmarks/results/preview_quality.json]

For each model the shapes example layout is rendered (seed 0) and the fused x0 prediction is kept
at 20/40/60/80% of the steps. Every preview kind of mdwidgets.render.preview renders those x0, and is
compared with ``decode_latents`` of the same x0 (the true decode): mean absolute error in /255
and PSNR (dB). Costs are the median of 5 calls at the canvas size, and their share of the median
step of that render (the real step: N + 2 UNet rows for N regions, 2N + 2 while bootstrapping).

Models: ``builtin`` (the trained shapes model, 128 px) and ``tiny`` (the random SD-1.5-shaped
``tiny_random_pipeline``, at 256 px). ``--sd15`` adds the Stable Diffusion 1.5 architecture
with random weights at 256 px for costs only (random weights cost what trained ones do; their
pictures mean nothing). ``tiny decoder`` is diffusers' ``AutoencoderTiny`` with TAESD's default
architecture and random weights: its cost is TAESD's, its error against the VAE is meaningless
(the trained weights cannot be downloaded here), so only its cost is reported.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import numpy as np
import torch

from mdwidgets.layout import Layout, example_layouts
from mdwidgets.pipelines.loading import load_pipeline
from mdwidgets.pipelines.tiny import tiny_random_pipeline
from mdwidgets.render.preview import DecodePreviewer, LatentPreviewer, TinyDecoderPreviewer, choose_previewer
from mdwidgets.sampling.images import decode_latents, encode_flat_colours
from mdwidgets.sampling.sampler import compose

FRACTIONS = (0.2, 0.4, 0.6, 0.8)


def errors(image, truth) -> tuple[float, float]:
    """Mean absolute error (/255) and PSNR (dB) of ``image`` against ``truth`` (same size)."""
    a, b = np.asarray(image, np.float64), np.asarray(truth, np.float64)
    mse = ((a - b) ** 2).mean()
    return float(np.abs(a - b).mean()), float(10 * np.log10(255**2 / max(mse, 1e-12)))


class FlatColourMap(LatentPreviewer):
    """The earlier fit, for comparison: least squares on 48 flat colours the VAE encodes."""

    def __init__(self, vae, samples: int = 48, seed: int = 0) -> None:
        colours = torch.rand(samples, 3, generator=torch.Generator().manual_seed(seed))
        with torch.inference_mode():
            latents = encode_flat_colours(vae, colours)[:, :, 0, 0].cpu()
        design = torch.cat([latents, torch.ones(samples, 1)], dim=1)
        self.matrix = torch.linalg.lstsq(design, colours).solution
        self.low = self.high = None  # not clamped


def mean_colour(truth):
    """The naive baseline: the true decode's own mean colour everywhere (it peeks at the answer)."""
    array = np.asarray(truth, np.float64)
    return np.broadcast_to(array.mean(axis=(0, 1)), array.shape)


def shapes_layout(size: int) -> Layout:
    layout = Layout.load(str(example_layouts()["shapes"]))
    k = size / layout.width
    regions = [r.replace(box=tuple(round(v * k) for v in r.box)) for r in layout.regions]
    return layout.replace(width=size, height=size, regions=regions)


def seconds(call, repeats: int = 5) -> float:
    call()  # warm-up
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        call()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def tiny_decoder():
    from diffusers import AutoencoderTiny

    torch.manual_seed(0)
    return AutoencoderTiny().eval().requires_grad_(False)  # TAESD's architecture (defaults), random weights


def sd15_pipeline():
    from benchmarks.bench_sampler import sd15_pipeline as build

    return build()


def bench(name: str, pipe, size: int, steps: int, quality: bool) -> dict:
    layout = shapes_layout(size)
    kept = {round(f * steps) - 1: f for f in FRACTIONS}
    x0s = {}

    def keep(event):
        if event.step in kept:
            x0s[kept[event.step]] = event.x0.detach().clone()

    result = compose(pipe, layout, num_inference_steps=steps, seed=0, callback=keep)
    step = statistics.median(result.timings["steps"])
    canvas = (layout.width, layout.height)
    started = time.perf_counter()
    choice = choose_previewer(pipe, canvas)  # first call: measures the step and the decode, may fit the map
    choice_seconds = time.perf_counter() - started
    started = time.perf_counter()
    latent_map = LatentPreviewer(pipe.vae)
    fit_seconds = time.perf_counter() - started
    kinds = {
        "decode": DecodePreviewer(pipe.vae),
        "map (fitted on decodes)": latent_map,
        "map (flat colours, before)": FlatColourMap(pipe.vae),
        "tiny decoder (TAESD arch.)": TinyDecoderPreviewer(tiny_decoder(), pipe.vae),
    }
    rows = []
    sample = x0s[0.4]
    for kind, previewer in kinds.items():
        cost = seconds(lambda p=previewer: p(sample, canvas))
        row = {"kind": kind, "ms": cost * 1000, "share_of_step": cost / step}
        if quality and not kind.startswith("tiny"):
            for fraction, x0 in x0s.items():
                row[f"{fraction:.0%}"] = errors(previewer(x0, canvas), decode_latents(pipe.vae, x0))
        rows.append(row)
    if quality:
        row = {"kind": "mean colour of the truth (baseline)", "ms": 0.0, "share_of_step": 0.0}
        for fraction, x0 in x0s.items():
            truth = decode_latents(pipe.vae, x0)
            row[f"{fraction:.0%}"] = errors(mean_colour(truth), truth)
        rows.append(row)
    to_final = {f"{fraction:.0%}": errors(decode_latents(pipe.vae, x0), result.image)[0]
                for fraction, x0 in x0s.items()}
    return {
        "model": name, "canvas": size, "steps": steps, "regions": len(layout.regions), "step_ms": step * 1000,
        "chosen": choice.previewer.kind, "reason": choice.reason, "choice_s": choice_seconds, "map_fit_s": fit_seconds,
        "map_held_out": {"map": latent_map.fit_error, "flat_colour": latent_map.mean_colour_error},
        "true_decode_vs_final": to_final, "rows": rows,
    }


def print_report(report: dict) -> None:
    print(f"\n## {report['model']} · {report['canvas']} px · {report['regions']} regions · {report['steps']} steps"
          f" · median step {report['step_ms']:.0f} ms")
    print(f"chosen by previewer_for(pipe, size): {report['chosen']} — {report['reason']}"
          f" (first call {report['choice_s']:.2f} s; fitting the map {report['map_fit_s']:.2f} s)")
    held = report["map_held_out"]
    print(f"map on held-out image decodes: {held['map']:.1f}/255 off (a flat colour: {held['flat_colour']:.1f}/255)")
    cols = [f"{f:.0%}" for f in FRACTIONS]
    print("| kind | ms | % of a step | " + " | ".join(f"{c} MAE/255 · PSNR" for c in cols) + " |")
    print("|---|---:|---:|" + "---:|" * len(cols))
    for row in report["rows"]:
        cells = [f"{row[c][0]:.1f} · {row[c][1]:.1f} dB" if c in row else "n/a" for c in cols]
        print(f"| {row['kind']} | {row['ms']:.1f} | {row['share_of_step']:.1%} | " + " | ".join(cells) + " |")
    final = " · ".join(f"{c}: {v:.1f}" for c, v in report["true_decode_vs_final"].items())
    print(f"true decode of x0 vs the final image (MAE/255): {final}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--sd15", action="store_true", help="add SD 1.5 architecture costs (slow on a CPU)")
    parser.add_argument("--out", default=None, help="write the numbers as JSON here")
    args = parser.parse_args()
    torch.manual_seed(0)
    models = [("builtin:shapes", lambda: load_pipeline("builtin:shapes"), 128, True),
              ("tiny-random (SD-1.5-shaped)", tiny_random_pipeline, 256, True)]
    if args.sd15:
        models.append(("SD 1.5 architecture (random weights)", sd15_pipeline, 256, False))
    reports = []
    for name, build, size, quality in models:
        reports.append(bench(name, build(), size, args.steps, quality))
        print_report(reports[-1])
    if args.out:
        Path(args.out).write_text(json.dumps({"torch_threads": torch.get_num_threads(), "reports": reports}, indent=2))


if __name__ == "__main__":
    main()
