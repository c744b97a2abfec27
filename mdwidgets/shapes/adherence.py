"""How well an image of the shapes model follows its layout (numpy + Pillow only).

Every pixel is labelled with its nearest palette colour. Each box's object is judged as a person
would (:func:`judge_object`): is there an object in the prompt's colour, is it the prompt's shape,
does it lie inside its box? It was fitted to 189 objects labelled by eye and checked on 87 more
(``tests/data/object_labels``, ``python scripts/object_labels.py agreement``): it agrees with the
labels on the colour for 92%, the shape 93%, the place 92% and the three together 89.5% of them (held
out alone: 89%, 91%, 89%, 85%). Per layout, as shares of its boxes:

- ``object_right``: the object is right in all three (the score the defaults are picked by);
- ``colour``, ``shape``, ``in_box``: each of the three on its own (``shape`` only over boxes whose
  prompt names a shape; NaN where none does);
- ``iou``: IoU of the box with the pixels of the prompt's colour (pixels inside another box of the
  same colour belong to that box): how well the object fills its box, which a box-filling blob
  does best, so it is no score for the shape.

Outside every box: ``background``, the share of pixels in the background prompt's colour.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from PIL import Image

from .analysis import PALETTE, fill_holes, label_components, nearest_palette_index
from .data import COLOUR_NAMES, SHAPES

_COLOUR_WORD = re.compile(r"\b(" + "|".join(COLOUR_NAMES) + r")\b", re.IGNORECASE)
_SHAPE_WORD = re.compile(r"\b(" + "|".join(SHAPES) + r")s?\b", re.IGNORECASE)

# The judge's constants (fitted to batch 1 of the labelled objects in tests/data/object_labels):
MARGIN = 0.25  #: the window an object is looked for in: its box grown by this share of its side
MIN_OBJECT = 0.05  #: an object covers at least this share of its box in its colour
TIGHT_GROW = 4  #: px an object grows into the non-background pixels around it (its rims, highlights)
WIDE_GROW = 0.5  #: and, as a second view of its shape, this share of its box's side
MAX_OVERHANG = 0.15  #: inside its box: overhangs no side by more than this share of the box's side


def prompt_colour(prompt: str) -> str | None:
    """The first palette colour named in a prompt (``"a red circle"`` → ``"red"``)."""
    match = _COLOUR_WORD.search(prompt)
    return match.group(1).lower() if match else None


def prompt_shape(prompt: str) -> str | None:
    """The first shape named in a prompt (``"a red circle"`` → ``"circle"``)."""
    match = _SHAPE_WORD.search(prompt)
    return match.group(1).lower() if match else None


@dataclass(frozen=True)
class Verdict:
    """One box's object as :func:`judge_object` sees it."""

    colour: bool  #: an object in the prompt's colour is there
    shape: bool | None  #: it is the prompt's shape (None: the prompt names none)
    inside: bool  #: it lies inside its box
    found: str | None = None  #: the shape seen (None: none of SHAPES, or no object)
    overhang: float | None = None  #: how far it reaches out of its box, as a share of the box's side

    @property
    def right(self) -> bool:
        """Right colour, right shape (where one is asked) and inside its box."""
        return self.colour and self.shape is not False and self.inside


def shapes_adherence(image: Image.Image, layout) -> dict[str, float] | None:
    """``object_right``, ``colour``, ``shape``, ``in_box`` (shares of the boxes), ``iou`` (mean over
    boxes) and ``background``; ``None`` when the prompts name no palette colours. ``shape`` is NaN
    when no box prompt names a shape."""
    boxes = [(r, prompt_colour(r.prompt)) for r in layout.regions if r.box is not None]
    background = prompt_colour(layout.background)
    if not boxes or any(c is None for _, c in boxes) or background is None:
        return None
    rgb = np.asarray(image.convert("RGB").resize((layout.width, layout.height)))
    labels = nearest_palette_index(rgb).reshape(rgb.shape[:2])
    masks = [_box_mask(labels.shape, region.box) for region, _ in boxes]
    verdicts, ious = [], []
    for (region, colour), mask in zip(boxes, masks):
        others = np.zeros_like(mask)
        for (_, c), m in zip(boxes, masks):
            if c == colour and m is not mask:
                others |= m & ~mask
        mine = (labels == COLOUR_NAMES.index(colour)) & ~others
        ious.append(float((mine & mask).sum() / max((mine | mask).sum(), 1)))
        rest = [_int_box(r.box) for r, _ in boxes if r is not region]
        verdicts.append(judge_object(labels, _int_box(region.box), COLOUR_NAMES.index(colour),
                                     prompt_shape(region.prompt), rest, exclude=others))
    outside = ~np.logical_or.reduce(masks)
    bg = float((labels[outside] == COLOUR_NAMES.index(background)).mean()) if outside.any() else float("nan")
    shapes = [v.shape for v in verdicts if v.shape is not None]
    return {"object_right": _share(v.right for v in verdicts), "colour": _share(v.colour for v in verdicts),
            "shape": _share(shapes) if shapes else float("nan"), "in_box": _share(v.inside for v in verdicts),
            "iou": float(np.mean(ious)), "background": bg}


