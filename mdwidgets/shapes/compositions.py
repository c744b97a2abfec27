"""Evaluate region composition on the shapes model: do objects land in their boxes?

    python -m mdwidgets.shapes.compositions [--model builtin:shapes] [--samples 64] [--steps 25]

Prints JSON. Each sample is a random layout (2–4 boxes of distinct colours on a background of
another colour, 256×256), rendered three ways with the same seed:

- MultiDiffusion without bootstrapping (``bootstrap_steps=0``);
- MultiDiffusion with the default bootstrapping (20% of the steps);
- the baseline: plain single-prompt generation of the whole scene as one sentence
  ("a red circle and a yellow square on a blue background"), which knows no boxes.

Scores (:func:`mdwidgets.scoring.shapes_adherence`): ``in_box`` (share of each box's pixels in
its colour), ``iou`` (that colour's pixels vs the box) and ``background`` (share of the pixels
outside the boxes in the background colour). Also timed: one 4-region composition.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import time

from ..layout import Layout, Region
from ..models import DEFAULT_MODEL, load_pipeline
from ..sampler import compose
from ..scoring import shapes_adherence
from .data import COLOUR_NAMES, SHAPES, article


def random_layout(rng: random.Random, size: int = 256, objects: int | None = None) -> tuple[Layout, str]:
    """A layout with 2–4 non-overlapping boxes, and the same scene as one sentence."""
    count = objects or rng.randint(2, 4)
    background, *colours = rng.sample(COLOUR_NAMES, count + 1)
    boxes: list[tuple[int, int, int, int]] = []
    while len(boxes) < count:
        side = rng.randrange(56, 120, 8)
        x0, y0 = rng.randrange(0, size - side + 1, 8), rng.randrange(0, size - side + 1, 8)
        box = (x0, y0, x0 + side, y0 + side)
        if all(box[2] <= b[0] or b[2] <= box[0] or box[3] <= b[1] or b[3] <= box[1] for b in boxes):
            boxes.append(box)
        elif rng.random() < 0.05:  # crowded: start over
            boxes = []
    phrases = [f"{article(c)} {c} {rng.choice(SHAPES)}" for c in colours]
    regions = [Region(p, box=b) for p, b in zip(phrases, boxes)]
    sentence = " and ".join(phrases) + f" on {article(background)} {background} background"
    return Layout(size, size, f"{article(background)} {background} background", regions), sentence


def evaluate(model: str, samples: int, steps: int, guidance: float, seed: int = 0) -> dict:
    pipe = load_pipeline(model)
    rng = random.Random(seed)
    runs: dict[str, list[dict]] = {"bootstrap_0": [], "bootstrap_default": [], "baseline_single_prompt": []}
    for k in range(samples):
        layout, sentence = random_layout(rng)
        common = dict(num_inference_steps=steps, guidance_scale=guidance, seed=seed + k)
        for name, kwargs in (("bootstrap_0", {"bootstrap_steps": 0}), ("bootstrap_default", {})):
            runs[name].append(shapes_adherence(compose(pipe, layout, **common, **kwargs).image, layout))
        plain = compose(pipe, Layout(layout.width, layout.height, sentence), **common)
        runs["baseline_single_prompt"].append(shapes_adherence(plain.image, layout))
    summary = {
        name: {key: statistics.mean(s[key] for s in scores) for key in scores[0]} for name, scores in runs.items()
    }
    timing_layout, _ = random_layout(random.Random(seed), objects=4)
    started = time.perf_counter()
    compose(pipe, timing_layout, num_inference_steps=25, guidance_scale=guidance, seed=seed)
    return {
        "model": model, "samples": samples, "steps": steps, "guidance_scale": guidance,
        "default_bootstrap_steps": round(0.2 * steps), **summary,
        "seconds_4_regions_256px_25_steps": time.perf_counter() - started,
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", default=DEFAULT_MODEL)
    parser.add_argument("--samples", type=int, default=64)
    parser.add_argument("--steps", type=int, default=25)
    parser.add_argument("--guidance", type=float, default=5.0)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    print(json.dumps(evaluate(args.model, args.samples, args.steps, args.guidance, args.seed), indent=2))


if __name__ == "__main__":
    main()
