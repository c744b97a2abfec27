"""Region-based MultiDiffusion as the paper writes it: read this first.

A plain, literal implementation, as the official code runs it. Each path — a prompt on the whole
canvas, or with ``window`` on one sliding window (paper §4.1) — gets its own latent view, its own
two UNet rows ([unconditional, conditional]) and its own copy of the scheduler, and is stepped on
its own; then the stepped views are averaged per pixel with the region weights (paper Eq. 5, with
the regions' ``weight`` and ``layout.overlap`` as :func:`~mdwidgets.sampling.masks.fusion_weights` makes them),
and over the windows covering each cell. It is slow on purpose: it is the yardstick that
:func:`mdwidgets.compose` (fused prediction, one step, shared rows, gathered paths) must equal,
and the tests and ``benchmarks/bench_sampler.py`` hold it to that.
"""

from __future__ import annotations

import copy
import inspect

import torch

from ..pipelines.facts import vae_scale_factor
from .masks import fusion_weights
from .schedulers import make_scheduler
from .windows import window_grid


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
    """Final latents of ``layout`` from the initial noise ``latents`` ``(1, C, h, w)``.

    ``pipe`` is a diffusers ``StableDiffusionPipeline`` or ``StableDiffusionXLPipeline`` (its
    ``encode_prompt`` is used; SDXL windows get the canvas size, their corner and their size as
    time ids);
    ``bootstrap_backgrounds`` are ``(bootstrap steps, N, C, 1, 1)`` flat-colour latents that each
    foreground sees outside its region during the first steps; ``generator`` feeds stochastic
    schedulers (every path draws the same step noise).
    """
    unet = pipe.unet
    # Latents, weights and the fusion stay float32 on the UNet's device; only the UNet's rows are in its
    # dtype (as compose runs it), so a float16 GPU run is compared step for step with compose's.
    device, latents = unet.device, latents.to(unet.device, torch.float32)
    scale = vae_scale_factor(pipe.vae)
    weights = fusion_weights(layout, scale).to(device)  # W_i: (N + 1, 1, h, w), summing to 1
    embeds = _prompt_embeddings(pipe, layout)
    base = make_scheduler(scheduler, pipe.scheduler)
    base.set_timesteps(num_inference_steps, device=device)
    height, width = latents.shape[-2:]
    windows = window_grid(height, width, window or max(height, width), stride, circular)
    paths = [(w, v) for w in windows for v in range(len(embeds)) if _crop(weights[v], w).any()]
    schedulers = [copy.deepcopy(base) for _ in paths]  # one scheduler state per path
    boot = 0 if bootstrap_backgrounds is None else len(bootstrap_backgrounds)
    if boot:
        bootstrap_backgrounds = bootstrap_backgrounds.to(device)
    x = latents * base.init_noise_sigma
    for i, t in enumerate(base.timesteps):
        state = generator.get_state() if generator is not None else None
        value, count = torch.zeros_like(x), torch.zeros_like(x)
        for (w, v), sched in zip(paths, schedulers):
            view = x
            if v > 0 and i < boot:
                flat = sched.add_noise(bootstrap_backgrounds[i, v - 1 : v].expand_as(x), latents, t.reshape(1))
                view = torch.where(weights[v] > 0, x, flat)
            view = _crop(view, w)
            model_in = sched.scale_model_input(torch.cat([view, view]), t).to(unet.dtype)
            context, pooled = embeds[v]
            added = None if pooled is None else {"text_embeds": pooled,
                                                 "time_ids": _time_ids(w, x, scale).to(unet.dtype)}
            uncond, cond = unet(model_in, t, encoder_hidden_states=context, added_cond_kwargs=added,
                                return_dict=False)[0].float().chunk(2)
            guided = uncond + guidance_scale * (cond - uncond)
            kwargs = {}
            if generator is not None and "generator" in inspect.signature(sched.step).parameters:
                # every path draws the same step noise
                generator.set_state(state)
                kwargs["generator"] = generator
            stepped = sched.step(guided, t, view, **kwargs).prev_sample
            value += _uncrop(_crop(weights[v], w) * stepped, w, height, width)
            count += _uncrop(_crop(weights[v], w).expand_as(stepped), w, height, width)
        x = value / count  # Eq. 5: per-pixel weighted mean of the stepped paths
    return x


def _prompt_embeddings(pipe, layout) -> list[tuple[torch.Tensor, torch.Tensor | None]]:
    """Per prompt [background, regions…]: its [unconditional, conditional] embeddings and (SDXL) pooled
    ones; an empty negative prompt is no negative prompt (SDXL: zeros)."""
    negatives = [layout.negative_prompt] + [
        layout.negative_prompt if r.negative_prompt is None else r.negative_prompt for r in layout.regions
    ]
    embeds = []
    for prompt, negative in zip(layout.prompts, negatives):
        if getattr(pipe, "text_encoder_2", None) is not None:
            cond, uncond, pooled, uncond_pooled = pipe.encode_prompt(prompt, None, pipe.unet.device, 1, True,
                                                                      negative or None)
            embeds.append((torch.cat([uncond, cond]), torch.cat([uncond_pooled, pooled])))
        else:
            cond, uncond = pipe.encode_prompt(prompt, pipe.unet.device, 1, True, negative)
            embeds.append((torch.cat([uncond, cond]), None))
    return embeds


def _time_ids(w, x: torch.Tensor, scale: int) -> torch.Tensor:
    """SDXL's (original size, crop corner, target size) of window ``w``: the canvas, its corner, its size."""
    height, width = x.shape[-2:]
    return torch.tensor([[height, width, w.top, w.left, w.height, w.width]] * 2, dtype=x.dtype, device=x.device) * scale


def _crop(tensor: torch.Tensor, w) -> torch.Tensor:
    """Window ``w`` of a canvas; circular windows roll the canvas so the window starts at column 0."""
    return torch.roll(tensor, -w.left, dims=-1)[..., w.top : w.top + w.height, : w.width]


def _uncrop(tensor: torch.Tensor, w, height: int, width: int) -> torch.Tensor:
    """A window's values placed back on an otherwise zero canvas."""
    canvas = tensor.new_zeros(*tensor.shape[:-2], height, width)
    canvas[..., w.top : w.top + w.height, : w.width] = tensor
    return torch.roll(canvas, w.left, dims=-1)
