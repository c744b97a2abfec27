"""Renderers: cheap latent previews and region overlays. Plain functions, no widgets."""

from __future__ import annotations

import threading
import weakref

import numpy as np
import torch
from PIL import Image, ImageDraw, ImageFont

from .images import decode_latents, encode_flat_colours
from .layout import Layout

# Distinct, readable region colours (background is grey); region i uses REGION_COLOURS[i % len].
REGION_COLOURS = (
    (230, 25, 75), (60, 180, 75), (255, 200, 25), (0, 130, 200), (245, 130, 48),
    (145, 30, 180), (70, 240, 240), (240, 50, 230), (170, 110, 40), (0, 128, 128),
)
BACKGROUND_COLOUR = (128, 128, 128)


def region_colour(index: int) -> tuple[int, int, int]:
    """The display colour of region ``index`` (0-based, background excluded)."""
    return REGION_COLOURS[index % len(REGION_COLOURS)]


class LatentPreviewer:
    """Latents to RGB with one linear map per latent channel: a preview at ~no cost.

    The map is fitted once per VAE by least squares on flat colours the VAE encodes (so it works
    for any SD-style VAE, trained or not), instead of hard-coding one model's coefficients.
    """

    def __init__(self, vae, samples: int = 48, seed: int = 0) -> None:
        colours = torch.rand(samples, 3, generator=torch.Generator().manual_seed(seed))
        with torch.inference_mode():
            latents = encode_flat_colours(vae, colours)[:, :, 0, 0].cpu()
        design = torch.cat([latents, torch.ones(samples, 1)], dim=1)
        self.matrix = torch.linalg.lstsq(design, colours).solution  # (C + 1, 3)

    def __call__(self, latents: torch.Tensor, size: tuple[int, int] | None = None) -> Image.Image:
        """An RGB preview of ``(1, C, h, w)`` latents, resized to ``size=(width, height)``."""
        lat = latents[0].detach().float().cpu().permute(1, 2, 0)
        rgb = torch.cat([lat, torch.ones(*lat.shape[:2], 1)], dim=2) @ self.matrix
        image = Image.fromarray((rgb.clamp(0, 1) * 255).round().byte().numpy())
        return image.resize(size, Image.BILINEAR) if size else image


class DecodePreviewer:
    """The true picture: the VAE's own decode of the latents (for VAEs cheap enough to run often).

    A linear latent→RGB map is far off for VAEs that are not Stable Diffusion's: on the built-in
    shapes VAE (GroupNorm over all channels, trained on eight colours) its mean error is ~120/255,
    i.e. noise, while a decode of its 128×128 canvas takes ~30 ms on 2 CPU cores.
    """

    def __init__(self, vae) -> None:
        self.vae = vae

    def __call__(self, latents: torch.Tensor, size: tuple[int, int] | None = None) -> Image.Image:
        image = decode_latents(self.vae, latents[:1])
        return image.resize(size, Image.BILINEAR) if size and image.size != tuple(size) else image


# VAEs up to this many parameters preview by a true decode (built-in shapes: 0.9 M; SD's: 84 M).
DECODE_PREVIEW_MAX_PARAMS = 5_000_000

_previewers: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
_previewers_lock = threading.Lock()


def previewer_for(vae) -> LatentPreviewer | DecodePreviewer:
    """The shared previewer of a VAE: a true decode for small VAEs, else a linear map fitted on first use."""
    with _previewers_lock:
        if vae not in _previewers:
            small = sum(p.numel() for p in vae.parameters()) <= DECODE_PREVIEW_MAX_PARAMS
            _previewers[vae] = DecodePreviewer(vae) if small else LatentPreviewer(vae)
        return _previewers[vae]


def overlay_regions(
    image: Image.Image,
    layout: Layout,
    *,
    alpha: float = 0.35,
    fill: bool = True,
    outline: bool = True,
    labels: bool = True,
) -> Image.Image:
    """``image`` with each region drawn in its colour (filled and/or outlined) and numbered."""
    base = image.convert("RGBA").resize((layout.width, layout.height))
    layer = Image.new("RGBA", base.size, (0, 0, 0, 0))
    draw = ImageDraw.Draw(layer)
    font = ImageFont.load_default()
    for i, region in enumerate(layout.regions):
        r, g, b = region_colour(i)
        if region.box is not None:
            x0, y0, x1, y1 = region.box
            if fill:
                draw.rectangle((x0, y0, x1 - 1, y1 - 1), fill=(r, g, b, round(255 * alpha)))
            if outline:
                draw.rectangle((x0, y0, x1 - 1, y1 - 1), outline=(r, g, b, 255), width=2)
            anchor = (x0 + 4, y0 + 2)
        else:
            mask = Image.fromarray((np.asarray(region.mask) * 255 * (alpha if fill else 0)).astype(np.uint8))
            layer.paste((r, g, b, 255), (0, 0), mask)
            anchor = (region.bounds[0] + 4, region.bounds[1] + 2)
        if labels:
            text = str(i + 1)
            box = draw.textbbox(anchor, text, font=font)
            draw.rectangle((box[0] - 2, box[1] - 1, box[2] + 2, box[3] + 1), fill=(r, g, b, 255))
            draw.text(anchor, text, fill=(255, 255, 255, 255), font=font)
    return Image.alpha_composite(base, layer).convert("RGB")
