"""What a UNet row is conditioned on besides its latent crop and its prompt's embedding.

Rules (each as diffusers' own pipelines feed the UNet):

- **SDXL** (``unet.config.addition_embed_type == "text_time"``): every row also takes its prompt's
  pooled embedding and six *time ids*: original size, crop top-left, target size (px, as (h, w)).
  SDXL was trained on crops of larger images and told where the crop was; a window of a panorama is
  exactly such a crop of the canvas, so each window gets the canvas as original size, its own corner
  as the crop and its size as target. A single view gets (canvas, (0, 0), canvas): diffusers' default.
- **Empty negative prompts on SDXL** are zeros, not the embedding of "", where the pipeline says so
  (``force_zeros_for_empty_prompt``, as diffusers does when no negative prompt is given).
- **LCM-distilled UNets** (``unet.config.time_cond_proj_dim``) take the guidance ``w`` as an input,
  embedded like a timestep (``timestep_cond``, one per row), instead of an unconditional row.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch

from .prompts import PromptEmbeds
from .windows import Window


def window_time_ids(windows: Sequence[Window], grid: tuple[int, int], scale: int) -> torch.Tensor:
    """SDXL's time ids per window, ``(windows, 6)``: canvas size, the window's corner, its size (px)."""
    canvas = [grid[0] * scale, grid[1] * scale]
    return torch.tensor([canvas + [w.top * scale, w.left * scale, w.height * scale, w.width * scale]
                         for w in windows], dtype=torch.float32)


def guidance_embedding(guidance: torch.Tensor, dim: int) -> torch.Tensor:
    """Sinusoidal embedding of ``w = guidance - 1`` (×1000, like a timestep), ``(len(guidance), dim)``:
    the LCM paper's guidance input (diffusers' ``get_guidance_scale_embedding``)."""
    w, half = (guidance.float() - 1) * 1000.0, dim // 2
    frequencies = torch.exp(torch.arange(half, dtype=torch.float32) * -(math.log(10000.0) / (half - 1)))
    angles = w[:, None] * frequencies[None, :]
    return torch.nn.functional.pad(torch.cat([angles.sin(), angles.cos()], dim=1), (0, dim % 2))


def zero_empty_negatives(pipe, prompts: PromptEmbeds, texts: Sequence[str], first_negative: int) -> PromptEmbeds:
    """``prompts`` with empty negative prompts (``texts[first_negative:]``) zeroed where the pipeline
    asks for it (SDXL's ``force_zeros_for_empty_prompt``)."""
    config = getattr(pipe, "config", None) or {}
    if not config.get("force_zeros_for_empty_prompt", False):
        return prompts
    empty = torch.tensor([k >= first_negative and not text for k, text in enumerate(texts)])
    if not empty.any():
        return prompts
    embeds = prompts.embeds.masked_fill(empty[:, None, None].to(prompts.embeds.device), 0)
    pooled = None if prompts.pooled is None else prompts.pooled.masked_fill(empty[:, None].to(prompts.pooled.device), 0)
    return PromptEmbeds(embeds, pooled)
