"""Score images of coloured shapes: what the toolkit needs to judge the built-in model's pictures.

Torch-free helpers (numpy + Pillow only):

* :func:`classify_colour` - nearest-palette majority vote over pixels;
* :func:`colour_fractions` - fraction of pixels nearest to each palette colour;
* :func:`object_mask` - pixels that differ from a background colour;
* :func:`largest_component`, :func:`fill_holes` - small binary morphology;
* :func:`classify_shape` - geometric shape classifier for a binary mask;
* :func:`analyse` - background / object colour / shape of one image.

The model's evaluation harness (``python -m training.evaluate``) lives outside the package, in ``training/``.
"""
from __future__ import annotations

from collections import deque

import numpy as np
from PIL import Image

from .data import COLOUR_NAMES, COLOURS

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
