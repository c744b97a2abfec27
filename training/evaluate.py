"""Evaluate the built-in shapes model (the harness; the scoring lives in mdwidgets.shapes.analysis).

Command line (prints JSON)::

    python -m training.evaluate --samples 160            # the shipped model (builtin:shapes)
    python -m training.evaluate --groundtruth 500        # checker accuracy on renders
    python -m training.evaluate --vae-ceiling 500        # checker after the VAE round trip

For each sample a prompt "a {colour} {shape} on a {colour} background" is
drawn (fixed seed), generated at the model's native size with DDIM (25
steps, CFG 5 by default), and scored: object colour correct, shape correct,
background colour correct, plus the number of separate objects found. Each
rate comes with its standard error (``*_stderr_pct``: sqrt(p(1-p)/n)).
"""
from __future__ import annotations

import argparse
import json
import random
import sys
import time
from collections.abc import Callable, Sequence

from PIL import Image

from mdwidgets.shapes.analysis import analyse
from mdwidgets.shapes.data import COLOUR_NAMES, SHAPES, Obj, Scene, article, render


def groundtruth_accuracy(n: int = 500, seed: int = 0, sizes: Sequence[int] = (256, 128),
                         transform: Callable[[Image.Image], Image.Image] | None = None) -> dict[str, float]:
    """Accuracy of :func:`analyse` on single-object renders of the generator
    (random colour/shape/background, object side 12-70% of the canvas), each passed through
    ``transform`` first if given (e.g. a VAE round trip: the ceiling of a model using that VAE)."""
    rng = random.Random(seed)
    ok = {"colour": 0, "shape": 0, "background": 0, "one_object": 0}
    per_shape = {s: [0, 0] for s in SHAPES}
    for i in range(n):
        size = sizes[i % len(sizes)]
        bg = rng.choice(COLOUR_NAMES)
        col = rng.choice([c for c in COLOUR_NAMES if c != bg])
        shp = rng.choice(SHAPES)
        s = rng.uniform(0.12 if size >= 256 else 0.2, 0.7)
        x0, y0 = rng.uniform(0.02, 0.98 - s), rng.uniform(0.02, 0.98 - s)
        img = render(Scene(bg, [Obj(col, shp, (x0, y0, x0 + s, y0 + s))]), size)
        r = analyse(transform(img) if transform else img)
        ok["colour"] += r["object_colour"] == col
        ok["shape"] += r["shape"] == shp
        ok["background"] += r["background"] == bg
        ok["one_object"] += r["n_objects"] == 1
        per_shape[shp][0] += r["shape"] == shp
        per_shape[shp][1] += 1
    out = {k: 100.0 * v / n for k, v in ok.items()}
    out["shape_by_class"] = {k: round(100.0 * a / max(1, b), 1) for k, (a, b) in per_shape.items()}
    out["n"] = n
    return out


# --------------------------------------------------------------------------
# model evaluation
# --------------------------------------------------------------------------
def vae_round_trip(vae) -> Callable[[Image.Image], Image.Image]:
    """Image → ``vae``'s decode of its encoding (the mode of the posterior): what the VAE can show."""
    from mdwidgets.sampling.images import decode_latents, encode_image

    return lambda image: decode_latents(vae, encode_image(vae, image))


def eval_prompts(n: int, seed: int = 0):
    """``n`` (colour, shape, background) triples, deterministic, balanced-ish."""
    triples = [(c, s, b) for c in COLOUR_NAMES for s in SHAPES for b in COLOUR_NAMES if c != b]
    rng = random.Random(seed)
    rng.shuffle(triples)
    return [triples[i % len(triples)] for i in range(n)]


def prompt_for(colour, shape, background) -> str:
    return f"{article(colour)} {colour} {shape} on {article(background)} {background} background"


