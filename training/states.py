"""Region states: what MultiDiffusion shows a region's path, recorded for training.

A model trained only on finished pictures fails in a way its single-prompt scores do not show:
in the middle of a composition a region's path sees a blob in its box that is not yet its object,
explains it as noise and draws its object elsewhere, where the fusion throws it away. This
module records those states and pairs each with the picture the layout asks for::

    python -m training.states --model builtin:shapes --layouts 300 --out RUN/states.pt

For random layouts (:func:`~training.compositions.random_layout`, drawn from another
random stream than the evaluator's), :func:`~mdwidgets.sampling.sampler.compose` runs on the model at
the family's defaults, except that :data:`BOOTSTRAP_STEPS` of the steps are bootstrapped, and every
path's UNet input is kept: its timestep, its prompt and the cells where its fusion weight is above
zero (the only cells of its prediction that the fusion uses). The target is the picture the layout asks for
(:func:`~training.compositions.layout_scene`: each shape filling its box, on the
background colour), encoded by the VAE. ``train.py --p-states`` then teaches the model to
denoise a recorded input toward that target inside the path's cells.

With ``surround=True`` a bootstrapped region path's target is its object on the flat colour that path
saw outside its box, not on the layout's background, which a bootstrapped path cannot know. This
tested whether such an unpredictable target is why boxes fill up; fine-tunes on it did not help
(docs/model_card.md, "What did not fix it"), so the shipped recipe does not use it.

Only timesteps from :data:`MIN_TIMESTEP` up are kept: there the input says little about the
picture and the target is what the path should aim for. Lower down the input already fixes the
picture, and a target that moves it would teach the model to ignore its input (tried: with half
of every batch such states down to timestep 250, single-prompt object colour fell from 93% to 65%).
"""

from __future__ import annotations

import argparse
import random
import time

import numpy as np
import torch

from mdwidgets.pipelines.facts import native_size, vae_scale_factor
from mdwidgets.pipelines.loading import DEFAULT_MODEL, load_pipeline
from mdwidgets.sampling.images import decode_latents, encode_image
from mdwidgets.sampling.masks import fusion_weights
from mdwidgets.sampling.sampler import compose
from mdwidgets.shapes.data import render

from .compositions import layout_scene, random_layout

MIN_TIMESTEP = 600  #: the lowest timestep whose states are kept (see the module docstring)
#: bootstrapped steps of the recorded runs: v2's default, which the shipped fine-tunes were recorded at
#: (fixed here so that the recipe does not change when the family's default does; states recorded at 5
#: helped compositions at short bootstrapping only and cost single prompts: docs/model_card.md)
BOOTSTRAP_STEPS = 15


@torch.no_grad()
def record_states(pipe, layouts: int, seed: int = 0, min_timestep: int = MIN_TIMESTEP,
                  bootstrap_steps: int = BOOTSTRAP_STEPS, surround: bool = False, log=print) -> dict:
    """Run ``layouts`` random layouts and return every path's input at timesteps >= ``min_timestep``.

    Returns ``inputs`` (K, C, h, w) fp16, ``timesteps`` (K,), ``prompts`` (K strings), ``cells``
    (K, h, w) bool and ``target`` (K,) indexing ``targets`` (layouts, C, h, w) fp16, the scaled
    VAE latents of the asked pictures, one per layout (``layouts``, as dicts). With ``surround``,
    ``targets`` also holds, for every bootstrapped region state, the layout drawn on the colour
    that state saw outside its box (:func:`_surround_rgb`)."""
    if surround and pipe.scheduler.init_noise_sigma != 1:
        raise ValueError("surround targets read the initial noise off the first UNet call: use a DDIM-like scheduler")
    size, rng = native_size(pipe), random.Random(f"region-states-{seed}")
    calls: list[tuple[torch.Tensor, torch.Tensor]] = []
    # every UNet call of a run (lockstep.drive passes the rows and the timestep positionally)
    hook = pipe.unet.register_forward_pre_hook(lambda _, args: calls.append((args[0], args[1])))
    inputs, timesteps, prompts, cells, target, targets, drawn = [], [], [], [], [], [], []
    started = time.time()
    try:
        for k in range(layouts):
            layout, _ = random_layout(rng, size)
            calls.clear()
            compose(pipe, layout, seed=seed * 100_003 + k, bootstrap_steps=bootstrap_steps, output_type="latent")
            paths = 1 + len(layout.regions)  # single window: rows 0..N are the prompts' conditional rows
            weights = fusion_weights(layout, vae_scale_factor(pipe.vae))[:, 0] > 0
            scene, asked = layout_scene(layout), len(targets)
            targets.append(_encoded(pipe, scene, size))
            for sample, t in calls:
                if int(t) < min_timestep:
                    continue
                inputs.append(sample[:paths].half().cpu())
                timesteps += [int(t)] * paths
                prompts += layout.prompts
                cells.append(weights)
                target.append(asked)  # the background path sees the shared latents: the asked picture
                for row, cells_in in zip(sample[1:paths], weights[1:]):
                    rgb = _surround_rgb(pipe, row, sample[0], calls[0][0][0], ~cells_in, t) if surround else None
                    target.append(asked if rgb is None else len(targets))
                    if rgb is not None:
                        targets.append(_encoded(pipe, scene, size, rgb))
            drawn.append(layout.to_dict())
            if (k + 1) % 50 == 0:
                log(f"states: {k + 1}/{layouts} layouts, {len(prompts)} states, {(time.time() - started) / 60:.1f} min")
    finally:
        hook.remove()
    return {"inputs": torch.cat(inputs), "timesteps": torch.tensor(timesteps), "prompts": prompts,
            "cells": torch.cat(cells), "target": torch.tensor(target), "targets": torch.stack(targets),
            "layouts": drawn, "minutes": (time.time() - started) / 60}


def _encoded(pipe, scene, size: int, background_rgb=None) -> torch.Tensor:
    return encode_image(pipe.vae, render(scene, size, background_rgb=background_rgb))[0].half().cpu()


def _surround_rgb(pipe, row, shared, noise, outside, t) -> tuple[int, int, int] | None:
    """The flat colour a bootstrapped path saw outside its region, or None if it saw the shared latents.

    There its input is √ᾱ_t·z + √(1 − ᾱ_t)·ε, z the colour's latent and ε the run's initial noise
    (the first UNet call's background row: DDIM starts from unscaled noise); decoded, z is the colour."""
    if torch.equal(row[:, outside], shared[:, outside]):
        return None
    alpha_bar = pipe.scheduler.alphas_cumprod[int(t)].to(row)
    flat = (row[:, outside] - (1 - alpha_bar).sqrt() * noise[:, outside]) / alpha_bar.sqrt()
    latent = flat.mean(dim=1)[None, :, None, None].expand(1, -1, 4, 4)
    return tuple(int(c) for c in np.asarray(decode_latents(pipe.vae, latent))[8:-8, 8:-8].mean(axis=(0, 1)).round())


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", default=DEFAULT_MODEL)
    parser.add_argument("--layouts", type=int, default=300)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--min-timestep", type=int, default=MIN_TIMESTEP)
    parser.add_argument("--surround", action="store_true",
                        help="targets of bootstrapped region states on the colour they saw outside their box")
    parser.add_argument("--out", required=True)
    args = parser.parse_args(argv)
    pipe = load_pipeline(args.model, dtype=torch.float32)
    torch.save(record_states(pipe, args.layouts, args.seed, args.min_timestep, surround=args.surround), args.out)


if __name__ == "__main__":
    main()
