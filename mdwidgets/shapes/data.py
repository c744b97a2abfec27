"""Deterministic, seeded generator of captioned images of coloured shapes.

This module only needs numpy and Pillow (no torch), so it can be used by the
evaluator and the tests without loading the deep-learning stack.

A :class:`Scene` is a background colour plus a list of :class:`Obj` (colour,
shape, box).  Boxes are stored in *relative* coordinates (fractions of the
canvas width/height) so one scene can be rendered at any size.
"""
from __future__ import annotations

import math
import random
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from PIL import Image, ImageDraw

# Well separated palette (name -> RGB).  Nearest-palette classification is used
# by the evaluator, so keep the colours far apart in RGB space.
COLOURS: dict[str, tuple[int, int, int]] = {
    "red": (220, 30, 30),
    "green": (30, 160, 50),
    "blue": (30, 60, 220),
    "yellow": (245, 220, 40),
    "white": (245, 245, 245),
    "black": (20, 20, 20),
    "orange": (250, 140, 10),
    "purple": (140, 40, 170),
}
COLOUR_NAMES: tuple[str, ...] = tuple(COLOURS)

SHAPES: tuple[str, ...] = ("circle", "square", "triangle", "star", "ring")

# Words used in captions besides colours and shapes.
FILLER_WORDS: tuple[str, ...] = (
    "a", "an", "and", "on", "the", "background", "with", "of", "in", "plain",
)

def article(word: str) -> str:
    return "an" if word[0] in "aeiou" else "a"


Box = tuple[float, float, float, float]  # x0, y0, x1, y1 as fractions of W, H


@dataclass
class Obj:
    colour: str
    shape: str
    box: Box  # relative (x0, y0, x1, y1)

    def phrase(self) -> str:
        return f"{article(self.colour)} {self.colour} {self.shape}"


@dataclass
class Scene:
    background: str
    objects: list[Obj] = field(default_factory=list)


# --------------------------------------------------------------------------
# drawing
# --------------------------------------------------------------------------
def _star_points(cx, cy, r_out, r_in, n=5):
    pts = []
    for k in range(2 * n):
        r = r_out if k % 2 == 0 else r_in
        a = -math.pi / 2 + k * math.pi / n
        pts.append((cx + r * math.cos(a), cy + r * math.sin(a)))
    return pts


def draw_shape(draw: ImageDraw.ImageDraw, shape: str, box_px, fill, background=(0, 0, 0)) -> None:
    """Draw ``shape`` filling the pixel box ``box_px`` = (x0, y0, x1, y1).

    ``background`` is used to punch the hole of a ring."""
    x0, y0, x1, y1 = box_px
    w, h = x1 - x0, y1 - y0
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    if shape == "circle":
        draw.ellipse([x0, y0, x1, y1], fill=fill)
    elif shape == "square":
        draw.rectangle([x0, y0, x1, y1], fill=fill)
    elif shape == "triangle":
        draw.polygon([(cx, y0), (x1, y1), (x0, y1)], fill=fill)
    elif shape == "star":
        # a regular 5-point star has height ~0.905 of its width-ish; fit in box
        r = min(w, h) / 2
        pts = _star_points(cx, cy + 0.05 * r, r * 1.02, r * 0.42)
        draw.polygon(pts, fill=fill)
    elif shape == "ring":
        draw.ellipse([x0, y0, x1, y1], fill=fill)
        t = 0.26  # ring thickness as fraction of the box width
        draw.ellipse([x0 + t * w, y0 + t * h, x1 - t * w, y1 - t * h], fill=background)
    else:
        raise ValueError(f"unknown shape {shape!r}")


def render(scene: Scene, size, supersample: int = 4, background_rgb: tuple[int, int, int] | None = None) -> Image.Image:
    """Render ``scene`` to an RGB PIL image.  ``size`` is an int or (W, H).

    Shapes are drawn at ``supersample`` x resolution and box-filtered down,
    which gives anti-aliased edges.  ``background_rgb`` paints the background
    in any colour instead of the palette's ``scene.background``.
    """
    if isinstance(size, int):
        size = (size, size)
    W, H = size
    s = max(1, int(supersample))
    bg = background_rgb or COLOURS[scene.background]
    img = Image.new("RGB", (W * s, H * s), bg)
    d = ImageDraw.Draw(img)
    for o in scene.objects:
        x0, y0, x1, y1 = o.box
        px = (x0 * W * s, y0 * H * s, x1 * W * s - 1, y1 * H * s - 1)
        draw_shape(d, o.shape, px, COLOURS[o.colour], bg)
    if s > 1:
        img = img.resize((W, H), Image.BOX)
    return img