def judge_crop(image: Image.Image, box, prompt: str, others: Sequence[Sequence[float]] = ()) -> Verdict:
    """:func:`judge_object` on a picture, or a crop of one (``box`` and ``others``, the layout's other
    boxes, in its pixels), for a box prompt such as ``"a red circle"``."""
    rgb = np.asarray(image.convert("RGB"))
    labels = nearest_palette_index(rgb).reshape(rgb.shape[:2])
    return judge_object(labels, _int_box(box), COLOUR_NAMES.index(prompt_colour(prompt)), prompt_shape(prompt),
                        [_int_box(b) for b in others])


def judge_object(labels: np.ndarray, box: tuple[int, int, int, int], colour: int, shape: str | None,
                 others: Sequence[tuple[int, int, int, int]] = (),
                 exclude: np.ndarray | None = None) -> Verdict:
    """Judge the object of one box as a person would, from palette labels (H × W indices into
    :data:`COLOUR_NAMES`) in the box's window (the box grown by :data:`MARGIN` of its side).

    - The *background* is the commonest colour on the window's edge other than the prompt's.
    - The *object* is the largest patch of the prompt's colour that reaches into the box (thin rims
      between two other colours left out), grown :data:`TIGHT_GROW` px into the non-background
      pixels around it (its own rims and highlights) but not into ``others`` (the layout's other
      boxes); ``exclude`` masks pixels that may not be its colour.
    - **Colour** right: it covers :data:`MIN_OBJECT` of the box, is the commonest colour of the object
      in the box, and the window's edge is not mostly its colour (then it is the background).
    - **Shape** (:func:`classify_object`) on the object and on it grown :data:`WIDE_GROW` of the side
      further (a shape drawn in two shades, such as an orange square going yellow); either may match.
    - **Inside**: the object (its rows and columns of at least a fifth of its widest) overhangs no
      side of the box by more than :data:`MAX_OVERHANG` of the box's side.
    """
    H, W = labels.shape
    x0, y0, x1, y1 = box
    side = max(x1 - x0, y1 - y0, 1)
    mx, my = int((x1 - x0) * MARGIN), int((y1 - y0) * MARGIN)
    wx0, wy0, wx1, wy1 = max(x0 - mx, 0), max(y0 - my, 0), min(x1 + mx, W), min(y1 + my, H)
    lab = labels[wy0:wy1, wx0:wx1]
    inbox = np.zeros(lab.shape, bool)
    inbox[max(y0 - wy0, 0):y1 - wy0, max(x0 - wx0, 0):x1 - wx0] = True
    nothing = Verdict(False, None if shape is None else False, False)
    if lab.size == 0 or not inbox.any():
        return nothing
    edge = np.concatenate([lab[0], lab[-1], lab[:, 0], lab[:, -1]])
    counts = np.bincount(edge, minlength=len(COLOUR_NAMES))
    colour_is_background = counts[colour] >= 0.5 * edge.size
    counts[colour] = -1
    bg = int(counts.argmax())
    mine = lab == colour
    if exclude is not None:
        mine &= ~exclude[wy0:wy1, wx0:wx1]
    seed = _largest_in(_dilate(_erode(mine)), inbox)  # opened: thin rims between two other colours go
    if seed is None:
        seed = _largest_in(mine, inbox)
        if seed is None:
            return nothing
    near, _ = label_components(mine & _dilate(_dilate(seed)))
    obj = np.isin(near, [i for i in np.unique(near[seed]) if i])
    allowed = lab != bg
    for ox0, oy0, ox1, oy1 in others:
        allowed[max(oy0 - wy0, 0):max(oy1 - wy0, 0), max(ox0 - wx0, 0):max(ox1 - wx0, 0)] = False
    patches, _ = label_components(allowed | obj)
    blob = np.isin(patches, [i for i in np.unique(patches[obj]) if i])
    tight = _grow_within(obj, blob, TIGHT_GROW)
    filled = fill_holes(tight)
    present = (obj & inbox).sum() >= MIN_OBJECT * inbox.sum() and not colour_is_background
    inner = np.bincount(lab[filled & inbox], minlength=len(COLOUR_NAMES))
    inner[bg] = 0
    colour_ok = bool(present and inner.argmax() == colour)
    ring = _ring(blob, lab, bg, colour)
    found = classify_object(filled, ring)
    if shape is not None and found != shape:
        wide = classify_object(fill_holes(_grow_within(tight, blob, round(WIDE_GROW * side))), ring)
        found = wide if wide == shape else found
    rows, cols = filled.sum(1), filled.sum(0)
    rows = np.flatnonzero(rows >= max(2, 0.2 * rows.max()))
    cols = np.flatnonzero(cols >= max(2, 0.2 * cols.max()))
    if len(rows) == 0 or len(cols) == 0:
        return nothing
    bx0, by0, bx1, by1 = x0 - wx0, y0 - wy0, x1 - wx0, y1 - wy0
    overhang = max(bx0 - cols[0], cols[-1] + 1 - bx1, by0 - rows[0], rows[-1] + 1 - by1, 0) / side
    return Verdict(colour_ok, None if shape is None else found == shape, bool(overhang <= MAX_OVERHANG),
                   found, round(float(overhang), 3))


