"""Evaluate region composition on the shapes model: do objects land in their boxes, in their colours and shapes?

    python -m training.compositions [--model builtin:shapes] [--samples 96] [--steps 25]
        [--bootstrap 0 5 10 15 20 25] [--guidance 5] [--no-baseline] [--examples 16]
        [--save DIR [--reuse]] [--ceiling]

Prints JSON. Each sample is a random layout (2–4 boxes of distinct colours and random shapes on a
background of another colour, at the model's native canvas size), rendered with the same seed:

- MultiDiffusion at each ``--bootstrap`` value (bootstrapped steps of ``--steps``; default: 0 and the
  model's default, builtin:shapes: 32% of the steps, 8 of 25);
- the baseline (unless ``--no-baseline``): plain single-prompt generation of the whole scene as one
  sentence ("a red circle and a yellow square on a blue background"), which knows no boxes.

``--examples N`` scores the model's example layouts too, at the same bootstrap values: the
quick-start layout (``mdwidgets/examples/shapes.json``) at seeds 0 to N-1 and the panorama at seeds
0 to N/4-1 (windows of the native size, stride 8, circular, as its picture in the model card).

Scores (:func:`mdwidgets.shapes.adherence.shapes_adherence`), each as [mean, standard error] over
layouts: ``object_right`` (share of the boxes whose object has the prompt's colour and shape and lies
inside its box: the judge checked against objects labelled by eye), ``colour``, ``shape``,
``in_box`` (each of the three alone), ``iou`` (that colour's pixels vs the box) and ``background``
(share of the pixels outside the boxes in the background colour). Speed: ``python -m benchmarks.shapes_speed``.

``--ceiling`` scores, for the same layouts, the picture each one asks for (:func:`layout_scene`:
every shape filling its box) as drawn and after the model's VAE round trip: no UNet can score
above the second.
"""

from __future__ import annotations

import argparse
import json
import math
import random
import statistics
from collections.abc import Sequence
from pathlib import Path

from mdwidgets.layout import Layout, Region
from mdwidgets.pipelines.facts import model_name, native_size
from mdwidgets.pipelines.loading import DEFAULT_MODEL, load_pipeline
from mdwidgets.sampling.sampler import compose
from mdwidgets.settings import Settings
from mdwidgets.shapes.adherence import prompt_colour, prompt_shape, shapes_adherence
from mdwidgets.shapes.data import COLOUR_NAMES, SHAPES, Obj, Scene, article, render

from .evaluate import vae_round_trip


def random_layout(rng: random.Random, size: int = 128, objects: int | None = None) -> tuple[Layout, str]:
    """A layout with 2–4 non-overlapping boxes (sides 20–47% of the canvas, on the 8-px latent
    grid), and the same scene as one sentence."""
    count = objects or rng.randint(2, 4)
    background, *colours = rng.sample(COLOUR_NAMES, count + 1)
    low, high = 8 * math.ceil(0.2 * size / 8), 8 * math.floor(0.47 * size / 8)
    boxes: list[tuple[int, int, int, int]] = []
    while len(boxes) < count:
        side = rng.randrange(low, high + 1, 8)
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


def layout_scene(layout: Layout) -> Scene:
    """The picture a shapes layout asks for: each region's shape filling its box, in its colour."""
    objects = [Obj(prompt_colour(r.prompt), prompt_shape(r.prompt),
                   (r.box[0] / layout.width, r.box[1] / layout.height,
                    r.box[2] / layout.width, r.box[3] / layout.height)) for r in layout.regions]
    return Scene(prompt_colour(layout.background), objects)


def mean_and_error(values: list[float]) -> tuple[float, float]:
    """Mean and standard error of the mean (NaNs dropped)."""
    values = [v for v in values if not math.isnan(v)]
    if len(values) < 2:
        return (values[0] if values else float("nan")), float("nan")
    return statistics.mean(values), statistics.stdev(values) / math.sqrt(len(values))


def evaluate(model: str, samples: int, steps: int, guidance: float | None = None, seed: int = 0,
             pipe=None, bootstraps: Sequence[int | None] = (0, None), baseline: bool = True,
             examples: int = 0, save: Path | None = None, reuse: bool = False) -> dict:
    """Score ``samples`` random layouts at the model's native size (see the module docstring).
    ``bootstraps``: bootstrapped steps to render each layout with (``None``: the model's default);
    ``save``: a folder to keep every picture in (``<layout>_bootstrap_<b>.png``, ``<layout>_baseline.png``);
    ``reuse``: score the pictures already in ``save`` instead of rendering them again."""
    pipe = pipe or load_pipeline(model)
    size = native_size(pipe)
    used = Settings(steps=steps, guidance_scale=guidance).resolved(model_name(pipe))
    values = list(dict.fromkeys(used.bootstrap_steps if b is None else b for b in bootstraps))
    rng = random.Random(seed)
    runs: dict[str, list[dict]] = {f"bootstrap_{b}": [] for b in values}
    if baseline:
        runs["baseline_single_prompt"] = []
    for k in range(samples):
        layout, sentence = random_layout(rng, size)
        common = dict(num_inference_steps=steps, guidance_scale=guidance, seed=seed + k)
        for b in values:
            image = _picture(save, reuse, f"{k:03d}_bootstrap_{b}.png", pipe, layout, bootstrap_steps=b, **common)
            runs[f"bootstrap_{b}"].append(shapes_adherence(image, layout))
        if baseline:
            plain = _picture(save, reuse, f"{k:03d}_baseline.png", pipe,
                             Layout(layout.width, layout.height, sentence), **common)
            runs["baseline_single_prompt"].append(shapes_adherence(plain, layout))
    result = {"model": model, "samples": samples, "size": size, "steps": steps,
              "guidance_scale": used.guidance_scale, "default_bootstrap_steps": used.bootstrap_steps,
              "scores_mean_and_stderr": _summary(runs)}
    if examples:
        result["examples"] = score_examples(pipe, values, examples, steps, guidance, save, reuse)
    return result


