"""decode_latents: diffusers' post-processing, the same pixels as the hand-written step it replaced,
and a float16 VAE decoded through a float32 copy without changing the caller's VAE."""

import copy

import numpy as np
import torch

from mdwidgets.sampling.images import decode_latents, float32_vae


def _latents(pipe, side=8, seed=0):
    return torch.randn(1, pipe.vae.config.latent_channels, side, side, generator=torch.Generator().manual_seed(seed))


def _by_hand(vae, latents):
    """The post-processing decode_latents had before it went through VaeImageProcessor."""
    with torch.inference_mode():
        pixels = vae.decode(latents / vae.config.scaling_factor, return_dict=False)[0]
    return ((pixels[0].float() / 2 + 0.5).clamp(0, 1) * 255).round().byte().permute(1, 2, 0).numpy()


def test_decode_gives_the_pixels_of_the_hand_written_post_processing(tiny_pipe):
    for seed in range(3):
        latents = _latents(tiny_pipe, seed=seed) * 3  # wide enough that some pixels clip
        assert np.array_equal(np.asarray(decode_latents(tiny_pipe.vae, latents)), _by_hand(tiny_pipe.vae, latents))


def test_a_half_precision_vae_is_left_as_it_is_and_decodes_in_float32(tiny_pipe):
    half = copy.deepcopy(tiny_pipe.vae).to(torch.float16)
    latents = _latents(tiny_pipe)
    image = decode_latents(half, latents)
    assert half.dtype == torch.float16  # the caller's VAE: not upcast in place
    assert float32_vae(half) is float32_vae(half)  # one copy per VAE, not one per decode
    assert np.array_equal(np.asarray(image), _by_hand(copy.deepcopy(half).float(), latents))
    assert float32_vae(tiny_pipe.vae) is tiny_pipe.vae
