"""Region states: what MultiDiffusion shows a region's path, recorded for training.

A model trained only on finished pictures fails in a way its single-prompt scores do not show:
in the middle of a composition a region's path sees a blob in its box that is not yet its object,
explains it as noise and draws its object elsewhere, where the fusion throws it away. This
module records those states and pairs each with the picture the layout asks for::

    python -m mdwidgets.shapes.states --model builtin:shapes --layouts 300 --out RUN/states.pt

For random layouts (:func:`~mdwidgets.shapes.compositions.random_layout`, drawn from another
random stream than the evaluator's), :func:`~mdwidgets.sampler.compose` runs on the model at
the family's defaults, except that :data:`BOOTSTRAP_STEPS` of the steps are bootstrapped, and every
path's UNet input is kept: its timestep, its prompt and the cells where its fusion weight is above
zero (the only cells of its prediction that the fusion uses). The target is the picture the layout asks for
(:func:`~mdwidgets.shapes.compositions.layout_scene`: each shape filling its box, on the
background colour), encoded by the VAE. ``train.py --p-states`` then teaches the model to
denoise a recorded input toward that target inside the path's cells.

Only timesteps from :data:`MIN_TIMESTEP` up are kept: there the input says little about the
picture and the target is what the path should aim for. Lower down the input already fixes the
picture, and a target that moves it would teach the model to ignore its input (tried: with half
of every batch such states down to timestep 250, single-prompt object colour fell from 93% to 65%).
"""

from __future__ import annotations

import argparse
import random
import time

import torch

from ..images import encode_image, vae_scale_factor
from ..masks import fusion_weights
from ..models import DEFAULT_MODEL, load_pipeline, native_size
from ..sampler import compose
from .compositions import layout_scene, random_layout
from .data import render

MIN_TIMESTEP = 600  #: the lowest timestep whose states are kept (see the module docstring)
#: bootstrapped steps of the recorded runs: v2's default, which the shipped fine-tunes were recorded at
#: (fixed here so that the recipe does not change when the family's default does; states recorded at 5
#: helped compositions at short bootstrapping only and cost single prompts: docs/model_card.md)
BOOTSTRAP_STEPS = 15


@torch.no_grad()
def record_states(pipe, layouts: int, seed: int = 0, min_timestep: int = MIN_TIMESTEP,
                  bootstrap_steps: int = BOOTSTRAP_STEPS, log=print) -> dict:
    """Run ``layouts`` random layouts and return every path's input at timesteps >= ``min_timestep``.

    Returns ``inputs`` (K, C, h, w) fp16, ``timesteps`` (K,), ``prompts`` (K strings), ``cells``
    (K, h, w) bool and ``target`` (K,) indexing ``targets`` (layouts, C, h, w) fp16, the scaled
    VAE latents of the asked pictures, one per layout (``layouts``, as dicts)."""
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
            for sample, t in calls:
                if int(t) >= min_timestep:
                    inputs.append(sample[:paths].half().cpu())
                    timesteps += [int(t)] * paths
                    prompts += layout.prompts
                    cells.append(weights)
                    target += [k] * paths
            targets.append(encode_image(pipe.vae, render(layout_scene(layout), size))[0].half().cpu())
            drawn.append(layout.to_dict())
            if (k + 1) % 50 == 0:
                log(f"states: {k + 1}/{layouts} layouts, {len(prompts)} states, {(time.time() - started) / 60:.1f} min")
    finally:
        hook.remove()
    return {"inputs": torch.cat(inputs), "timesteps": torch.tensor(timesteps), "prompts": prompts,
            "cells": torch.cat(cells), "target": torch.tensor(target), "targets": torch.stack(targets),
            "layouts": drawn, "minutes": (time.time() - started) / 60}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", default=DEFAULT_MODEL)
    parser.add_argument("--layouts", type=int, default=300)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--min-timestep", type=int, default=MIN_TIMESTEP)
    parser.add_argument("--out", required=True)
    args = parser.parse_args(argv)
    pipe = load_pipeline(args.model, dtype=torch.float32)
    torch.save(record_states(pipe, args.layouts, args.seed, args.min_timestep), args.out)


if __name__ == "__main__":
    main()
