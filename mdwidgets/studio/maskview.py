"""The latent-resolution view of a layout's masks: what the sampler really uses.

MultiDiffusion blends the regions' predictions per *latent* pixel — one cell per VAE factor
(8 picture pixels for SD) — with the weights of :func:`mdwidgets.sampling.masks.fusion_weights`. This view
paints every cell in the regions' colours mixed by those weights (the background grey), enlarged
without smoothing, and draws the cell grid: a box edge between cells, a feathered edge as a ramp.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from PIL import Image

from ..layout import Layout
from ..sampling.masks import fusion_weights

BACKGROUND = (128, 128, 128)
SCALE = 8  # picture pixels per latent pixel before a model is loaded: SD 1.x/2.x, SDXL and the built-in model's


def latent_view(layout: Layout, colours: Sequence[tuple[int, int, int]], scale: int = SCALE,
                picture: Image.Image | None = None, grid: bool = True) -> Image.Image:
    """A canvas-size picture of the fusion weights at latent resolution (``scale``: the VAE factor),
    over ``picture`` (faded) when given."""
    weights = fusion_weights(layout, scale)[:, 0].numpy()  # (N + 1, h, w), summing to 1
    palette = np.array([BACKGROUND, *[tuple(c) for c in colours]], np.float32)[: len(weights)]
    cells = np.einsum("khw,kc->hwc", weights, palette)
    view = np.asarray(Image.fromarray(cells.round().astype(np.uint8)).resize((layout.width, layout.height),
                                                                             Image.NEAREST), np.float32)
    if picture is not None:
        under = np.asarray(picture.convert("RGB").resize((layout.width, layout.height)), np.float32)
        view = 0.75 * view + 0.25 * under
    if grid and scale >= 4:  # a line between cells, where the enlargement leaves room for one
        view[::scale] *= 0.8
        view[:, ::scale] *= 0.8
    return Image.fromarray(view.round().astype(np.uint8))
