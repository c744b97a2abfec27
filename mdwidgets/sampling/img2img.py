"""Start from an image, keep part of one: the inputs of image-to-image and of "redo a region".

- ``init_image`` + ``strength`` (SDEdit, as diffusers' ``StableDiffusionImg2ImgPipeline``): the
  image's latent is noised to the timestep at ``strength`` of the schedule with the run's own
  noise, and only the remaining ``int(steps * strength)`` steps run.
- ``keep`` + ``keep_image`` (as diffusers' inpainting with a text-to-image UNet): after every step
  the kept latent cells are replaced by the kept image's latent noised to the next timestep, so
  they end as the kept latents exactly; the rest is rendered anew. ``keep`` is a pixel mask, 1 =
  keep, resized to the latent grid by nearest neighbour like diffusers' mask (soft values blend).
  The decoded picture then takes the kept image's own pixels where ``keep`` is 1 (soft values
  blend): a VAE decoder mixes neighbouring cells (the built-in one normalises over the whole
  image), so kept latents alone come back up to ~6/255 off around a redone box.
- **Inpainting checkpoints** (a 9-channel UNet: latents + mask + masked-image latents, e.g.
  "stable-diffusion-inpainting") get what diffusers' ``StableDiffusionInpaintPipeline`` feeds them:
  every row also reads the mask of what to paint (``1 - keep``; everything when nothing is kept)
  and the latents of the kept image with the painted part blanked (:func:`inpainting_channels`).
  They paint the kept cells back themselves, so no blend runs; the kept pixels are pasted as above.
- An image is a PIL image of the canvas size (encoded by the VAE: its distribution's mode) or a
  latent tensor ``(1, C, h, w)`` in the UNet's scale (e.g. ``result.latents``: no VAE round trip).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from ..layout import Layout
from ..pipelines.facts import vae_scale_factor
from .images import decode_latents, encode_image, image_pixels
from .masks import region_mask


@dataclass(frozen=True)
class ImageInputs:
    """What a run starts from and keeps; ``None``: text-to-image, nothing kept."""

    init: torch.Tensor | None = None  #: (1, C, h, w) latents to start from
    strength: float = 1.0
    keep: torch.Tensor | None = None  #: (1, 1, h, w) in [0, 1]: 1 = keep
    kept: torch.Tensor | None = None  #: (1, C, h, w) latents of the kept image
    keep_pixels: np.ndarray | None = None  #: (H, W) the pixel mask as given
    kept_picture: Image.Image | None = None  #: the kept image, if given as one

    def paste(self, image: Image.Image, vae) -> Image.Image:
        """``image`` with the kept image's pixels where ``keep`` is 1 (a decode of its latents if
        it was given as latents: an earlier result's own picture)."""
        if self.keep_pixels is None:
            return image
        kept = self.kept_picture or decode_latents(vae, self.kept)
        mask = Image.fromarray((self.keep_pixels * 255).round().astype(np.uint8))
        return Image.composite(kept.convert("RGB"), image, mask)

    def start_index(self, steps: int) -> int:
        """The first of ``steps`` scheduler steps that runs (diffusers' ``get_timesteps``)."""
        return steps - min(int(steps * self.strength), steps)


def image_inputs(vae, layout: Layout, shape: tuple[int, ...], *, init_image=None, strength: float = 1.0,
                 keep=None, keep_image=None) -> ImageInputs:
    """Checked and encoded inputs (``shape``: the run's latent shape)."""
    if isinstance(strength, bool) or not isinstance(strength, (int, float)) or not 0 < strength <= 1:
        raise ValueError(f"strength={strength!r} must be in (0, 1]: the share of the steps that run")
    if (keep is None) != (keep_image is None):
        raise ValueError("keep and keep_image go together: a mask of what to keep and the image to keep it from")
    if strength < 1 and init_image is None and keep_image is None:
        raise ValueError(f"strength={strength} needs an init_image (or a keep_image) to start from")
    mask = _keep_mask(keep, layout, shape)  # checked before any image is encoded
    init = _latents(vae, layout, shape, init_image, "init_image")
    kept = _latents(vae, layout, shape, keep_image, "keep_image")
    if init is None and strength < 1:
        init = kept  # redo at a strength: start from the kept image too
    picture = keep_image if isinstance(keep_image, Image.Image) else None
    pixels = None if keep is None else np.asarray(keep, dtype=np.float32)
    return ImageInputs(init, float(strength), mask, kept, pixels, picture)


