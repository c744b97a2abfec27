"""How well an image of the shapes model follows its layout (numpy + Pillow only).

Every pixel is labelled with its nearest palette colour. Per box (region with a palette colour):

- ``in_box``: share of the box's pixels in the prompt's colour;
- ``iou``: IoU of the box with the pixels of that colour (pixels inside another box of the same
  colour belong to that box);
- ``shape``: 1 if the prompt names a shape and :func:`~mdwidgets.shapes.evaluate.classify_shape`
  finds that shape in the prompt-coloured pixels around the box (the box plus an eighth of its side
  on each side, so an object may overhang a little); a box filled edge to edge reads as a square.

Outside every box: ``background``, the share of pixels in the background prompt's colour.
"""

from __future__ import annotations

import re

import numpy as np
from PIL import Image

from .data import COLOUR_NAMES, SHAPES
from .evaluate import classify_shape, nearest_palette_index

_COLOUR_WORD = re.compile(r"\b(" + "|".join(COLOUR_NAMES) + r")\b", re.IGNORECASE)
_SHAPE_WORD = re.compile(r"\b(" + "|".join(SHAPES) + r")s?\b", re.IGNORECASE)


def prompt_colour(prompt: str) -> str | None:
    """The first palette colour named in a prompt (``"a red circle"`` → ``"red"``)."""
    match = _COLOUR_WORD.search(prompt)
    return match.group(1).lower() if match else None


def prompt_shape(prompt: str) -> str | None:
    """The first shape named in a prompt (``"a red circle"`` → ``"circle"``)."""
    match = _SHAPE_WORD.search(prompt)
    return match.group(1).lower() if match else None


def shapes_adherence(image: Image.Image, layout) -> dict[str, float] | None:
    """``in_box``, ``iou``, ``shape`` (means over boxes) and ``background``; ``None`` when the
    prompts name no palette colours. ``shape`` is NaN when no box prompt names a shape."""
    boxes = [(r, prompt_colour(r.prompt)) for r in layout.regions if r.box is not None]
    background = prompt_colour(layout.background)
    if not boxes or any(c is None for _, c in boxes) or background is None:
        return None
    rgb = np.asarray(image.convert("RGB").resize((layout.width, layout.height)))
    labels = np.asarray(COLOUR_NAMES)[nearest_palette_index(rgb).reshape(rgb.shape[:2])]
    masks = [_box_mask(labels.shape, region.box) for region, _ in boxes]
    in_box, ious, shapes = [], [], []
    for (region, colour), mask in zip(boxes, masks):
        of_colour = labels == colour
        in_box.append(float(of_colour[mask].mean()))
        others = np.zeros_like(mask)
        for (_, c), m in zip(boxes, masks):
            if c == colour and m is not mask:
                others |= m & ~mask
        mine = of_colour & ~others
        ious.append(float((mine & mask).sum() / max((mine | mask).sum(), 1)))
        wanted = prompt_shape(region.prompt)
        if wanted is not None:
            shapes.append(float(classify_shape(_around(mine, region.box)) == wanted))
    outside = ~np.logical_or.reduce(masks)
    bg = float((labels[outside] == background).mean()) if outside.any() else float("nan")
    return {"in_box": float(np.mean(in_box)), "iou": float(np.mean(ious)), "background": bg,
            "shape": float(np.mean(shapes)) if shapes else float("nan")}


def _box_mask(shape: tuple[int, int], box) -> np.ndarray:
    x0, y0, x1, y1 = (int(round(v)) for v in box)
    mask = np.zeros(shape, dtype=bool)
    mask[y0:y1, x0:x1] = True
    return mask


def _around(mask: np.ndarray, box) -> np.ndarray:
    """``mask`` cropped to ``box`` grown by an eighth of its side (clipped to the image)."""
    x0, y0, x1, y1 = (int(round(v)) for v in box)
    mx, my = (x1 - x0) // 8, (y1 - y0) // 8
    return mask[max(y0 - my, 0) : y1 + my, max(x0 - mx, 0) : x1 + mx]
