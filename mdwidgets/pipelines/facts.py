"""What a pipeline is: the facts about its components that loading, sampling and rendering all need.

One low module, so that loading (:mod:`mdwidgets.pipelines.loading`) and sampling
(:mod:`mdwidgets.sampling`) both stand on it and never import each other: the VAE factor and latent
scaling, the UNet's input kind and extra conditioning (SDXL time ids, an LCM guidance embedding), the
native canvas, and the model's name and family (the key of its defaults in :mod:`mdwidgets.catalog`).
"""

from __future__ import annotations

from ..catalog import BUILTIN_FAMILIES, few_step_variant


def vae_scale_factor(vae) -> int:
    """Pixels per latent cell: each VAE down block after the first halves the resolution."""
    return 2 ** (len(vae.config.block_out_channels) - 1)


def vae_scaling(vae) -> tuple[float, float]:
    """The VAE's latent ``(scaling_factor, shift_factor)``: latents = (encoded - shift) * scale."""
    shift = getattr(vae.config, "shift_factor", None) or 0.0
    return vae.config.scaling_factor, shift


def native_size(pipe) -> int:
    """The canvas side (px) a pipeline's UNet was trained at: its latent sample size times the VAE factor."""
    return pipe.unet.config.sample_size * vae_scale_factor(pipe.vae)


def unet_input_channels(latent_channels: int) -> dict[str, int]:
    """The input channels of each UNet kind mdwidgets runs: ``"text"`` reads the latents alone
    (text-to-image), ``"inpainting"`` the latents, a mask and the masked image's latents (SD: 4 + 1 + 4)."""
    return {"text": latent_channels, "inpainting": 2 * latent_channels + 1}


def unet_input_kind(in_channels: int, latent_channels: int) -> str | None:
    """What a UNet with ``in_channels`` reads (:func:`unet_input_channels`); ``None`` anything else (depth
    and other special models)."""
    return {n: kind for kind, n in unet_input_channels(latent_channels).items()}.get(in_channels)


def wants_time_ids(unet) -> bool:
    """Whether the UNet takes SDXL's pooled embeddings and size/crop time ids."""
    return getattr(unet.config, "addition_embed_type", None) == "text_time"


def guidance_dim(unet) -> int | None:
    """The size of the guidance embedding an LCM-distilled UNet takes (``None``: it takes none)."""
    return getattr(unet.config, "time_cond_proj_dim", None)


def model_name(pipe) -> str | None:
    """The name a pipeline was loaded by (:func:`load_pipeline`), else its ``name_or_path``."""
    return getattr(pipe, "mdwidgets_model_name", None) or getattr(pipe, "name_or_path", None)


def model_family(pipe) -> str:
    """The family of a pipeline, the key of its defaults in :data:`mdwidgets.catalog.FAMILIES`.

    From its components where they tell: SDXL has a second text encoder and a UNet taking size/crop
    ids; an LCM-distilled UNet takes a guidance embedding. Where only the name tells (Turbo models
    are plain SD/SDXL weights), from the name it was loaded by and the LoRA loaded into it: "turbo",
    "lcm". :func:`load_pipeline` records it (``family=`` there overrides it).
    """
    recorded, name = getattr(pipe, "mdwidgets_family", None), model_name(pipe)
    lora = getattr(pipe, "mdwidgets_lora", "") or ""
    if recorded or (name in BUILTIN_FAMILIES and "lcm" not in lora.lower()):
        return recorded or BUILTIN_FAMILIES[name]
    base = "sdxl" if getattr(pipe, "text_encoder_2", None) is not None or wants_time_ids(pipe.unet) else "sd"
    if guidance_dim(pipe.unet) is not None:
        return f"{base}-lcm-distilled" if base == "sdxl" else "lcm-distilled"
    return few_step_variant(base, f"{name or ''} {lora} {type(pipe.scheduler).__name__}")  # LCMScheduler: lcm