def classify_object(mask: np.ndarray, ring: bool = False) -> str | None:
    """The shape (one of :data:`SHAPES`) a filled object mask shows, or None for a blob that is none of
    them. ``ring``: a hole of background shows in its middle (:func:`judge_object` decides, from colours).

    Rules on the mask's bounding box: a star is concave (solidity under 0.8) with at least four arms;
    a triangle is narrow at 30% of its height (at most 0.65 of its width at 85%); a circle leaves the
    corners of its box empty (under 22% of the box outside its inscribed ellipse); a square fills its
    box (72%) and is wide at 30% and 70% of its height. A rounded square is therefore a square, not a
    circle, and an hourglass or a flat-topped bell neither a triangle nor a square.
    """
    f = shape_features(mask)
    if not f or f["area"] < 12:
        return None
    if ring:
        return "ring"
    if f["solidity"] < 0.8:
        return "star" if f["arms"] >= 4 else None
    if f["w30"] <= 0.65 * f["w85"]:
        return "triangle"
    if f["corner"] < 0.22:
        return "circle"
    if f["fill"] >= 0.72 and min(f["w30"], f["w70"]) >= 0.7:
        return "square"
    return None


def shape_features(mask: np.ndarray) -> dict[str, float]:
    """Features of a filled mask in its bounding box: ``fill``; ``corner`` (share of the box outside
    its inscribed ellipse, a little enlarged, that is set); ``w30``/``w50``/``w70``/``w85`` (width at
    that share of the height, over the box's width); ``solidity`` (area over its convex hull's);
    ``arms`` (peaks of its outline's distance from its centre); ``area``."""
    ys, xs = np.nonzero(mask)
    if len(ys) == 0:
        return {}
    m = mask[ys.min():ys.max() + 1, xs.min():xs.max() + 1]
    h, w = m.shape
    yy, xx = np.mgrid[0:h, 0:w]
    outside = ((xx + 0.5) / w * 2 - 1) ** 2 + ((yy + 0.5) / h * 2 - 1) ** 2 > 1.15
    widths = m.sum(1) / w

    def width_at(share: float) -> float:
        i = min(h - 1, int(share * h))
        return float(widths[max(0, i - 1):i + 2].mean())

    return {"fill": float(m.mean()), "corner": float(m[outside].mean()) if outside.any() else 0.0,
            "w30": width_at(0.3), "w50": width_at(0.5), "w70": width_at(0.7), "w85": width_at(0.85),
            "solidity": float(m.sum() / max(_hull_area(m), 1.0)), "arms": _arms(m), "area": int(m.sum())}


def _ring(mask: np.ndarray, lab: np.ndarray, bg: int, colour: int) -> bool:
    """Is the object a ring: the middle of its bounding box closer to the background's colour than to the
    prompt's, and an annulus of the prompt's side of the two in at least 10 of 12 directions?"""
    rgb = PALETTE[lab]
    objectish = mask & (((rgb - PALETTE[colour]) ** 2).sum(-1) < ((rgb - PALETTE[bg]) ** 2).sum(-1))
    ys, xs = np.nonzero(objectish)
    if len(ys) < 12:
        return False
    cy, cx = (ys.min() + ys.max()) / 2, (xs.min() + xs.max()) / 2
    ry, rx = (ys.max() + 1 - ys.min()) / 2, (xs.max() + 1 - xs.min()) / 2
    yy, xx = np.mgrid[0:lab.shape[0], 0:lab.shape[1]]
    r = np.hypot((yy - cy) / ry, (xx - cx) / rx)
    middle = r < 0.3
    if not middle.any() or objectish[middle].mean() > 0.5:
        return False
    annulus = (r > 0.55) & (r < 1.0)
    sector = ((np.arctan2(yy - cy, xx - cx) + np.pi) / (2 * np.pi) * 12).astype(int) % 12
    covered = sum(objectish[annulus & (sector == k)].mean() >= 0.3 for k in range(12)
                  if (annulus & (sector == k)).any())
    return covered >= 10


