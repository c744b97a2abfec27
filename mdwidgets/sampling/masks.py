"""Region masks at latent resolution and the per-pixel fusion weights of MultiDiffusion.

Order everywhere: ``[background, region 1, …, region N]``; the region order is also the stacking
order (region 1 lies on the background, region N on top).

- A pixel box maps *outward* to latent cells (``floor`` for the start, ``ceil`` for the end), so a
  box smaller than one cell still owns a cell. A pixel mask is max-pooled to the latent grid for
  the same reason.
- ``feather`` blurs the latent mask with a box filter about ``feather`` pixels wide and rescales
  it to peak at 1, giving a linear ramp across the edge.
- :func:`fusion_weights` turns the masks, the regions' ``weight`` and ``Layout.overlap`` into weights
  that sum to 1 on every cell; its docstring has the rules.
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
        pixels = torch.tensor(region.mask, dtype=torch.float32)[None, None]  # a copy: masks are shared read-only
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
    """Per-pixel weights ``W_i``, shape ``(N + 1, 1, H / scale, W / scale)``, order [background, regions…],
    summing to 1 on every cell. With ``m_i`` region ``i``'s mask (:func:`region_mask`, soft where feathered
    or painted soft) and ``w_i`` its ``weight``, each region brings ``a_i = w_i · m_i``:

    - ``overlap="average"`` (the paper's Eq. 5): the background brings ``b = max(1 - Σ a_i, 0)``, and
      ``W = [b, a_1, …, a_N] / (b + Σ a_i)``. Overlapping regions share a cell in proportion to their
      ``a_i`` (equal masks and weights: an average); where the ``a_i`` sum to less than 1 (a soft edge,
      a weight below 1) the background fills the rest. With every weight 1 this is the paper's
      (and mdwidgets' earlier) formula, bit for bit.
    - ``overlap="layers"`` (paint layers, alpha over): region ``i`` covers ``c_i = min(a_i, 1)`` of what
      lies below it (the regions before it and the background), so ``W_i = c_i · Π_{j>i} (1 - c_j)`` and
      the background gets ``Π_j (1 - c_j)``. Where a region's mask is 1 (and ``w_i >= 1``) nothing below
      it shows; a soft mask or a weight below 1 lets the layers below show through in proportion. A
      weight above 1 only makes soft edges more opaque.
    - Where every ``a_i`` is 0 (no region, or only regions of weight 0) the background has the whole
      cell, in both modes, so the weights are always defined. A region whose weight is 0 everywhere
      (weight 0, or a layer covered by opaque layers above it) has no path and costs no UNet rows.
    - Windows (panoramas) do not change these weights: they are per canvas cell, and each window's
      path gets its prompt's ``W_i`` there divided by the number of windows covering the cell
      (:class:`mdwidgets.sampling.paths.Paths`).
    """
    height, width = layout.height // scale, layout.width // scale
    regions = [region_mask(r, height, width, scale) * r.weight for r in layout.regions]  # the a_i
    if layout.overlap == "layers":  # from the top layer down, each shows where those above it leave room
        uncovered = torch.ones(height, width)
        for i, cover in reversed(list(enumerate(r.clamp(max=1) for r in regions))):
            regions[i], uncovered = cover * uncovered, uncovered * (1 - cover)
    else:
        uncovered = (1 - sum(regions, torch.zeros(height, width))).clamp(min=0)
    masks = torch.stack([uncovered, *regions])[:, None]
    return masks / masks.sum(0, keepdim=True)
