"""builtin:shapes loads whole on every supported transformers/diffusers (scripts/test_floors.sh runs
this on the floors): no missing or unexpected keys, every stored tensor in its module, and so two
loads render the same picture. A text encoder saved in a layout an older transformers does not
read loads with random weights and only a logged warning (issue #18: up to 200/255 apart).
"""

import logging

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from mdwidgets import Layout, compose, load_pipeline
from mdwidgets.pipelines.loading import SHAPES_DIR

WEIGHTS = {"text_encoder": "model.safetensors", "unet": "diffusion_pytorch_model.safetensors",
           "vae": "diffusion_pytorch_model.safetensors"}


def test_every_component_loads_with_no_missing_or_unexpected_keys():
    from diffusers import AutoencoderKL, UNet2DConditionModel
    from transformers import CLIPTextModel

    for cls, folder in ((CLIPTextModel, "text_encoder"), (UNet2DConditionModel, "unet"), (AutoencoderKL, "vae")):
        _, info = cls.from_pretrained(SHAPES_DIR / folder, output_loading_info=True)
        assert not info["missing_keys"] and not info["unexpected_keys"], (folder, info)


@pytest.mark.parametrize("how", ["load_pipeline", "StableDiffusionPipeline"])
def test_the_pipeline_holds_every_stored_tensor_and_logs_no_key_warning(how, caplog):
    with caplog.at_level(logging.WARNING):
        pipe = _load(how)
    said = caplog.text.lower()
    assert not any(word in said for word in ("missing", "unexpected", "newly initialized", "not initialized")), said
    for folder, file in WEIGHTS.items():
        stored = _unprefixed(load_file(SHAPES_DIR / folder / file))
        held = _unprefixed(getattr(pipe, folder).state_dict())
        assert set(stored) <= set(held), (folder, sorted(set(stored) - set(held))[:5])
        # what the module holds beyond the file is buffers it rebuilds (CLIP's position_ids)
        assert set(held) - set(stored) <= {"embeddings.position_ids"}, folder
        for key, tensor in stored.items():
            assert torch.equal(held[key].cpu(), tensor.to(held[key].dtype)), (folder, key)


def test_two_loads_render_one_seed_alike():
    layout = Layout(128, 128, "a red circle on a blue background")
    first, second = (np.asarray(compose(load_pipeline("builtin:shapes", device="cpu"), layout,
                                        num_inference_steps=3, seed=7).image) for _ in range(2))
    assert np.array_equal(first, second)


def test_plain_diffusers_loads_render_one_seed_alike():
    pictures = []
    for _ in range(2):
        pipe = _load("StableDiffusionPipeline")
        out = pipe("a red circle on a blue background", height=128, width=128, num_inference_steps=3,
                   generator=torch.Generator().manual_seed(7), output_type="np")
        pictures.append(out.images[0])
    assert np.array_equal(*pictures)


def _unprefixed(tensors: dict) -> dict:
    """Keys without ``text_model.``: the file has it (the hub's layout), transformers 5.x's CLIPTextModel not."""
    return {key.removeprefix("text_model."): value for key, value in tensors.items()}


def _load(how: str):
    if how == "load_pipeline":
        return load_pipeline("builtin:shapes", device="cpu")
    from diffusers import StableDiffusionPipeline

    pipe = StableDiffusionPipeline.from_pretrained(SHAPES_DIR, safety_checker=None, requires_safety_checker=False)
    pipe.set_progress_bar_config(disable=True)
    return pipe
