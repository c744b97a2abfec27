"""Region methods side by side (issue #37): UNet rows and seconds per step, and adherence, per method.

    python -m benchmarks.region_methods [--parts cost adherence] [--models builtin sd15] [--samples 24]

**Cost.** For N = 0 (the plain pipeline), 1, 2, 4 and 8 regions (boxes on a 3×3 grid), each method
renders the same layout and seed; ``result.timings`` gives each step's UNet rows and seconds.

- ``builtin``: the shipped model at its defaults (128 px, 25 steps, 8 bootstrapped), full runs;
  seconds per step are the run's mean.
- ``sd15``: a Stable Diffusion 1.5-architecture UNet (block_out_channels 320/640/1280/1280,
  cross_attention_dim 768; :func:`benchmarks.bench_sampler.sd15_pipeline`) with random weights at
  512×512 (a 64×64 latent). On a 2-core CPU a full run is out of reach, so each kind of step is timed
  once: ``fusion`` at bootstrap 0 for one step (its steps after bootstrapping); ``hybrid`` for two
  steps with one bootstrapped (its first step is a bootstrapped fusion step, its second an attention
  step). Rows per step of a full 25-step run at 20% bootstrapping are then counted, not timed.

**Adherence.** The compositions benchmark's layouts and seeds (:mod:`training.compositions`:
``random_layout`` from ``random.Random(0)``, sample ``k`` at seed ``k``, the model's default steps)
rendered by fusion (the model's bootstrap), fusion at bootstrap 0, attention and hybrid, scored by
the shapes judge (``object_right``, ``in_box``, ``iou``: mean and standard error).

**Overhead** (``--parts overhead``): one 2-row UNet call of the SD 1.5 architecture at 512 px, plain
vs regional attention over 8 regions (9 prompts' tokens and the mask), interleaved, median.

Writes ``benchmarks/results/region_methods.json``. Timings depend on what else runs on the machine:
compare ratios within one run.
"""

from __future__ import annotations

import argparse
import random
import statistics
import time

import torch

from benchmarks.bench_sampler import machine, sd15_pipeline, write_report
from mdwidgets import Layout, Region, compose, load_pipeline
from mdwidgets.pipelines.facts import native_size
from mdwidgets.pipelines.loading import DEFAULT_MODEL
from mdwidgets.render.figures import METHOD_CELLS
from mdwidgets.shapes.adherence import shapes_adherence
from training.compositions import mean_and_error, random_layout

REGIONS = (0, 1, 2, 4, 8)
NAMES = ["a red circle", "a yellow square", "a green triangle", "a white star"]


def grid_layout(regions: int, size: int) -> Layout:
    """``regions`` boxes on a 3×3 grid (margins between them, so the background shows)."""
    third, margin = size // 3, size // 24
    boxes = [(x * third + margin, y * third + margin, (x + 1) * third - margin, (y + 1) * third - margin)
             for y in range(3) for x in range(3)]
    return Layout(size, size, "a blue background",
                  [Region(NAMES[k % 4], box=boxes[k]) for k in range(regions)])


def builtin_cost(pipe, repeats: int = 3) -> list[dict]:
    """Full runs at the model's defaults, the (N, method) cells interleaved ``repeats`` times: per cell the
    median over repeats of the run's mean seconds per step (a busy machine slows some runs, not all)."""
    size, cells = native_size(pipe), {}
    compose(pipe, grid_layout(1, size), seed=0, output_type="latent")  # warm-up
    for _ in range(repeats):
        for n in REGIONS:
            for method in ("fusion", "attention", "hybrid"):
                result = compose(pipe, grid_layout(n, size), seed=0, method=method, output_type="latent")
                cells.setdefault((n, method), []).append(result.timings)
    rows = []
    for (n, method), timings in cells.items():
        counts = timings[0]["rows"]
        rows.append({"model": "builtin", "regions": n, "method": method, "rows_first": counts[0],
                     "rows_last": counts[-1], "rows_mean": statistics.fmean(counts),
                     "s_per_step": statistics.median(statistics.fmean(t["steps"]) for t in timings)})
        print(_line(rows[-1]), flush=True)
    return rows


def sd15_cost(pipe, steps: int = 25, bootstrap: int = 5) -> list[dict]:
    """One timed step of each kind, and the rows of a full ``steps``-step run (``bootstrap`` bootstrapped)."""
    rows = []
    compose(pipe, grid_layout(1, 512), seed=0, num_inference_steps=1, method="attention", output_type="latent")
    for n in REGIONS:
        shared = compose(pipe, grid_layout(n, 512), seed=0, num_inference_steps=1, bootstrap_steps=0,
                         output_type="latent")
        hybrid = compose(pipe, grid_layout(n, 512), seed=0, num_inference_steps=2, bootstrap_steps=min(1, n),
                         method="hybrid", output_type="latent")
        boot_rows, boot_s = hybrid.timings["rows"][0], hybrid.timings["steps"][0]
        attention_rows, attention_s = hybrid.timings["rows"][-1], hybrid.timings["steps"][-1]
        fusion_rows, fusion_s = shared.timings["rows"][0], shared.timings["steps"][0]
        b = bootstrap if n else 0
        plans = {"fusion": (boot_rows, boot_s, fusion_rows, fusion_s), "attention": (2, attention_s, 2, attention_s),
                 "hybrid": (boot_rows, boot_s, attention_rows, attention_s)}
        for method, (rows_first, s_first, rows_last, s_last) in plans.items():
            first = b if method != "attention" else 0
            rows.append({"model": "sd15 512px", "regions": n, "method": method, "rows_first": rows_first,
                         "rows_last": rows_last,
                         "rows_mean": (first * rows_first + (steps - first) * rows_last) / steps,
                         "s_per_step": (first * s_first + (steps - first) * s_last) / steps,
                         "s_bootstrapped_step": s_first if first else None, "s_step_after": s_last})
            print(_line(rows[-1]), flush=True)
    return rows


