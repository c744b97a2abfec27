"""Start from an image, keep part of one (issue #19): equal to diffusers' img2img and inpainting."""

import numpy as np
import pytest
import torch
from PIL import Image

from mdwidgets import Layout, Region, compose
from mdwidgets.redo import keep_all_but
from mdwidgets.schedulers import make_scheduler

SIZE, STEPS = 64, 10


@pytest.fixture(scope="module")
def shapes_pipe():
    from mdwidgets import load_pipeline

    return load_pipeline("builtin:shapes")


def latents(seed: int) -> torch.Tensor:
    return torch.randn(1, 4, SIZE // 8, SIZE // 8, generator=torch.Generator().manual_seed(seed))


def relative(ours: torch.Tensor, theirs: torch.Tensor) -> float:
    return ((ours - theirs).abs().max() / theirs.abs().max()).item()


def diffusers_pipe(tiny_pipe, kind, scheduler):
    import diffusers

    pipe = getattr(diffusers, kind)(**tiny_pipe.components, requires_safety_checker=False)
    pipe.scheduler = make_scheduler(scheduler, tiny_pipe.scheduler)
    return pipe


@pytest.mark.parametrize("scheduler", ["ddim", "dpm++", "euler"])
def test_image_to_image_without_regions_equals_diffusers_img2img(tiny_pipe, scheduler):
    layout = Layout(SIZE, SIZE, "a red circle on a blue background")
    ours = compose(tiny_pipe, layout, num_inference_steps=STEPS, guidance_scale=7.5, seed=0, scheduler=scheduler,
                   init_image=latents(1), strength=0.6, output_type="latent")
    theirs = diffusers_pipe(tiny_pipe, "StableDiffusionImg2ImgPipeline", scheduler)(
        layout.background, image=latents(1), strength=0.6, num_inference_steps=STEPS, guidance_scale=7.5,
        generator=torch.Generator().manual_seed(0), output_type="latent").images
    assert ours.steps_done == 6  # int(10 * 0.6) steps run
    assert relative(ours.latents, theirs) <= 1e-5


@pytest.mark.parametrize("scheduler", ["ddim", "dpm++"])
def test_redoing_one_region_equals_diffusers_inpainting(tiny_pipe, scheduler):
    """A region redone on kept latents, the rest kept: diffusers' inpaint pipeline with a
    text-to-image (4-channel) UNet, the region's prompt and the region as its mask."""
    layout = Layout(SIZE, SIZE, "a blue background", [Region("a red circle", box=(16, 8, 48, 40))])
    keep = keep_all_but(layout, [0])
    ours = compose(tiny_pipe, layout, num_inference_steps=STEPS, guidance_scale=7.5, seed=0, scheduler=scheduler,
                   bootstrap_steps=0, keep=keep, keep_image=latents(2), output_type="latent")
    mask = Image.fromarray(((1 - keep) * 255).astype(np.uint8))
    theirs = diffusers_pipe(tiny_pipe, "StableDiffusionInpaintPipeline", scheduler)(
        "a red circle", image=latents(2), mask_image=mask, masked_image_latents=torch.zeros(1, 4, 8, 8),
        height=SIZE, width=SIZE, strength=1.0, num_inference_steps=STEPS, guidance_scale=7.5,
        generator=torch.Generator().manual_seed(0), output_type="latent").images
    assert relative(ours.latents, theirs) <= 1e-5
    outside = torch.from_numpy(keep[::8, ::8]).bool()
    assert torch.equal(ours.latents[0][:, outside], latents(2)[0][:, outside])  # kept cells end exact


def test_redo_on_the_builtin_model_keeps_the_rest_of_the_picture(shapes_pipe):
    """Outside the redone box the picture is the earlier one's (its pixels are pasted back; the
    kept latents alone decode up to ~6/255 off there, see mdwidgets.redo); inside, the new prompt's
    colour wins."""
    from mdwidgets.images import decode_latents
    from mdwidgets.shapes.adherence import shapes_adherence

    layout = Layout(128, 128, "a blue background", [Region("a red circle", box=(16, 16, 64, 64)),
                                                     Region("a yellow square", box=(72, 64, 120, 112))])
    first = compose(shapes_pipe, layout, seed=0)
    redone_layout = layout.with_regions([layout.regions[0].replace(prompt="a green circle"), layout.regions[1]])
    keep = keep_all_but(redone_layout, [0])
    again = compose(shapes_pipe, redone_layout, seed=5, keep=keep, keep_image=first.latents)
    before, after = (np.asarray(r.image, np.float32) for r in (first, again))
    outside = keep.astype(bool)
    change = float(np.abs(after - before)[outside].mean())
    inside = shapes_adherence(again.image, redone_layout.with_regions([redone_layout.regions[0]]))
    assert change <= 2.0, f"the kept area changed by {change:.2f}/255"
    latent_only = np.asarray(decode_latents(shapes_pipe.vae, again.latents), np.float32)
    assert np.abs(latent_only - before)[outside].mean() < 10  # the decoder's own mixing, pasted over
    assert inside["in_box"] > 0.3, inside


def test_bad_image_inputs_are_refused_with_the_sizes(tiny_pipe):
    layout = Layout(SIZE, SIZE, "a blue background", [Region("a red circle", box=(8, 8, 40, 40))])
    cases = [
        (dict(init_image=Image.new("RGB", (32, 32)), strength=0.5), "is 32x32 px but the canvas is 64x64"),
        (dict(init_image=latents(0), strength=1.5), r"strength=1.5 must be in \(0, 1\]"),
        (dict(init_image=latents(0), strength=0.01), "leaves no step of 3 to run"),
        (dict(strength=0.5), "needs an init_image"),
        (dict(keep=np.ones((8, 8)), keep_image=latents(0)), r"keep must be a \(64, 64\) pixel mask"),
        (dict(keep=np.ones((SIZE, SIZE))), "keep and keep_image go together"),
        (dict(init_image=torch.zeros(1, 4, 4, 4), strength=0.5), r"must have shape \(1, 4, 8, 8\)"),
    ]
    for kwargs, message in cases:
        with pytest.raises(ValueError, match=message):
            compose(tiny_pipe, layout, num_inference_steps=3, seed=0, **kwargs)
