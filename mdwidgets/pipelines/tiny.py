"""Tiny randomly initialised pipelines, built from config (no download), and the word tokenizer.

For tests and benchmarks: the same component classes and conditioning as the real checkpoints —
Stable Diffusion 1.x (``builtin:tiny-random``), SDXL's two text encoders, pooled embeddings and
size/crop ids, an LCM-distilled UNet's guidance embedding — at a few hundred thousand parameters.
Their images are noise.
"""

from __future__ import annotations

import torch

from .loading import stable_diffusion_pipeline_class

_TINY_UNET = dict(sample_size=32, in_channels=4, out_channels=4, block_out_channels=(32, 64), layers_per_block=1,
                  down_block_types=("CrossAttnDownBlock2D", "DownBlock2D"),
                  up_block_types=("UpBlock2D", "CrossAttnUpBlock2D"),
                  cross_attention_dim=32, attention_head_dim=8, norm_num_groups=16)
_TINY_VAE = dict(in_channels=3, out_channels=3, latent_channels=4, block_out_channels=(16, 16, 32, 32),
                 down_block_types=("DownEncoderBlock2D",) * 4, up_block_types=("UpDecoderBlock2D",) * 4,
                 layers_per_block=1, norm_num_groups=8, sample_size=256)
_TINY_TEXT = dict(hidden_size=32, intermediate_size=64, num_attention_heads=4, num_hidden_layers=2)
SD_SCHEDULER_CONFIG = dict(beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear", clip_sample=False,
                     set_alpha_to_one=False, steps_offset=1)


def tiny_random_pipeline(seed: int = 0):
    """A tiny StableDiffusionPipeline with random weights, built from config (no download).

    Same component classes and latent layout as Stable Diffusion 1.x (4 latent channels,
    VAE scale factor 8), a few hundred thousand parameters.
    """
    from diffusers import AutoencoderKL, DDIMScheduler, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel

    torch.manual_seed(seed)
    tokenizer = word_tokenizer(_TINY_WORDS)
    unet, vae = UNet2DConditionModel(**_TINY_UNET), AutoencoderKL(**_TINY_VAE)
    text_encoder = CLIPTextModel(CLIPTextConfig(
        vocab_size=len(tokenizer), max_position_embeddings=tokenizer.model_max_length,
        bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id, **_TINY_TEXT))
    for module in (unet, vae, text_encoder):
        module.eval().requires_grad_(False)
    pipe = stable_diffusion_pipeline_class()(
        vae=vae, text_encoder=text_encoder, tokenizer=tokenizer, unet=unet,
        scheduler=DDIMScheduler(**SD_SCHEDULER_CONFIG), safety_checker=None, feature_extractor=None,
        requires_safety_checker=False)
    pipe.mdwidgets_model_name = "builtin:tiny-random"
    return pipe


_TINY_WORDS = (
    "a an the and on of in with at background living room sofa plant painting lamp table red green "
    "blue yellow white black orange purple circle square triangle cat dog house tree sky sea"
).split()


WORD_TOKENIZER_SPECIALS = ("<|pad|>", "<|unk|>", "<|startoftext|>", "<|endoftext|>")  # ids 0-3


def word_tokenizer(words, model_max_length: int = 77):
    """A word-level CLIP-style tokenizer (``<|startoftext|> words <|endoftext|>``) built offline.

    Ids: :data:`WORD_TOKENIZER_SPECIALS` first, then ``words`` in order; lower-cased, split on
    whitespace and punctuation; unknown words become ``<|unk|>``."""
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors
    from transformers import PreTrainedTokenizerFast

    vocab = {token: i for i, token in enumerate([*WORD_TOKENIZER_SPECIALS, *dict.fromkeys(words)])}
    core = Tokenizer(models.WordLevel(vocab, unk_token="<|unk|>"))
    core.normalizer = normalizers.Sequence([normalizers.NFKC(), normalizers.Lowercase()])
    core.pre_tokenizer = pre_tokenizers.Sequence(
        [pre_tokenizers.Whitespace(), pre_tokenizers.Punctuation()]
    )
    core.post_processor = processors.TemplateProcessing(
        single="<|startoftext|> $A <|endoftext|>",
        special_tokens=[("<|startoftext|>", vocab["<|startoftext|>"]), ("<|endoftext|>", vocab["<|endoftext|>"])],
    )
    core.decoder = decoders.WordPiece(prefix="##")
    return PreTrainedTokenizerFast(
        tokenizer_object=core,
        model_max_length=model_max_length,
        pad_token="<|pad|>",
        unk_token="<|unk|>",
        bos_token="<|startoftext|>",
        eos_token="<|endoftext|>",
    )


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

    pipe = tiny_random_pipeline(seed)
    torch.manual_seed(seed)
    pipe.unet = UNet2DConditionModel(**{**_TINY_UNET, "in_channels": 9}).eval().requires_grad_(False)
    pipe.mdwidgets_model_name = "tiny-random-inpainting"
    return pipe
