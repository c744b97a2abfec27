"""Box editing geometry for the Studio canvas: hit tests, drags, snapping. No widgets.

All coordinates are canvas pixels. Boxes are ``(x0, y0, x1, y1)``, right/bottom exclusive,
snapped to ``grid`` (the latent cell, 8 px for Stable Diffusion) and kept inside the canvas.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from PIL import Image

from .layout import Layout

Box = tuple[int, int, int, int]


def snap(value: float, grid: int) -> int:
    """The nearest grid line, halves rounding up (20 -> 24 on an 8 px grid)."""
    return math.floor(value / grid + 0.5) * grid


def clamp(value: float, low: float, high: float) -> float:
    return max(low, min(high, value))


@dataclass
class Drag:
    """One mouse gesture: ``mode`` is ``"draw"``, ``"move"`` or ``"resize"``."""

    mode: str
    start: tuple[float, float]
    index: int | None = None  # the region moved or resized
    box: Box | None = None  # that region's box when the drag started
    edges: frozenset[str] = frozenset()  # for resize: any of left/right/top/bottom
    current: tuple[float, float] | None = None


def hit_test(boxes: list[Box], selected: int | None, x: float, y: float, handle: float):
    """What is under the pointer: ``("resize", i, edges)``, ``("move", i)`` or ``None``.

    Handles (edges and corners, ``handle`` px wide) belong to the selected box only; otherwise
    the topmost (last drawn) box containing the point is hit.
    """
    if selected is not None and selected < len(boxes):
        x0, y0, x1, y1 = boxes[selected]
        if x0 - handle <= x <= x1 + handle and y0 - handle <= y <= y1 + handle:
            edges = set()
            if abs(x - x0) <= handle:
                edges.add("left")
            elif abs(x - x1) <= handle:
                edges.add("right")
            if abs(y - y0) <= handle:
                edges.add("top")
            elif abs(y - y1) <= handle:
                edges.add("bottom")
            if edges:
                return ("resize", selected, frozenset(edges))
    for i in reversed(range(len(boxes))):
        x0, y0, x1, y1 = boxes[i]
        if x0 <= x < x1 and y0 <= y < y1:
            return ("move", i)
    return None


def drag_box(drag: Drag, x: float, y: float, width: int, height: int, grid: int) -> Box | None:
    """The snapped, in-canvas box the gesture describes when the pointer is at ``(x, y)``.

    ``None`` when a drawn box would be smaller than one grid cell (a click, not a drag).
    """
    x, y = clamp(x, 0, width), clamp(y, 0, height)
    sx, sy = drag.start
    if drag.mode == "draw":
        x0, x1 = sorted((snap(clamp(sx, 0, width), grid), snap(x, grid)))
        y0, y1 = sorted((snap(clamp(sy, 0, height), grid), snap(y, grid)))
        if x1 - x0 < grid or y1 - y0 < grid:
            return None
        return (x0, y0, x1, y1)
    bx0, by0, bx1, by1 = drag.box
    dx, dy = snap(x - sx, grid), snap(y - sy, grid)
    if drag.mode == "move":
        dx = clamp(dx, -bx0, width - bx1)
        dy = clamp(dy, -by0, height - by1)
        return (int(bx0 + dx), int(by0 + dy), int(bx1 + dx), int(by1 + dy))
    # resize: move the grabbed edges, keep at least one grid cell
    x0, y0, x1, y1 = bx0, by0, bx1, by1
    if "left" in drag.edges:
        x0 = clamp(snap(bx0 + dx, grid), 0, bx1 - grid)
    if "right" in drag.edges:
        x1 = clamp(snap(bx1 + dx, grid), bx0 + grid, width)
    if "top" in drag.edges:
        y0 = clamp(snap(by0 + dy, grid), 0, by1 - grid)
    if "bottom" in drag.edges:
        y1 = clamp(snap(by1 + dy, grid), by0 + grid, height)
    return (int(x0), int(y0), int(x1), int(y1))


def scale_box(box, sx: float, sy: float, width: int, height: int, grid: int) -> Box:
    """A box scaled to a resized canvas, snapped and at least one cell big."""
    x0, y0, x1, y1 = box
    x0, x1 = snap(x0 * sx, grid), snap(x1 * sx, grid)
    y0, y1 = snap(y0 * sy, grid), snap(y1 * sy, grid)
    x0, y0 = int(clamp(x0, 0, width - grid)), int(clamp(y0, 0, height - grid))
    return (x0, y0, int(clamp(x1, x0 + grid, width)), int(clamp(y1, y0 + grid, height)))


def scale_layout(layout: Layout, width: int, height: int, grid: int) -> Layout:
    """``layout`` on a canvas of a new size: boxes scaled and snapped, masks resampled."""
    sx, sy = width / layout.width, height / layout.height
    regions = []
    for region in layout.regions:
        if region.box is not None:
            regions.append(region.replace(box=scale_box(region.box, sx, sy, width, height, grid)))
        else:
            mask = Image.fromarray((region.mask * 255).astype(np.uint8)).resize((width, height))
            regions.append(region.replace(mask=np.asarray(mask) / 255.0))
    return layout.replace(width=width, height=height, regions=tuple(regions))
