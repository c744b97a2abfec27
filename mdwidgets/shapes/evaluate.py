"""Score images of coloured shapes, and evaluate the shapes model.

Reusable, torch-free helpers (numpy + Pillow only):

* :func:`classify_colour` - nearest-palette majority vote over pixels;
* :func:`colour_fractions` - fraction of pixels nearest to each palette colour;
* :func:`object_mask` - pixels that differ from a background colour;
* :func:`largest_component`, :func:`fill_holes` - small binary morphology;
* :func:`classify_shape` - geometric shape classifier for a binary mask;
* :func:`analyse` - background / object colour / shape of one image.

Command line (prints JSON)::

    python -m mdwidgets.shapes.evaluate --samples 160            # the shipped model (builtin:shapes)
    python -m mdwidgets.shapes.evaluate --groundtruth 500        # checker accuracy on renders
    python -m mdwidgets.shapes.evaluate --vae-ceiling 500        # checker after the VAE round trip

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
from collections import deque
from collections.abc import Callable, Sequence

import numpy as np
from PIL import Image

from .data import COLOUR_NAMES, COLOURS, SHAPES, Obj, Scene, article, render

PALETTE = np.array([COLOURS[c] for c in COLOUR_NAMES], dtype=np.float32)


# --------------------------------------------------------------------------
# colour
# --------------------------------------------------------------------------
def _as_pixels(pixels) -> np.ndarray:
    if isinstance(pixels, Image.Image):
        pixels = np.asarray(pixels.convert("RGB"))
    a = np.asarray(pixels, dtype=np.float32)
    return a.reshape(-1, 3)


def nearest_palette_index(pixels) -> np.ndarray:
    """Index into :data:`COLOUR_NAMES` of the nearest palette colour per pixel."""
    p = _as_pixels(pixels)
    d = ((p[:, None, :] - PALETTE[None, :, :]) ** 2).sum(-1)
    return d.argmin(1)


def colour_fractions(pixels) -> dict[str, float]:
    """Fraction of ``pixels`` (N x 3 array, H x W x 3 array or PIL image) whose
    nearest palette colour is each colour name."""
    idx = nearest_palette_index(pixels)
    if idx.size == 0:
        return {c: 0.0 for c in COLOUR_NAMES}
    counts = np.bincount(idx, minlength=len(COLOUR_NAMES)) / idx.size
    return {c: float(counts[i]) for i, c in enumerate(COLOUR_NAMES)}


def classify_colour(pixels) -> str | None:
    """Majority nearest-palette colour name of ``pixels`` (None if empty)."""
    idx = nearest_palette_index(pixels)
    if idx.size == 0:
        return None
    return COLOUR_NAMES[int(np.bincount(idx, minlength=len(COLOUR_NAMES)).argmax())]


def border_pixels(image, width: int = 4) -> np.ndarray:
    a = np.asarray(image.convert("RGB") if isinstance(image, Image.Image) else image)
    w = width
    return np.concatenate([a[:w].reshape(-1, 3), a[-w:].reshape(-1, 3),
                           a[w:-w, :w].reshape(-1, 3), a[w:-w, -w:].reshape(-1, 3)])


def background_colour(image, width: int = 4) -> tuple[str | None, np.ndarray]:
    """(palette name, median RGB) of the image border."""
    b = border_pixels(image, width).astype(np.float32)
    return classify_colour(b), np.median(b, axis=0)


def object_mask(image, background_rgb, threshold: float = 80.0) -> np.ndarray:
    """Boolean H x W mask of pixels whose RGB distance to ``background_rgb``
    (a palette name or an RGB triple) exceeds ``threshold``."""
    if isinstance(background_rgb, str):
        background_rgb = COLOURS[background_rgb]
    a = np.asarray(image.convert("RGB") if isinstance(image, Image.Image) else image, dtype=np.float32)
    d = np.sqrt(((a - np.asarray(background_rgb, dtype=np.float32)) ** 2).sum(-1))
    return d > threshold


# --------------------------------------------------------------------------
# binary morphology (no scipy)
# --------------------------------------------------------------------------
def label_components(mask: np.ndarray):
    """4-connected components: (labels array, list of sizes); label 0 = off."""
    m = np.asarray(mask, dtype=bool)
    H, W = m.shape
    lab = np.zeros((H, W), dtype=np.int32)
    flat = m.ravel()
    labf = lab.ravel()
    sizes = []
    n = 0
    for start in np.flatnonzero(flat):
        if labf[start]:
            continue
        n += 1
        labf[start] = n
        q = deque([start])
        cnt = 0
        while q:
            i = q.popleft()
            cnt += 1
            y, x = divmod(i, W)
            for j, ok in ((i - W, y > 0), (i + W, y < H - 1), (i - 1, x > 0), (i + 1, x < W - 1)):
                if ok and flat[j] and not labf[j]:
                    labf[j] = n
                    q.append(j)
        sizes.append(cnt)
    return lab, sizes


def largest_component(mask: np.ndarray) -> np.ndarray:
    lab, sizes = label_components(mask)
    if not sizes:
        return np.zeros_like(mask, dtype=bool)
    return lab == (int(np.argmax(sizes)) + 1)


def count_objects(mask: np.ndarray, min_frac: float = 0.1) -> int:
    """Number of components at least ``min_frac`` of the largest one."""
    _, sizes = label_components(mask)
    if not sizes:
        return 0
    big = max(sizes)
    return sum(1 for s in sizes if s >= min_frac * big)


def fill_holes(mask: np.ndarray) -> np.ndarray:
    """Mask with all background regions not connected to the border filled."""
    m = np.asarray(mask, dtype=bool)
    inv = np.pad(~m, 1, constant_values=True)
    lab, _ = label_components(inv)
    outside = lab == lab[0, 0]
    return ~outside[1:-1, 1:-1]


def _downsample_mask(mask: np.ndarray, max_side: int = 128) -> np.ndarray:
    H, W = mask.shape
    f = max(1, int(np.ceil(max(H, W) / max_side)))
    if f == 1:
        return mask
    H2, W2 = H // f * f, W // f * f
    m = mask[:H2, :W2].reshape(H2 // f, f, W2 // f, f).mean(axis=(1, 3))
    return m >= 0.5


# --------------------------------------------------------------------------
# shape
# --------------------------------------------------------------------------
def shape_features(mask: np.ndarray) -> dict[str, float]:
    """Geometric features of the largest component of ``mask``."""
    m = largest_component(_downsample_mask(np.asarray(mask, dtype=bool)))
    ys, xs = np.nonzero(m)
    if len(ys) == 0:
        return {}
    y0, y1, x0, x1 = ys.min(), ys.max() + 1, xs.min(), xs.max() + 1
    box = m[y0:y1, x0:x1]
    filled = fill_holes(box)
    area, farea = box.sum(), filled.sum()
    h, w = box.shape
    top = filled[: h // 2].sum() / max(1, farea)          # share of area in top half
    # convex-hull-free concavity cue: how much of the row-wise span is filled
    spans = []
    for row in filled:
        nz = np.flatnonzero(row)
        if len(nz):
            spans.append(len(nz) / (nz[-1] - nz[0] + 1))
    row_solidity = float(np.mean(spans)) if spans else 0.0
    return {"fill": float(area / (h * w)), "filled_fill": float(farea / (h * w)),
            "hole": float(1 - area / max(1, farea)), "top": float(top),
            "aspect": float(w / h), "row_solidity": row_solidity, "area": int(area)}


def classify_shape(mask: np.ndarray) -> str | None:
    """Shape name (one of :data:`SHAPES`) for a binary object mask, or None.

    Rules on the largest component's bounding box (validated on renders of
    the generator, see ``--groundtruth``):
    ring = hole inside; square = box ~full; circle = fill ~0.785 and
    symmetric top/bottom; triangle = area concentrated in the bottom half and
    convex rows; star = low fill and concave rows.
    """
    f = shape_features(mask)
    if not f or f["area"] < 12:
        return None
    if f["hole"] > 0.12 and f["filled_fill"] > 0.6:
        return "ring"
    if f["filled_fill"] > 0.9:
        return "square"
    if f["row_solidity"] < 0.88 or f["filled_fill"] < 0.42:
        return "star"
    if f["top"] < 0.37:
        return "triangle"
    if f["filled_fill"] > 0.66:
        return "circle"
    return "triangle" if f["top"] < 0.45 else "star"


# --------------------------------------------------------------------------
# whole-image analysis
# --------------------------------------------------------------------------
def analyse(image: Image.Image, min_object_frac: float = 0.003) -> dict[str, object]:
    """Background colour, main object colour/shape and object count of an image."""
    bg_name, bg_rgb = background_colour(image)
    mask = object_mask(image, bg_rgb)
    res = {"background": bg_name, "object_colour": None, "shape": None, "n_objects": 0,
           "object_frac": float(mask.mean())}
    if mask.mean() < min_object_frac:
        return res
    a = np.asarray(image.convert("RGB"))
    main = largest_component(mask)
    res["object_colour"] = classify_colour(a[main])
    res["shape"] = classify_shape(main)
    res["n_objects"] = count_objects(mask)
    return res


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
    from ..images import decode_latents, encode_image

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

    from ..models import load_pipeline, native_size
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
        from ..models import load_pipeline

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
