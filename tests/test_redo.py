"""Start from an image, keep part of one (issue #19): equal to diffusers' img2img and inpainting."""

import numpy as np
import pytest
import torch
from PIL import Image

from mdwidgets import Layout, Region, compose
from mdwidgets.sampling.img2img import keep_all_but
from mdwidgets.sampling.schedulers import make_scheduler
from tests.devices import load_test_pipeline, model_latents, on_test_device, tolerance

SIZE, STEPS = 64, 10


@pytest.fixture(scope="module")
def shapes_pipe():
    return load_test_pipeline("builtin:shapes")


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
    assert relative(ours.latents, theirs) <= tolerance()


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
    assert relative(ours.latents, theirs) <= tolerance()
    outside = torch.from_numpy(keep[::8, ::8]).bool()
    assert torch.equal(ours.latents[0].cpu()[:, outside], latents(2)[0][:, outside])  # kept cells end exact


@pytest.fixture(scope="module")
def inpainting_pipe():
    from mdwidgets.pipelines.tiny import tiny_random_inpainting_pipeline

    return on_test_device(tiny_random_inpainting_pipeline())


def picture(seed: int) -> Image.Image:
    pixels = np.random.default_rng(seed).integers(0, 256, (SIZE, SIZE, 3), dtype=np.uint8)
    return Image.fromarray(pixels)


@pytest.mark.parametrize("scheduler", ["ddim", "dpm++"])
def test_an_inpainting_unet_equals_diffusers_inpainting_for_one_prompt(inpainting_pipe, scheduler):
    """A 9-channel UNet reads the mask of what to paint and the masked picture's latents, and no
    blend runs (diffusers: only 4-channel UNets are blended); the kept pixels are pasted back."""
    from diffusers.image_processor import VaeImageProcessor

    from mdwidgets.sampling.images import encode_image, image_pixels

    layout = Layout(SIZE, SIZE, "a red circle")
    mask_layout = Layout(SIZE, SIZE, "a blue background", [Region("a red circle", box=(16, 8, 48, 40))])
    keep, kept = keep_all_but(mask_layout, [0]), picture(7)
    ours = compose(inpainting_pipe, layout, num_inference_steps=STEPS, guidance_scale=7.5, seed=0,
                   scheduler=scheduler, latents=latents(3), keep=keep, keep_image=kept)
    masked = encode_image(inpainting_pipe.vae, image_pixels(kept) * torch.from_numpy(keep > 0.5))
    mask = Image.fromarray(((1 - keep) * 255).astype(np.uint8))
    theirs = diffusers_pipe(inpainting_pipe, "StableDiffusionInpaintPipeline", scheduler)(
        "a red circle", image=kept, mask_image=mask, masked_image_latents=masked, height=SIZE, width=SIZE,
        strength=1.0, num_inference_steps=STEPS, guidance_scale=7.5,
        latents=model_latents(latents(3), inpainting_pipe),
        generator=torch.Generator().manual_seed(0), output_type="latent").images
    assert relative(ours.latents, theirs) <= tolerance()
    # the masked picture as diffusers makes it: the picture where the mask is black, 0 (grey) where it paints
    processor = VaeImageProcessor(vae_scale_factor=8)
    as_diffusers = processor.preprocess(kept) * (processor.preprocess(mask).mean(1, keepdim=True) < 0.5)
    assert torch.allclose(image_pixels(kept) * torch.from_numpy(keep > 0.5), as_diffusers, atol=1e-6)
    pixels = np.asarray(ours.image)
    assert np.array_equal(pixels[keep.astype(bool)], np.asarray(kept)[keep.astype(bool)])  # pasted back


def test_an_inpainting_unet_renders_regions_and_plain_layouts(inpainting_pipe, tmp_path):
    """With nothing kept it paints everything from a blank picture (mask 1); regions fuse as usual.
    An inpainting checkpoint's folder loads."""
    import json

    inpainting_pipe.save_pretrained(tmp_path / "inpainting", safe_serialization=True)
    index = tmp_path / "inpainting" / "model_index.json"
    index.write_text(json.dumps({**json.loads(index.read_text()), "_class_name": "StableDiffusionInpaintPipeline"}))
    loaded = load_test_pipeline(tmp_path / "inpainting")
    layout = Layout(SIZE, SIZE, "a blue background", [Region("a red circle", box=(16, 8, 48, 40))])
    result = compose(loaded, layout, num_inference_steps=3, seed=0, output_type="latent")
    assert result.latents.shape == (1, 4, SIZE // 8, SIZE // 8) and torch.isfinite(result.latents).all()
    from mdwidgets.sampling.img2img import ImageInputs, inpainting_channels

    channels = inpainting_channels(inpainting_pipe.vae, ImageInputs(), (1, 4, SIZE // 8, SIZE // 8))
    assert channels.shape == (1, 5, SIZE // 8, SIZE // 8) and torch.equal(channels[:, 0], torch.ones(1, 8, 8))


def test_redo_on_the_builtin_model_keeps_the_rest_of_the_picture(shapes_pipe):
    """Outside the redone box the picture is the earlier one's (its pixels are pasted back; the
    kept latents alone decode up to ~6/255 off there, see mdwidgets.sampling.img2img); inside, the new prompt's
    colour wins."""
    from mdwidgets.sampling.images import decode_latents
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
    assert inside["colour"] == 1.0 and inside["iou"] > 0.3, inside


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