# --------------------------------------------------------------------------
# captions
# --------------------------------------------------------------------------
def caption(scene: Scene, mode: str = "full") -> str:
    """Caption of a scene.

    mode: "full"  -> "a red circle and a yellow square on a blue background"
          "objects" -> "a red circle and a yellow square" (background omitted)
          "background" -> "a blue background"
          "empty" -> ""
    A scene without objects is always captioned "a {bg} background" (unless
    mode == "empty").
    """
    if mode == "empty":
        return ""
    bgp = f"{article(scene.background)} {scene.background} background"
    if not scene.objects or mode == "background":
        return bgp
    objs = " and ".join(o.phrase() for o in scene.objects)
    if mode == "objects":
        return objs
    return f"{objs} on {bgp}"


# --------------------------------------------------------------------------
# random scenes
# --------------------------------------------------------------------------
def _overlap(a: Box, b: Box, margin: float) -> bool:
    return not (a[2] + margin <= b[0] or b[2] + margin <= a[0]
                or a[3] + margin <= b[1] or b[3] + margin <= a[1])


def random_scene(rng: random.Random, size=256, max_objects: int = 3,
                 n_objects: int | None = None,
                 min_px: float = 32, max_frac: float = 0.7,
                 object_weights: Sequence[float] = (0.08, 0.47, 0.27, 0.18)) -> Scene:
    """Draw a random scene with ``rng`` (a :class:`random.Random`).

    Objects do not overlap, never share the background colour, and have a
    side between ``min_px`` pixels (at ``size``) and ``max_frac`` of the
    canvas.  The number of objects is drawn from ``object_weights`` (for
    0, 1, 2, 3 ... objects) unless ``n_objects`` is given.
    """
    if isinstance(size, int):
        size = (size, size)
    W, H = size
    bg = rng.choice(COLOUR_NAMES)
    if n_objects is None:
        w = list(object_weights)[: max_objects + 1]
        n_objects = rng.choices(range(len(w)), weights=w)[0]
    objs: list[Obj] = []
    lo = min_px / min(W, H)
    for _ in range(n_objects):
        # later objects must be smaller so that they fit
        hi = max_frac if not objs else min(max_frac, 0.5)
        for _attempt in range(30):
            # log-uniform side length in canvas fractions
            s = math.exp(rng.uniform(math.log(lo), math.log(hi)))
            sw = s * min(W, H) / W  # keep objects square in pixels
            sh = s * min(W, H) / H
            x0 = rng.uniform(0.0, 1.0 - sw)
            y0 = rng.uniform(0.0, 1.0 - sh)
            box = (x0, y0, x0 + sw, y0 + sh)
            if all(not _overlap(box, o.box, 0.02) for o in objs):
                colour = rng.choice([c for c in COLOUR_NAMES if c != bg])
                objs.append(Obj(colour, rng.choice(SHAPES), box))
                break
    return Scene(bg, objs)


def training_scene(rng: random.Random, size=128, free_background: float = 0.2,
                   min_px: float = 16) -> tuple[Scene, tuple[int, int, int] | None]:
    """A training scene and, with probability ``free_background``, a random flat RGB background.

    The free background is what a region's path sees outside its box while bootstrapping (a noised
    random colour): scenes on it are captioned by their objects only. Objects span 16 px up to 80%
    of the canvas so that boxes of any size can be filled; their colours stay far from the background.
    """
    scene = random_scene(rng, size, min_px=min_px, max_frac=0.8, object_weights=(0.08, 0.52, 0.24, 0.16))
    if rng.random() >= free_background:
        return scene, None
    while True:
        rgb = (rng.randrange(256), rng.randrange(256), rng.randrange(256))
        if all(math.dist(rgb, COLOURS[o.colour]) > 100 for o in scene.objects):
            return scene, rgb


def single_object_scene(colour: str, shape: str, background: str,
                        box: Box = (0.25, 0.25, 0.75, 0.75)) -> Scene:
    return Scene(background, [Obj(colour, shape, box)])


def all_single_prompts() -> list[tuple[str, str, str]]:
    """All (colour, shape, background) triples with colour != background."""
    return [(c, s, b) for c in COLOUR_NAMES for s in SHAPES for b in COLOUR_NAMES if c != b]


def to_array(img: Image.Image) -> np.ndarray:
    return np.asarray(img.convert("RGB"), dtype=np.uint8)
