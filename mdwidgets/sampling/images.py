"""Latents <-> images: decoding, encoding flat colours, the VAE's scale factor."""

from __future__ import annotations

import copy
import functools
import weakref

import numpy as np
import torch
from PIL import Image

from ..pipelines.facts import vae_scale_factor, vae_scaling

TILED_DECODE_ABOVE = 1024  # px: larger images are decoded in overlapping tiles to bound memory


def decode_latents(vae, latents: torch.Tensor) -> Image.Image:
    """Decode SD latents ``(1, C, h, w)`` to a PIL image, post-processed by diffusers'
    ``VaeImageProcessor`` (the pipelines' own [-1, 1] -> uint8 step).

    A float16 VAE decodes through a float32 copy (:func:`float32_vae`; the caller's VAE is left as
    it is): SD VAEs overflow to NaN in half precision on some images, which shows as a black
    picture. Images larger than ``TILED_DECODE_ABOVE`` px on a side are decoded in overlapping
    tiles (``vae.tiled_decode``, what ``vae.enable_tiling()`` switches on, without setting the
    flag on the caller's VAE).
    """
    vae = float32_vae(vae)
    scaling, shift = vae_scaling(vae)
    tiled = max(latents.shape[-2:]) * vae_scale_factor(vae) > TILED_DECODE_ABOVE and hasattr(vae, "tiled_decode")
    decode = vae.tiled_decode if tiled else vae.decode
    with torch.inference_mode():
        pixels = decode(latents.to(vae.device, vae.dtype) / scaling + shift, return_dict=False)[0]
    if not torch.isfinite(pixels).all():
        raise FloatingPointError("the VAE decoded NaN/inf pixels; keep the VAE in float32 (load_pipeline does)")
    return _postprocessor().postprocess(pixels[:1], output_type="pil")[0]


def float32_vae(vae):
    """``vae`` itself, or for a float16 one a float32 copy made once per VAE (kept while it lives)."""
    if vae.dtype != torch.float16:
        return vae
    if vae not in _FLOAT32_COPIES:
        _FLOAT32_COPIES[vae] = copy.deepcopy(vae).to(torch.float32)
    return _FLOAT32_COPIES[vae]


_FLOAT32_COPIES: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


@functools.cache
def _postprocessor():
    from diffusers.image_processor import VaeImageProcessor  # diffusers is slow to import: only when decoding

    return VaeImageProcessor(do_resize=False)


def image_pixels(image: Image.Image) -> torch.Tensor:
    """An RGB image as the VAE reads it: ``(1, 3, H, W)`` in [-1, 1]."""
    return torch.from_numpy(np.asarray(image.convert("RGB"), np.float32) / 127.5 - 1).permute(2, 0, 1)[None]


def encode_image(vae, image: Image.Image | torch.Tensor) -> torch.Tensor:
    """The latents ``(1, C, h, w)`` (in the UNet's scale) of an RGB image (or its :func:`image_pixels`):
    the VAE's mode, so the same image always gives the same latents."""
    scaling, shift = vae_scaling(vae)
    pixels = image if isinstance(image, torch.Tensor) else image_pixels(image)
    with torch.inference_mode():
        latents = vae.encode(pixels.to(vae.device, vae.dtype)).latent_dist.mode()
    return (latents - shift) * scaling


def encode_flat_colours(vae, colours: torch.Tensor, size: int = 64) -> torch.Tensor:
    """Latents of flat images of the given RGB ``colours`` in [0, 1], shape ``(K, C, 1, 1)``.

    A flat image encodes to a (nearly) flat latent, so a small image and its mean latent stand
    for a flat canvas of any size at a fraction of the cost.
    """
    scaling, shift = vae_scaling(vae)
    images = (colours.to(vae.device, vae.dtype) * 2 - 1)[:, :, None, None].expand(-1, -1, size, size)
    latents = vae.encode(images).latent_dist.mode()
    return ((latents - shift) * scaling).float().mean(dim=(2, 3), keepdim=True)
