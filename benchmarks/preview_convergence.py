"""How soon a Generate's preview resembles its final picture, per bootstrap setting.

    python -m benchmarks.preview_convergence [--seeds 5] [--out benchmarks/results/preview_convergence.json]

The built-in model renders the quick-start layout (``mdwidgets/examples/shapes.json``) at its default
steps and guidance, seeds 0..N-1, once per bootstrap value (0, 5, 10, 20 of 25 and the model's
default). At 25%, 50% and 75% of the steps the Studio's preview of that step (the true decode of the
fused clean-latent prediction x0: the built-in model's previewer) is compared with the final picture:
mean absolute error in /255, averaged over seeds. Each x0 preview is also compared with the *next*
picture a person would otherwise see, a flat mean colour of the final picture (the "no preview"
baseline), so the numbers say how much a preview tells.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from mdwidgets.catalog import default_bootstrap_steps, default_steps
from mdwidgets.layout import Layout, example_layouts
from mdwidgets.pipelines.loading import load_pipeline
from mdwidgets.sampling.images import decode_latents
from mdwidgets.sampling.sampler import compose

POINTS = (0.25, 0.5, 0.75)


def distance(a, b) -> float:
    return float(np.abs(np.asarray(a, np.float32) - np.asarray(b, np.float32)).mean())


def run(pipe, layout: Layout, steps: int, bootstrap: int, seed: int) -> dict[str, float]:
    wanted = {max(round(p * steps) - 1, 0): p for p in POINTS}  # the step index that ends p of the run
    previews = {}

    def keep(event) -> None:
        if event.step in wanted:
            previews[wanted[event.step]] = decode_latents(pipe.vae, event.x0)

    result = compose(pipe, layout, num_inference_steps=steps, bootstrap_steps=bootstrap, seed=seed, callback=keep)
    final = np.asarray(result.image.convert("RGB"), np.float32)
    flat = np.broadcast_to(final.reshape(-1, 3).mean(0), final.shape)
    row = {f"at {round(p * 100)}%": distance(previews[p].convert("RGB"), final) for p in POINTS}
    row["flat colour"] = distance(flat, final)
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/preview_convergence.json"))
    args = parser.parse_args()
    pipe = load_pipeline("builtin:shapes")
    layout = Layout.load(example_layouts()["shapes"])
    steps = default_steps("builtin:shapes")
    default = default_bootstrap_steps("builtin:shapes", steps)
    report = {}
    for bootstrap in sorted({0, 5, 10, 20, default}):
        rows = [run(pipe, layout, steps, bootstrap, seed) for seed in range(args.seeds)]
        report[bootstrap] = {k: float(np.mean([r[k] for r in rows])) for k in rows[0]}
    print(f"quick-start layout, builtin:shapes, {steps} steps, seeds 0-{args.seeds - 1}: "
          "mean |preview - final| /255")
    print(f"{'bootstrap':>12} " + " ".join(f"{k:>12}" for k in next(iter(report.values()))))
    for bootstrap, row in report.items():
        label = f"{bootstrap}{' (default)' if bootstrap == default else ''}"
        print(f"{label:>12} " + " ".join(f"{v:12.1f}" for v in row.values()))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"steps": steps, "default_bootstrap": default, "seeds": args.seeds,
                                    "mean_abs_error_255": report}, indent=1))


if __name__ == "__main__":
    main()
