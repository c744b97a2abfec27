"""Sliding windows over the latent grid: MultiDiffusion's panorama views (paper §4.1).

A canvas larger than the model's native size is covered by square windows of that size, moved by
``stride`` latent cells; every window is denoised like a native image and the results are averaged
per pixel. The last window of a row/column is aligned to the canvas edge so every cell is covered
(a plain ``range(0, size - window + 1, stride)`` misses the edge when the stride does not divide
the remainder). With ``circular=True`` windows wrap around horizontally (360° panoramas).

Windows are described by the flat indices of their cells in the ``height × width`` grid, so
cropping is one ``gather`` and fusing back is one ``index_add_``, wrapped or not.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class Window:
    """One view: ``top``/``left`` corner (latent cells) and its size; ``left + width`` may wrap."""

    top: int
    left: int
    height: int
    width: int

    def cells(self, grid_width: int) -> torch.Tensor:
        """Flat indices (row-major, ``height * width`` of them) of this window's cells."""
        rows = torch.arange(self.top, self.top + self.height)
        cols = torch.arange(self.left, self.left + self.width) % grid_width
        return (rows[:, None] * grid_width + cols[None, :]).flatten()


def _starts(size: int, window: int, stride: int, circular: bool) -> list[int]:
    if size <= window:
        return [0]
    if circular:
        return list(range(0, stride * (size // stride), stride))
    starts = list(range(0, size - window + 1, stride))
    if starts[-1] + window < size:
        starts.append(size - window)  # cover the edge
    return starts


def window_grid(height: int, width: int, window: int, stride: int, circular: bool = False) -> list[Window]:
    """The windows covering a ``height × width`` latent grid, row by row.

    A dimension no larger than ``window`` is covered by one window of its full size, so a canvas
    up to the native size is a single window: plain region-based MultiDiffusion.
    """
    for name, value in (("window", window), ("stride", stride)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{name}={value!r} must be a positive integer (latent cells)")
    if stride > window:
        raise ValueError(f"stride={stride} must not exceed window={window}: cells between windows would be skipped")
    h, w = min(window, height), min(window, width)
    return [
        Window(top, left, h, w)
        for top in _starts(height, window, stride, False)
        for left in _starts(width, window, stride, circular and width > window)
    ]