def _latents(vae, layout: Layout, shape, image, name: str) -> torch.Tensor | None:
    if image is None:
        return None
    if isinstance(image, torch.Tensor):
        if tuple(image.shape) != tuple(shape):
            raise ValueError(f"{name} latents must have shape {tuple(shape)} for this canvas, got {tuple(image.shape)}")
        if not torch.isfinite(image).all():
            raise ValueError(f"{name} latents hold NaN or inf values (a result of a run that overflowed?)")
        return image.float()
    if not isinstance(image, Image.Image):
        raise TypeError(f"{name} must be a PIL image or a latent tensor, not {type(image).__name__}")
    if image.size != (layout.width, layout.height):
        raise ValueError(f"{name} is {image.size[0]}x{image.size[1]} px but the canvas is "
                         f"{layout.width}x{layout.height}: resize or crop it first")
    return encode_image(vae, image).float().cpu()


def _keep_mask(keep, layout: Layout, shape) -> torch.Tensor | None:
    if keep is None:
        return None
    try:
        mask = torch.as_tensor(np.asarray(keep, dtype=np.float32))
    except (TypeError, ValueError):
        raise ValueError(f"keep must be a ({layout.height}, {layout.width}) pixel mask of numbers in [0, 1] "
                         f"(1 = keep); this {type(keep).__name__} holds something else") from None
    if tuple(mask.shape) != (layout.height, layout.width):
        raise ValueError(f"keep must be a ({layout.height}, {layout.width}) pixel mask for this canvas, "
                         f"got shape {tuple(mask.shape)}")
    if not torch.isfinite(mask).all() or mask.min() < 0 or mask.max() > 1:
        raise ValueError("keep must hold values in [0, 1] (1 = keep)")
    return F.interpolate(mask[None, None], size=tuple(shape[-2:]))  # nearest, like diffusers' mask


def inpainting_channels(vae, inputs: ImageInputs, shape: tuple[int, ...]) -> torch.Tensor:
    """An inpainting UNet's extra input, ``(1, 1 + C, h, w)``: the mask of what to paint (``1 - keep``)
    and the VAE latents of the kept picture where ``keep > 0.5``, zero (mid-grey) elsewhere, as in
    diffusers' ``StableDiffusionInpaintPipeline``. Nothing kept: paint everything, from a blank picture."""
    scale = vae_scale_factor(vae)
    if inputs.keep is None:
        mask, pixels = torch.ones(1, 1, *shape[-2:]), torch.zeros(1, 3, shape[-2] * scale, shape[-1] * scale)
    else:
        picture = inputs.kept_picture or decode_latents(vae, inputs.kept)
        kept = torch.from_numpy(np.asarray(inputs.keep_pixels) > 0.5)
        mask, pixels = 1 - inputs.keep, image_pixels(picture) * kept
    return torch.cat([mask, encode_image(vae, pixels).float().cpu()], dim=1)


def keep_all_but(layout: Layout, regions: Sequence[int], scale: int = 8) -> np.ndarray:
    """The pixel ``keep`` mask that redoes ``regions`` (indices) and keeps everything else: 1
    outside the union of their latent cells (so the redone area is whole cells), 0 inside."""
    _check_redo_arguments(layout, regions, scale)
    height, width = layout.height // scale, layout.width // scale
    redo = torch.zeros(height, width)
    for index in regions:
        redo = torch.maximum(redo, (region_mask(layout.regions[index], height, width, scale) > 0).float())
    pixels = redo.repeat_interleave(scale, 0).repeat_interleave(scale, 1)
    return (1 - pixels).numpy()


def _check_redo_arguments(layout: Layout, regions: Sequence[int], scale: int) -> None:
    if not isinstance(layout, Layout):
        raise TypeError(f"keep_all_but: layout must be a mdwidgets.Layout, not {type(layout).__name__}")
    if isinstance(scale, bool) or not isinstance(scale, int) or scale < 1:
        raise ValueError(f"keep_all_but: scale={scale!r} must be a whole number >= 1 (the VAE's factor, 8 for SD)")
    if isinstance(regions, (str, bytes)) or not isinstance(regions, Sequence):
        raise TypeError(f"keep_all_but: regions must be a list of region indices, not {type(regions).__name__}")
    count = len(layout.regions)
    for index in regions:
        if isinstance(index, bool) or not isinstance(index, (int, np.integer)) or not -count <= index < count:
            raise ValueError(f"keep_all_but: region index {index!r} is not one of this layout's "
                             f"{count} regions (0 to {count - 1})" if count else
                             f"keep_all_but: region index {index!r}: this layout has no regions")
