"""A plain, literal implementation of region-based MultiDiffusion, as the official code runs it.

Each path gets its own latent view, its own two UNet rows ([unconditional, conditional]) and its
own copy of the scheduler, is stepped on its own, and the stepped views are averaged per pixel
with the region weights (paper Eq. 5). With ``window`` the canvas is cut into sliding windows
(paper §4.1) and every (window, prompt) pair with weight in the window is such a path, averaged
over the windows covering each cell. It is slow on purpose: it is the yardstick that
``mdwidgets.compose`` (fused prediction, one step, shared rows, gathered views) must equal.
"""

from __future__ import annotations

import copy
import inspect

import torch

from mdwidgets.masks import fusion_weights
from mdwidgets.schedulers import make_scheduler
from mdwidgets.windows import window_grid


@torch.inference_mode()
def plain_multidiffusion(
    pipe,
    layout,
    *,
    num_inference_steps: int,
    guidance_scale: float,
    latents: torch.Tensor,
    scheduler=None,
    bootstrap_backgrounds: torch.Tensor | None = None,
    generator: torch.Generator | None = None,
    window: int | None = None,
    stride: int = 8,
    circular: bool = False,
) -> torch.Tensor:
    """Final latents. ``bootstrap_backgrounds``: ``(steps, N, C, 1, 1)`` flat-colour latents."""
    unet = pipe.unet
    scale = pipe.vae_scale_factor
    weights = fusion_weights(layout, scale)
    prompts = layout.prompts
    negatives = [layout.negative_prompt] + [
        layout.negative_prompt if r.negative_prompt is None else r.negative_prompt for r in layout.regions
    ]
    embeds = []
    for prompt, negative in zip(prompts, negatives):
        cond, uncond = pipe.encode_prompt(prompt, unet.device, 1, True, negative)
        embeds.append(torch.cat([uncond, cond]))
    base = make_scheduler(scheduler, pipe.scheduler)
    base.set_timesteps(num_inference_steps)
    height, width = latents.shape[-2:]
    windows = window_grid(height, width, window or max(height, width), stride, circular)

    def crop(tensor, w):  # circular windows: roll the canvas so the window starts at column 0
        return torch.roll(tensor, -w.left, dims=-1)[..., w.top : w.top + w.height, : w.width]

    def uncrop(tensor, w):
        canvas = torch.zeros(*tensor.shape[:-2], height, width)
        canvas[..., w.top : w.top + w.height, : w.width] = tensor
        return torch.roll(canvas, w.left, dims=-1)

    paths = [(w, v) for w in windows for v in range(len(prompts)) if crop(weights[v], w).any()]
    schedulers = [copy.deepcopy(base) for _ in paths]  # one scheduler state per path
    boot = 0 if bootstrap_backgrounds is None else len(bootstrap_backgrounds)
    x = latents * base.init_noise_sigma
    for i, t in enumerate(base.timesteps):
        state = generator.get_state() if generator is not None else None
        value, count = torch.zeros_like(x), torch.zeros_like(x)
        for (w, v), sched in zip(paths, schedulers):
            view = x
            if v > 0 and i < boot:
                flat = sched.add_noise(bootstrap_backgrounds[i, v - 1 : v].expand_as(x), latents, t.reshape(1))
                view = torch.where(weights[v] > 0, x, flat)
            view = crop(view, w)
            model_in = sched.scale_model_input(torch.cat([view, view]), t)
            uncond, cond = unet(model_in, t, encoder_hidden_states=embeds[v], return_dict=False)[0].chunk(2)
            guided = uncond + guidance_scale * (cond - uncond)
            kwargs = {}
            if generator is not None and "generator" in inspect.signature(sched.step).parameters:
                # every path draws the same step noise
                generator.set_state(state)
                kwargs["generator"] = generator
            stepped = sched.step(guided, t, view, **kwargs).prev_sample
            value += uncrop(crop(weights[v], w) * stepped, w)
            count += uncrop(crop(weights[v], w).expand_as(stepped), w)
        x = value / count  # Eq. 5: per-pixel weighted mean of the stepped paths
    return x