def _picture(folder: Path | None, reuse: bool, name: str, pipe, layout: Layout, **kwargs):
    """``compose(pipe, layout, **kwargs)``'s picture, kept as ``folder/name``; or, with ``reuse``, the
    picture already there."""
    from PIL import Image

    if folder is not None and reuse and (folder / name).exists():
        with Image.open(folder / name) as image:
            return image.convert("RGB")
    image = compose(pipe, layout, **kwargs).image
    if folder is not None:
        folder.mkdir(parents=True, exist_ok=True)
        image.save(folder / name)
    return image


def score_examples(pipe, bootstraps: Sequence[int], seeds: int, steps: int, guidance: float | None = None,
                   save: Path | None = None, reuse: bool = False) -> dict:
    """The model's example layouts at each bootstrap value: the quick-start layout at seeds 0 to
    ``seeds``-1 and the panorama (native windows, stride 8, circular) at seeds 0 to ``seeds``/4-1;
    [mean, standard error] over pictures of each score, per layout and bootstrap value."""
    from mdwidgets.layout import example_layouts

    paths = example_layouts()
    panorama = {"window": "native", "stride": 8, "circular": True}
    out = {}
    for name, extra, count in (("shapes", {}, seeds), ("panorama", panorama, max(1, seeds // 4))):
        if name not in paths:
            continue
        layout = Layout.load(paths[name])
        common = dict(num_inference_steps=steps, guidance_scale=guidance, **extra)
        runs: dict[str, list[dict]] = {f"bootstrap_{b}": [] for b in bootstraps}
        for b in bootstraps:
            for s in range(count):
                image = _picture(save, reuse, f"{name}_seed{s}_bootstrap_{b}.png", pipe, layout,
                                 bootstrap_steps=b, seed=s, **common)
                runs[f"bootstrap_{b}"].append(shapes_adherence(image, layout))
        out[name] = {"pictures": count, **_summary(runs)}
    return out


def ceiling(model: str, samples: int, seed: int = 0, pipe=None) -> dict:
    """The scores of the pictures :func:`evaluate`'s layouts ask for, as drawn and after the VAE round trip."""
    pipe = pipe or load_pipeline(model)
    size, rng, round_trip = native_size(pipe), random.Random(seed), vae_round_trip(pipe.vae)
    runs: dict[str, list[dict]] = {"drawn": [], "vae_round_trip": []}
    for _ in range(samples):
        layout, _ = random_layout(rng, size)
        asked = render(layout_scene(layout), size)
        runs["drawn"].append(shapes_adherence(asked, layout))
        runs["vae_round_trip"].append(shapes_adherence(round_trip(asked), layout))
    return {"model": model, "samples": samples, "size": size, "scores_mean_and_stderr": _summary(runs)}


def _summary(runs: dict[str, list[dict]]) -> dict:
    return {name: {key: [round(v, 4) for v in mean_and_error([s[key] for s in scores])] for key in scores[0]}
            for name, scores in runs.items()}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", default=DEFAULT_MODEL)
    parser.add_argument("--samples", type=int, default=64)
    parser.add_argument("--steps", type=int, default=25)
    parser.add_argument("--guidance", type=float, default=None, help="default: the model's own")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--bootstrap", type=int, nargs="*", default=None,
                        help="bootstrapped steps to compare (default: 0 and the model's default; none: baseline only)")
    parser.add_argument("--no-baseline", action="store_true", help="skip the whole scene as one sentence")
    parser.add_argument("--examples", type=int, default=0,
                        help="also score the example layouts at this many seeds (the panorama at a quarter)")
    parser.add_argument("--save", type=Path, default=None, help="a folder to keep every picture in")
    parser.add_argument("--reuse", action="store_true", help="score the pictures already in --save, render the rest")
    parser.add_argument("--ceiling", action="store_true", help="instead: the asked pictures, drawn and through the VAE")
    args = parser.parse_args(argv)
    result = (ceiling(args.model, args.samples, args.seed) if args.ceiling
              else evaluate(args.model, args.samples, args.steps, args.guidance, args.seed,
                            bootstraps=(0, None) if args.bootstrap is None else args.bootstrap,
                            baseline=not args.no_baseline, examples=args.examples, save=args.save,
                            reuse=args.reuse))
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