def evaluate_model(model: str, samples: int = 64, size: int | None = None, steps: int = 25,
                   cfg: float = 5.0, seed: int = 0, batch: int = 16, grid_path: str | None = None,
                   threads: int | None = None, pipe=None) -> dict[str, object]:
    import torch
    from diffusers import DDIMScheduler

    from mdwidgets.pipelines.facts import native_size
    from mdwidgets.pipelines.loading import load_pipeline
    if threads:
        torch.set_num_threads(threads)
    if pipe is None:
        pipe = load_pipeline(model)
    pipe.scheduler = DDIMScheduler.from_config(pipe.scheduler.config)
    pipe.set_progress_bar_config(disable=True)
    size = size or native_size(pipe)
    triples = eval_prompts(samples, seed)
    t0 = time.time()
    images = []
    for i in range(0, samples, batch):
        chunk = triples[i:i + batch]
        gens = [torch.Generator().manual_seed(seed * 100003 + i + k) for k in range(len(chunk))]
        with torch.no_grad():
            images += pipe([prompt_for(*t) for t in chunk], height=size, width=size,
                           num_inference_steps=steps, guidance_scale=cfg, generator=gens).images
    gen_s = time.time() - t0
    ok = {"colour": 0, "shape": 0, "background": 0, "all": 0, "single_object": 0}
    for (c, s, b), im in zip(triples, images):
        r = analyse(im)
        oc, os_, ob = r["object_colour"] == c, r["shape"] == s, r["background"] == b
        ok["colour"] += oc
        ok["shape"] += os_
        ok["background"] += ob
        ok["all"] += oc and os_ and ob
        ok["single_object"] += r["n_objects"] == 1
    res = {}
    for k, v in ok.items():
        name = f"{k}_correct" if k != "single_object" else "single_object"
        rate = v / samples
        res[f"{name}_pct"] = round(100.0 * rate, 1)
        res[f"{name}_stderr_pct"] = round(100.0 * (rate * (1 - rate) / samples) ** 0.5, 1)
    res.update({"samples": samples, "size": size, "steps": steps, "cfg": cfg, "seed": seed,
                "scheduler": "DDIM", "generation_seconds": round(gen_s, 1)})
    if grid_path:
        cols = 8
        w = images[0].size[0]
        g = Image.new("RGB", (cols * w, ((len(images) + cols - 1) // cols) * w))
        for k, im in enumerate(images):
            g.paste(im, ((k % cols) * w, (k // cols) * w))
        g.save(grid_path)
    return res


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default="builtin:shapes", help="builtin:shapes or a diffusers folder")
    p.add_argument("--samples", type=int, default=64)
    p.add_argument("--size", type=int, default=None, help="default: the model's native size")
    p.add_argument("--steps", type=int, default=25)
    p.add_argument("--cfg", type=float, default=5.0)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--batch", type=int, default=16)
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--grid", default=None, help="save a PNG grid of the generations")
    p.add_argument("--groundtruth", type=int, default=0,
                   help="instead: accuracy of the checker on N ground-truth renders")
    p.add_argument("--vae-ceiling", type=int, default=0,
                   help="instead: the checker on N ground-truth renders at the native size after the model's "
                        "VAE round trip (what a perfect UNet could reach)")
    a = p.parse_args(argv)
    if a.groundtruth:
        res = groundtruth_accuracy(a.groundtruth, a.seed)
    elif a.vae_ceiling:
        from mdwidgets.pipelines.loading import load_pipeline

        size, vae = a.size or 128, load_pipeline(a.model).vae
        res = groundtruth_accuracy(a.vae_ceiling, a.seed, sizes=(size,), transform=vae_round_trip(vae))
        res["model"], res["size"] = a.model, size
    else:
        res = evaluate_model(a.model, a.samples, a.size, a.steps, a.cfg, a.seed, a.batch, a.grid, a.threads)
        res["model"] = a.model
    json.dump(res, sys.stdout, indent=1)
    print()


if __name__ == "__main__":
    main()
