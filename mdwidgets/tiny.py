"""Tiny randomly initialised pipelines of the other families, built from config (no download).

For tests and benchmarks: the same component classes and conditioning as the real checkpoints —
SDXL's two text encoders, pooled embeddings and size/crop ids; an LCM-distilled UNet's guidance
embedding — at a few hundred thousand parameters. Their images are noise.
"""

from __future__ import annotations

import torch

from .models import _TINY_TEXT, _TINY_UNET, _TINY_VAE, _TINY_WORDS, SD_SCHEDULER_CONFIG, word_tokenizer

TIME_ID_DIM = 8  # SDXL's addition_time_embed_dim, per time id (real: 256)


def tiny_random_sdxl_pipeline(seed: int = 0):
    """A tiny ``StableDiffusionXLPipeline`` (two CLIP text encoders of width 32, the second with a
    projection; a UNet with ``addition_embed_type="text_time"``), VAE factor 8, Euler scheduler."""
    from diffusers import AutoencoderKL, EulerDiscreteScheduler, StableDiffusionXLPipeline, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTextModelWithProjection

    torch.manual_seed(seed)
    tokenizer = word_tokenizer(_TINY_WORDS)
    config = CLIPTextConfig(vocab_size=len(tokenizer), max_position_embeddings=tokenizer.model_max_length,
                            bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
                            pad_token_id=tokenizer.pad_token_id, projection_dim=32, **_TINY_TEXT)
    text_encoder, text_encoder_2 = CLIPTextModel(config), CLIPTextModelWithProjection(config)
    unet = UNet2DConditionModel(**{
        **_TINY_UNET, "cross_attention_dim": 2 * config.hidden_size, "addition_embed_type": "text_time",
        "addition_time_embed_dim": TIME_ID_DIM, "projection_class_embeddings_input_dim": 6 * TIME_ID_DIM + 32})
    vae = AutoencoderKL(**_TINY_VAE)
    for module in (unet, vae, text_encoder, text_encoder_2):
        module.eval().requires_grad_(False)
    scheduler = EulerDiscreteScheduler.from_config(SD_SCHEDULER_CONFIG)  # keeps clip_sample=False, as SDXL's
    pipe = StableDiffusionXLPipeline(vae=vae, text_encoder=text_encoder, text_encoder_2=text_encoder_2,
                                     tokenizer=tokenizer, tokenizer_2=tokenizer, unet=unet, scheduler=scheduler)
    pipe.set_progress_bar_config(disable=True)
    pipe.mdwidgets_model_name = "tiny-random-sdxl"
    return pipe


def tiny_random_lcm_pipeline(seed: int = 0, guidance_dim: int = 32):
    """A tiny SD pipeline whose UNet takes a guidance embedding (``time_cond_proj_dim``), as an
    LCM-distilled checkpoint's does, with diffusers' ``LCMScheduler``."""
    from diffusers import LCMScheduler, UNet2DConditionModel

    from .models import tiny_random_pipeline

    pipe = tiny_random_pipeline(seed)
    torch.manual_seed(seed)
    pipe.unet = UNet2DConditionModel(**_TINY_UNET, time_cond_proj_dim=guidance_dim).eval().requires_grad_(False)
    pipe.scheduler = LCMScheduler.from_config(SD_SCHEDULER_CONFIG)
    pipe.mdwidgets_model_name = "tiny-random-lcm"
    return pipe


def tiny_random_inpainting_pipeline(seed: int = 0):
    """A tiny SD inpainting pipeline: the UNet reads 9 channels (latents, mask, masked-image latents),
    as "stable-diffusion-inpainting"'s does."""
    from diffusers import UNet2DConditionModel

    from .models import tiny_random_pipeline

    pipe = tiny_random_pipeline(seed)
    torch.manual_seed(seed)
    pipe.unet = UNet2DConditionModel(**{**_TINY_UNET, "in_channels": 9}).eval().requires_grad_(False)
    pipe.mdwidgets_model_name = "tiny-random-inpainting"
    return pipe
