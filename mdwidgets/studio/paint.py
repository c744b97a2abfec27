"""Painting region masks, without widgets: strokes, ellipses and fills rasterised into numpy masks,
and the layout edits they make (:func:`paint_layout`, :func:`place_region`, :func:`reorder`).

Pixels are unit squares: pixel ``(column c, row r)`` covers ``[c, c+1) × [r, r+1)`` and is painted
when its centre ``(c + 0.5, r + 0.5)`` lies in the shape. A brush stroke is the union of discs of
radius ``radius`` centred on every point of the polyline through its points (the segments between
mouse events are filled in: a fast stroke has no gaps).
"""

from __future__ import annotations

import io
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw

from ..layout import Layout, Region

TOOLS = ("box", "brush", "eraser", "ellipse", "fill", "rest")  # "rest": fill what no other region covers
Point = tuple[float, float]


class PaintError(ValueError):
    """A stroke that cannot be applied (e.g. the eraser with nothing selected); says what to do."""


@dataclass(frozen=True)
class Stroke:
    """One gesture of a paint tool: ``points`` in image pixels (an ellipse: the drag's two corners;
    a fill: the click), ``radius`` the brush's."""

    tool: str
    points: tuple[Point, ...]
    radius: float = 0.0

    def __post_init__(self) -> None:
        if self.tool not in TOOLS[1:]:
            raise PaintError(f"unknown paint tool {self.tool!r}; use one of {', '.join(TOOLS[1:])}")
        if not self.points and self.tool != "rest":
            raise PaintError(f"a {self.tool} stroke needs at least one point")


