"""Region masks at latent resolution and the per-pixel fusion weights of MultiDiffusion.

Order everywhere: ``[background, region 1, …, region N]``.

- A pixel box maps *outward* to latent cells (``floor`` for the start, ``ceil`` for the end), so a
  box smaller than one cell still owns a cell. A pixel mask is max-pooled to the latent grid for
  the same reason.
- ``feather`` blurs the latent mask with a box filter about ``feather`` pixels wide and rescales
  it to peak at 1, giving a linear ramp across the edge.
- The background mask is ``clamp(1 - sum(foreground), 0)``.
- Weights are the masks divided by their per-pixel sum, so they sum to 1 everywhere. Where
  foregrounds overlap they share the pixel equally (an average).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from ..layout import Layout, Region

# Weights below this are dropped so that a feathered region still has a finite support.
_MIN_WEIGHT = 1e-3


def region_mask(region: Region, latent_height: int, latent_width: int, scale: int) -> torch.Tensor:
    """The ``(latent_height, latent_width)`` float mask of one region, values in [0, 1]."""
    if region.box is not None:
        x0, y0, x1, y1 = region.box
        mask = torch.zeros(latent_height, latent_width)
        r0, r1 = math.floor(y0 / scale), math.ceil(y1 / scale)
        c0, c1 = math.floor(x0 / scale), math.ceil(x1 / scale)
        mask[max(r0, 0) : min(r1, latent_height), max(c0, 0) : min(c1, latent_width)] = 1.0
    else:
        pixels = torch.as_tensor(region.mask, dtype=torch.float32)[None, None]
        mask = F.adaptive_max_pool2d(pixels, (latent_height, latent_width))[0, 0]
    if region.feather > 0:
        radius = max(1, round(region.feather / scale / 2))
        blurred = F.avg_pool2d(
            mask[None, None], 2 * radius + 1, stride=1, padding=radius, count_include_pad=False
        )[0, 0]
        mask = blurred / blurred.max()
        mask = torch.where(mask < _MIN_WEIGHT, torch.zeros_like(mask), mask)
    return mask


def fusion_weights(layout: Layout, scale: int = 8) -> torch.Tensor:
    """Normalised per-pixel weights, shape ``(N + 1, 1, H / scale, W / scale)``, summing to 1."""
    height, width = layout.height // scale, layout.width // scale
    foreground = [region_mask(r, height, width, scale) for r in layout.regions]
    background = (1 - sum(foreground, torch.zeros(height, width))).clamp(min=0)
    masks = torch.stack([background, *foreground])[:, None]
    return masks / masks.sum(0, keepdim=True)
