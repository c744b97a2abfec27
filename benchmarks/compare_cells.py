"""Comparison cells sampled together vs one after another.

    python -m benchmarks.compare_cells [--models builtin sd15] [--repeats 2] [--out FILE.json]

For each model: the default bootstrap comparison (:func:`mdwidgets.render.figures.compare`, 4 cells: 0,
10%, 20%, 40% of the steps) of a 3-region layout with ``batch=False`` (cells in turn) and
``batch=True`` (cells in lock-step, UNet rows concatenated: :func:`mdwidgets.compose_many`), and
four seeds of one setting the same two ways. Wall-clock seconds (best of ``--repeats``, decoding
included), the speed-up, and the largest difference of the final latents (absolute and relative to
the latents' size) — batching changes only float rounding.
"""

from __future__ import annotations

import argparse
import time

from benchmarks.bench_sampler import benchmark_pipelines, layout_with, machine, write_report
from mdwidgets import Run, Settings, compose, compose_many
from mdwidgets.pipelines.facts import native_size
from mdwidgets.render.figures import compare


def difference(a, b) -> tuple[float, float]:
    worst = max((x.latents - y.latents).abs().max().item() for x, y in zip(a, b))
    size = max(y.latents.abs().max().item() for y in b)
    return worst, worst / size


def best_of(repeats: int, run):
    times, out = [], None
    for _ in range(repeats):
        started = time.perf_counter()
        out = run()
        times.append(time.perf_counter() - started)
    return min(times), out


def bench(pipe, size: int, steps: int, repeats: int) -> dict:
    layout = layout_with(3, size)
    kwargs = dict(num_inference_steps=steps, seed=0, guidance_scale=7.5, score=lambda image, layout: None)
    compose(pipe, layout, num_inference_steps=1, seed=0)  # warm-up
    entry = {"canvas": size, "steps": steps, "regions": 3}

    alone_s, alone = best_of(repeats, lambda: compare(pipe, layout, batch=False, **kwargs))
    together_s, together = best_of(repeats, lambda: compare(pipe, layout, batch=True, **kwargs))
    diff, rel = difference(together.results, alone.results)
    entry["bootstrap_comparison"] = {
        "cells": len(alone.values), "one_after_another_s": alone_s, "together_s": together_s,
        "speedup": alone_s / together_s, "max_abs_diff": diff, "max_rel_diff": rel,
    }

    runs = [Run(layout, Settings(steps=steps, seed=seed)) for seed in range(4)]
    alone_s, alone = best_of(repeats, lambda: [compose(pipe, run.layout, settings=run.settings) for run in runs])
    together_s, together = best_of(repeats, lambda: compose_many(pipe, runs))
    diff, rel = difference(together, alone)
    entry["four_seeds"] = {"one_after_another_s": alone_s, "together_s": together_s,
                           "speedup": alone_s / together_s, "max_abs_diff": diff, "max_rel_diff": rel}
    return entry


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", nargs="+", default=["builtin", "sd15"], choices=["builtin", "sd15"])
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--out", default="benchmarks/results/compare_cells.json")
    args = parser.parse_args()
    report = {"machine": machine(), "models": {}}
    for name, label, pipe in benchmark_pipelines(args.models):
        size = native_size(pipe) if name == "builtin" else 256
        steps = 25 if name == "builtin" else 8
        print(f"{label} at {size}x{size}, {steps} steps, 3 regions:", flush=True)
        entry = bench(pipe, size, steps, args.repeats)
        for what, row in (("bootstrap comparison (4 cells)", entry["bootstrap_comparison"]),
                          ("four seeds", entry["four_seeds"])):
            print(f"  {what}: one after another {row['one_after_another_s']:.2f} s, together "
                  f"{row['together_s']:.2f} s -> {row['speedup']:.2f}x; max diff {row['max_abs_diff']:.1e} "
                  f"({row['max_rel_diff']:.1e} relative)", flush=True)
        report["models"][name] = {"model": label, **entry}
        del pipe
    write_report(report, args.out)


if __name__ == "__main__":
    main()