def _centres(size: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    width, height = size
    return np.arange(width, dtype=np.float64)[None, :] + 0.5, np.arange(height, dtype=np.float64)[:, None] + 0.5


def brush(size: tuple[int, int], points: Sequence[Point], radius: float) -> np.ndarray:
    """The ``(height, width)`` bool mask of a stroke: every pixel whose centre is within ``radius``
    of the polyline through ``points`` (one point: a disc)."""
    width, height = size
    out = np.zeros((height, width), bool)
    points = [(float(x), float(y)) for x, y in points]
    for (ax, ay), (bx, by) in zip(points, points[1:] or points):
        c0, c1 = max(math.floor(min(ax, bx) - radius), 0), min(math.ceil(max(ax, bx) + radius) + 1, width)
        r0, r1 = max(math.floor(min(ay, by) - radius), 0), min(math.ceil(max(ay, by) + radius) + 1, height)
        if c0 >= c1 or r0 >= r1:
            continue
        xs, ys = _centres((width, height))
        px, py = xs[:, c0:c1] - ax, ys[r0:r1] - ay
        dx, dy = bx - ax, by - ay
        length = dx * dx + dy * dy
        t = np.clip((px * dx + py * dy) / length, 0, 1) if length > 0 else 0.0
        out[r0:r1, c0:c1] |= (px - t * dx) ** 2 + (py - t * dy) ** 2 <= radius * radius
    return out


def ellipse(size: tuple[int, int], corners: Sequence[Point]) -> np.ndarray:
    """The ellipse inscribed in the box of two drag corners: pixels whose centres lie inside it."""
    (ax, ay), (bx, by) = corners[0], corners[-1]
    x0, x1, y0, y1 = min(ax, bx), max(ax, bx), min(ay, by), max(ay, by)
    xs, ys = _centres(size)
    rx, ry = max((x1 - x0) / 2, 1e-9), max((y1 - y0) / 2, 1e-9)
    return ((xs - (x0 + x1) / 2) / rx) ** 2 + ((ys - (y0 + y1) / 2) / ry) ** 2 <= 1


def flood(painted: np.ndarray, x: float, y: float) -> np.ndarray:
    """The unpainted area connected (4-neighbours) to pixel ``(x, y)``: inside a closed stroke, its
    inside; empty where ``(x, y)`` is painted already."""
    height, width = painted.shape
    column, row = min(max(int(x), 0), width - 1), min(max(int(y), 0), height - 1)
    if painted[row, column]:
        return np.zeros_like(painted, bool)
    image = Image.fromarray(np.where(painted, 255, 0).astype(np.uint8)).copy()  # its own pixels: floodfill writes them
    ImageDraw.floodfill(image, (column, row), 128)
    return np.asarray(image) == 128


def pixels(region: Region, size: tuple[int, int]) -> np.ndarray:
    """A region's area as a float ``(height, width)`` mask: its mask, or its box filled (every pixel
    the box touches)."""
    if region.mask is not None:
        return np.asarray(region.mask, np.float32)
    width, height = size
    x0, y0, x1, y1 = region.box
    out = np.zeros((height, width), np.float32)
    out[max(math.floor(y0), 0):math.ceil(y1), max(math.floor(x0), 0):math.ceil(x1)] = 1
    return out


def covered(layout: Layout, but: int | None = None) -> np.ndarray:
    """Pixels any region (other than region ``but``) covers."""
    size = (layout.width, layout.height)
    out = np.zeros((layout.height, layout.width), bool)
    for i, region in enumerate(layout.regions):
        if i != but:
            out |= pixels(region, size) > 0
    return out


def stroke_area(layout: Layout, index: int | None, stroke: Stroke) -> np.ndarray:
    """The pixels ``stroke`` paints (or erases) in region ``index`` (``None``: a new region)."""
    size = (layout.width, layout.height)
    if stroke.tool in ("brush", "eraser"):
        return brush(size, stroke.points, stroke.radius)
    if stroke.tool == "ellipse":
        return ellipse(size, stroke.points)
    if stroke.tool == "rest":
        return ~covered(layout, index)
    # fill: flood the selected region's own strokes; with nothing selected, the space between regions
    painted = pixels(layout.regions[index], size) > 0 if index is not None else covered(layout)
    return flood(painted, *stroke.points[-1])


def free_slot(slots: Sequence[int]) -> int:
    """The first colour slot no region holds (a new region's colour; slots stay when others go)."""
    return min(set(range(len(slots) + 1)) - set(slots))


def paint_layout(layout: Layout, slots: list[int], index: int | None, stroke: Stroke,
                 prompt: str) -> tuple[Layout, list[int], int | None]:
    """``layout`` with ``stroke`` applied to region ``index`` — a box region becomes a mask region —
    or, with ``index`` ``None``, to a new mask region with ``prompt`` (and the first free colour
    slot). Returns the layout, the colour slots and the painted region's index (``None``: the
    eraser emptied the region, which is removed)."""
    area = stroke_area(layout, index, stroke)
    if index is None:
        if stroke.tool == "eraser":
            raise PaintError("Select a region to erase from (click it with the box tool, or its number).")
        if not area.any():
            raise PaintError("Nothing to paint there: the stroke covers no pixel of the canvas.")
        region = Region(prompt, mask=area)
        return layout.with_regions([*layout.regions, region]), [*slots, free_slot(slots)], len(layout.regions)
    before = pixels(layout.regions[index], (layout.width, layout.height))
    after = np.where(area, 0, before) if stroke.tool == "eraser" else np.maximum(before, area)
    regions = list(layout.regions)
    if not after.any():
        del regions[index]
        return layout.with_regions(regions), [s for i, s in enumerate(slots) if i != index], None
    if regions[index].mask is None and np.array_equal(after, before):
        return layout, slots, index  # a stroke inside a box changes nothing: it stays a box
    regions[index] = regions[index].replace(mask=after.astype(np.float32))
    return layout.with_regions(regions), slots, index


def shift_mask(mask: np.ndarray, old: tuple, new: tuple) -> np.ndarray:
    """``mask`` with the content of box ``old`` put into box ``new``: moved, and scaled if the sizes
    differ (nearest pixels). What leaves the canvas is cut off."""
    height, width = mask.shape
    ox0, oy0, ox1, oy1 = (int(v) for v in old)
    nx0, ny0, nx1, ny1 = (int(v) for v in new)
    content = Image.fromarray(np.asarray(mask, np.float32)[oy0:oy1, ox0:ox1], mode="F")
    if (nx1 - nx0, ny1 - ny0) != content.size:
        content = content.resize((nx1 - nx0, ny1 - ny0), Image.NEAREST)
    out = np.zeros((height, width), np.float32)
    sx0, sy0 = max(-nx0, 0), max(-ny0, 0)
    px0, py0, px1, py1 = max(nx0, 0), max(ny0, 0), min(nx1, width), min(ny1, height)
    if px1 > px0 and py1 > py0:
        out[py0:py1, px0:px1] = np.asarray(content)[sy0:sy0 + py1 - py0, sx0:sx0 + px1 - px0]
    return out


def place_region(layout: Layout, index: int, box: tuple) -> Layout:
    """``layout`` with region ``index`` moved/resized to ``box``: a box region takes it; a mask
    region's painted pixels move with their bounding box (and scale with it)."""
    region = layout.regions[index]
    if region.mask is None:
        changed = region.replace(box=box)
    else:
        moved = shift_mask(region.mask, region.bounds, box)
        if not moved.any():
            return layout
        changed = region.replace(mask=moved)
    return layout.with_regions([*layout.regions[:index], changed, *layout.regions[index + 1:]])


def reorder(layout: Layout, slots: list[int], index: int, to: int) -> tuple[Layout, list[int]]:
    """Region ``index`` moved to position ``to`` of the list (the stacking order; later is on top),
    its colour slot with it."""
    if not 0 <= index < len(layout.regions) or not 0 <= to < len(layout.regions):
        raise PaintError(f"cannot move region {index + 1} to place {to + 1} of {len(layout.regions)}")
    regions, slots = list(layout.regions), list(slots)
    regions.insert(to, regions.pop(index))
    slots.insert(to, slots.pop(index))
    return layout.with_regions(regions), slots


def mask_from_image(name: str, content: bytes, size: tuple[int, int]) -> tuple[np.ndarray, str]:
    """A mask from an image file: its alpha channel where it has transparent pixels, else its
    brightness (white = inside); resized to the canvas ``size``. Returns the mask and a note
    (naming both sizes when it was resized). ``PaintError`` naming the file when it cannot be used."""
    try:
        with Image.open(io.BytesIO(content)) as image:
            image.load()
            alpha = image.getchannel("A") if "A" in image.getbands() else None
            if alpha is not None and alpha.getextrema()[0] == 255:
                alpha = None  # an opaque alpha channel says nothing: use the brightness
            grey = alpha if alpha is not None else image.convert("L")
    except (OSError, ValueError, Image.DecompressionBombError) as exc:
        raise PaintError(f"Could not read a mask from {name}: {exc}") from None
    note = f"mask from {name} ({'alpha' if alpha is not None else 'brightness'})"
    if grey.size != tuple(size):
        note += f", resized from {grey.size[0]}×{grey.size[1]} to the canvas' {size[0]}×{size[1]}"
        grey = grey.resize(tuple(size), Image.BILINEAR)
    mask = np.asarray(grey, np.float32) / 255
    if not (mask > 0).any():
        raise PaintError(f"{name} gives an empty mask (all black or transparent): white or opaque pixels are inside")
    return mask, note


def mask_png(region: Region, size: tuple[int, int]) -> bytes:
    """A region's mask (a box: its filled box) as a greyscale PNG of the canvas size, white = inside."""
    buffer = io.BytesIO()
    Image.fromarray(np.round(pixels(region, size) * 255).astype(np.uint8), mode="L").save(buffer, format="PNG")
    return buffer.getvalue()


def thumbnail(region: Region, size: tuple[int, int], colour: tuple[int, int, int], longest: int = 40) -> bytes:
    """A small PNG of where ``region`` lies on the canvas: its pixels in ``colour`` on light grey."""
    width, height = size
    scale = longest / max(width, height)
    shown = (max(1, round(width * scale)), max(1, round(height * scale)))
    weight = Image.fromarray(pixels(region, size), mode="F").resize(shown, Image.BOX)
    share = np.clip(np.asarray(weight), 0, 1)[..., None]
    picture = (1 - share) * np.array([235, 235, 235]) + share * np.array(colour)
    buffer = io.BytesIO()
    Image.fromarray(picture.astype(np.uint8)).save(buffer, format="PNG")
    return buffer.getvalue()