def _arms(m: np.ndarray, bins: int = 36) -> int:
    """Peaks (at least 18% of the reach deep) of the outline's farthest distance from the centroid by angle."""
    ys, xs = np.nonzero(m)
    cy, cx = ys.mean(), xs.mean()
    ey, ex = np.nonzero(m & ~_erode(m))
    index = ((np.arctan2(ey - cy, ex - cx) + np.pi) / (2 * np.pi) * bins).astype(int) % bins
    profile = np.zeros(bins)
    np.maximum.at(profile, index, np.hypot(ey - cy, ex - cx))
    for i in range(bins):  # an angle without outline: its neighbours' reach
        if profile[i] == 0:
            profile[i] = max(profile[i - 1], profile[(i + 1) % bins])
    smooth = (np.roll(profile, 1) + profile + np.roll(profile, -1)) / 3
    peaks = 0
    for i in range(bins):
        near = smooth[[(i + k) % bins for k in range(-3, 4)]]
        wide = smooth[[(i + k) % bins for k in range(-5, 6)]]
        peaks += smooth[i] == near.max() and smooth[i] - wide.min() > 0.18 * smooth.max()
    return int(peaks)


def _hull_area(m: np.ndarray) -> float:
    """Area of the convex hull of the pixels' squares (monotone chain over each row's end corners)."""
    points = set()
    for y in np.flatnonzero(m.any(1)):
        xs = np.flatnonzero(m[y])
        points |= {(int(xs[0]), int(y)), (int(xs[0]), int(y) + 1), (int(xs[-1]) + 1, int(y)),
                   (int(xs[-1]) + 1, int(y) + 1)}
    pts = sorted(points)

    def turn(o, a, b):
        return (a[0] - o[0]) * (b[1] - o[1]) - (a[1] - o[1]) * (b[0] - o[0])

    lower: list = []
    upper: list = []
    for p in pts:
        while len(lower) >= 2 and turn(lower[-2], lower[-1], p) <= 0:
            lower.pop()
        lower.append(p)
    for p in reversed(pts):
        while len(upper) >= 2 and turn(upper[-2], upper[-1], p) <= 0:
            upper.pop()
        upper.append(p)
    hull = lower[:-1] + upper[:-1]
    return 0.5 * abs(sum(hull[i][0] * hull[i - 1][1] - hull[i - 1][0] * hull[i][1] for i in range(len(hull))))


def _dilate(m: np.ndarray) -> np.ndarray:
    out = m.copy()
    out[1:] |= m[:-1]
    out[:-1] |= m[1:]
    out[:, 1:] |= m[:, :-1]
    out[:, :-1] |= m[:, 1:]
    return out


def _erode(m: np.ndarray) -> np.ndarray:
    return ~_dilate(~m)


def _grow_within(mask: np.ndarray, within: np.ndarray, steps: int) -> np.ndarray:
    for _ in range(steps):
        mask = mask | (_dilate(mask) & within)
    return mask


def _largest_in(mask: np.ndarray, where: np.ndarray) -> np.ndarray | None:
    """The largest connected part of ``mask`` that reaches into ``where``, or None."""
    parts, sizes = label_components(mask)
    ids = [i for i in np.unique(parts[where & mask]) if i]
    return parts == max(ids, key=lambda i: sizes[i - 1]) if ids else None


def _share(flags) -> float:
    flags = [bool(f) for f in flags]
    return float(np.mean(flags)) if flags else float("nan")


def _int_box(box) -> tuple[int, int, int, int]:
    x0, y0, x1, y1 = (int(round(v)) for v in box)
    return x0, y0, x1, y1


def _box_mask(shape: tuple[int, int], box) -> np.ndarray:
    x0, y0, x1, y1 = _int_box(box)
    mask = np.zeros(shape, dtype=bool)
    mask[max(y0, 0):y1, max(x0, 0):x1] = True
    return mask
