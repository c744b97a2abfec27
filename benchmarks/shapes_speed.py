"""Built-in model speed: a 4-region composition at the Studio's default steps, this model vs the previous one.

    python -m benchmarks.shapes_speed [--baseline-commit 4005e00] [--repeats 5]

The previous built-in model (256 px native, a 32×32 latent) is taken out of git history with
``git archive`` into a temporary folder, so both models are timed in the same run on the same
machine: each renders random 4-box layouts (:func:`training.compositions.random_layout`)
at its own native canvas, one warm-up, then ``--repeats`` timed runs (median reported). Writes
``benchmarks/results/shapes_speed.json``.
"""

from __future__ import annotations

import argparse
import io
import random
import statistics
import subprocess
import tarfile
import tempfile
import time
from pathlib import Path

import torch

from benchmarks.bench_sampler import machine, write_report
from mdwidgets import Settings, compose, load_pipeline
from mdwidgets.pipelines.facts import model_family, native_size
from mdwidgets.pipelines.loading import SHAPES_DIR
from training.compositions import random_layout

REPO = Path(__file__).resolve().parents[1]


def previous_model(commit: str, into: Path) -> Path:
    """The built-in model folder as it was at ``commit``, extracted under ``into``."""
    folder = SHAPES_DIR.relative_to(REPO).as_posix()
    tar = subprocess.run(["git", "-C", str(REPO), "archive", commit, folder], check=True, capture_output=True).stdout
    tarfile.open(fileobj=io.BytesIO(tar)).extractall(into, filter="data")
    return into / folder


def time_model(pipe, repeats: int) -> dict:
    """Median seconds of 4-region compositions at the built-in family's defaults (steps, bootstrapping)."""
    size, settings = native_size(pipe), Settings().resolved(model_family(pipe))
    rng = random.Random(0)
    compose(pipe, random_layout(rng, size, objects=4)[0], seed=0)  # warm-up
    seconds = []
    for k in range(repeats):
        layout, _ = random_layout(rng, size, objects=4)
        started = time.perf_counter()
        compose(pipe, layout, seed=k)
        seconds.append(time.perf_counter() - started)
    return {"canvas": size, "steps": settings.steps, "bootstrap_steps": settings.bootstrap_steps, "regions": 4,
            "median_s": round(statistics.median(seconds), 3),
            "runs_s": [round(s, 3) for s in seconds],
            "unet_params_m": round(sum(p.numel() for p in pipe.unet.parameters()) / 1e6, 2)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--baseline-commit", default="4005e00", help="a commit whose built-in model is the baseline")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--out", default="benchmarks/results/shapes_speed.json")
    args = parser.parse_args()
    report = {"machine": machine(), "target_s": 1.0}
    with tempfile.TemporaryDirectory() as tmp:
        # the old folder gets the built-in family's defaults too (a folder alone would get SD's)
        old = load_pipeline(str(previous_model(args.baseline_commit, Path(tmp))), family=model_family(load_pipeline()))
        report["previous"] = {"commit": args.baseline_commit, **time_model(old, args.repeats)}
    report["current"] = time_model(load_pipeline(), args.repeats)
    report["speed_up"] = round(report["previous"]["median_s"] / report["current"]["median_s"], 2)
    for name in ("previous", "current"):
        r = report[name]
        print(f"{name:9s} {r['canvas']}×{r['canvas']} 4 regions {r['steps']} steps "
              f"({r['bootstrap_steps']} bootstrapped): {r['median_s']:.2f} s "
              f"(UNet {r['unet_params_m']} M params)")
    print(f"speed-up {report['speed_up']}×; target ≤ {report['target_s']} s: "
          f"{'met' if report['current']['median_s'] <= report['target_s'] else 'not met'} "
          f"({torch.get_num_threads()} threads)")
    write_report(report, args.out)


if __name__ == "__main__":
    main()