def attention_overhead(pipe, repeats: int = 3, size: int = 512) -> dict:
    """Seconds of one 2-row UNet call at ``size`` px: plain (one prompt's tokens) vs regional attention over
    8 regions (9 prompts' tokens, masked), interleaved ``repeats`` times, median: the price of the mask alone."""
    from mdwidgets.sampling.regional_attention import REGION_KEYWORD, regional_processors

    unet, cells, n = pipe.unet, size // 8, 8
    sample = torch.randn(2, 4, cells, cells, generator=torch.Generator().manual_seed(0))
    dim = unet.config.cross_attention_dim
    weights = torch.zeros(2, n + 1, cells, cells)
    weights[:, 0] = 1  # the background everywhere but in the boxes
    for k, (x0, y0, x1, y1) in enumerate([r.box for r in grid_layout(n, cells).regions], start=1):
        weights[:, 0, y0:y1, x0:x1], weights[:, k, y0:y1, x0:x1] = 0, 1
    seconds: dict[str, list[float]] = {"plain": [], "regional": []}
    with torch.inference_mode(), regional_processors(unet):
        for _ in range(repeats):
            for name, tokens, kwargs in (("plain", 77, None), ("regional", 77 * (n + 1), {REGION_KEYWORD: weights})):
                context = torch.randn(2, tokens, dim, generator=torch.Generator().manual_seed(1))
                started = time.perf_counter()
                unet(sample, 500, encoder_hidden_states=context, cross_attention_kwargs=kwargs)
                seconds[name].append(time.perf_counter() - started)
    result = {name: statistics.median(values) for name, values in seconds.items()}
    print(f"sd15 {size}px, one 2-row UNet call: plain {result['plain']:.2f} s, regional attention over {n} regions "
          f"{result['regional']:.2f} s ({result['regional'] / result['plain']:.2f}x)", flush=True)
    return {"size": size, "regions": n, "repeats": repeats, "seconds": seconds, "median": result}


def _line(row: dict) -> str:
    return (f"{row['model']:>10}  N={row['regions']}  {row['method']:>9}: rows/step {row['rows_first']}→"
            f"{row['rows_last']} (mean {row['rows_mean']:.1f}), {row['s_per_step']:.3f} s/step")


def adherence(pipe, samples: int) -> dict:
    """Each method's scores over the compositions benchmark's layouts and seeds."""
    rng, size = random.Random(0), native_size(pipe)
    scores: dict[str, list[dict]] = {title: [] for title, _ in METHOD_CELLS}
    seconds: dict[str, float] = dict.fromkeys(scores, 0.0)
    for k in range(samples):
        layout, _ = random_layout(rng, size)
        for title, cell in METHOD_CELLS:
            started = time.perf_counter()
            result = compose(pipe, layout, seed=k, **cell)
            seconds[title] += time.perf_counter() - started
            scores[title].append(shapes_adherence(result.image, layout))
        print(f"sample {k + 1}/{samples}: " + ", ".join(
            f"{t} {statistics.fmean(s['object_right'] for s in v):.2f}" for t, v in scores.items()), flush=True)
    return {title: {**{key: mean_and_error([s[key] for s in values]) for key in ("object_right", "in_box", "iou")},
                    "seconds_per_render": seconds[title] / samples}
            for title, values in scores.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--parts", nargs="+", default=["cost", "adherence"], choices=["cost", "adherence", "overhead"])
    parser.add_argument("--models", nargs="+", default=["builtin", "sd15"], choices=["builtin", "sd15"])
    parser.add_argument("--samples", type=int, default=24, help="compositions scored per method")
    parser.add_argument("--out", default="benchmarks/results/region_methods.json")
    parser.add_argument("--threads", type=int, default=1,
                        help="torch threads (default 1: waiting OpenMP threads spin, so 2 threads on a shared "
                             "2-core machine swing 10x between runs)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    report: dict = {"machine": machine(), "cost": [], "adherence": None}
    builtin = load_pipeline(DEFAULT_MODEL, device="cpu", dtype="float32")
    if "cost" in args.parts:
        if "builtin" in args.models:
            report["cost"] += builtin_cost(builtin)
        if "sd15" in args.models:
            report["cost"] += sd15_cost(sd15_pipeline())
    if "overhead" in args.parts:
        report["overhead"] = attention_overhead(sd15_pipeline())
    if "adherence" in args.parts:
        report["adherence"] = {"samples": args.samples, "scores_mean_and_stderr": adherence(builtin, args.samples)}
        for title, row in report["adherence"]["scores_mean_and_stderr"].items():
            print(f"{title:>20}: object_right {row['object_right'][0]:.3f} ± {row['object_right'][1]:.3f}, "
                  f"in_box {row['in_box'][0]:.3f}, iou {row['iou'][0]:.3f}, {row['seconds_per_render']:.1f} s/render")
    write_report(report, args.out)


if __name__ == "__main__":
    main()
